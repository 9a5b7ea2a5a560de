"""``naftiko init``: a first capability file that validates and serves at once.

Blank, it is a commented example that consumes a public echo API (nothing to sign up for, no
secret) and exposes one MCP tool. From an OpenAPI document, it is what ``import openapi`` makes
of the chosen operations: full input schemas, auth bound to environment variables, one tool per
operation with hints from its HTTP method.
"""

from __future__ import annotations

from pathlib import Path

import click

from naftiko_runtime.cli.common import EXISTING, fail
from naftiko_runtime.cli.openapi import OPERATIONS, TAG, check_made, imported

DEFAULT_FILE = "capability.yaml"

STARTER = """\
# A first Naftiko capability, written by `naftiko init`. It consumes one HTTP API (Postman Echo, a
# public API that answers with what it is sent) and exposes it to agents as one MCP tool. Try it:
#
#   naftiko validate __FILE__
#   naftiko list __FILE__
#   naftiko call __FILE__ echo message=hello
#   naftiko serve __FILE__              # MCP at http://127.0.0.1:9090/mcp
#
# Then make it yours: point `baseUri` at your API, describe its operations, expose them as tools.
# Editors complete and check this file with the schema: `naftiko schema > naftiko.schema.json`, then
# make the first line `# yaml-language-server: $schema=naftiko.schema.json`.
naftiko: "1.0.0-alpha2"
info:
  label: __LABEL__
  description: Echoes a message through a public echo API. A starting point to replace with your own.
capability:
  # What this capability calls. Each consumed API has a namespace, which `call` uses below.
  consumes:
    - type: http
      namespace: echo-api
      description: Postman Echo, a public API that answers with the request it received.
      baseUri: https://postman-echo.com
      # An API key or token would go here, read from the environment through `binds` (see the guide):
      # authentication: {type: apikey, key: X-Api-Key, value: "{{ECHO_API_KEY}}", placement: header}
      resources:
        - name: get
          path: /get
          operations:
            - name: echo
              method: GET
              description: Answers with the query parameters it received, under `args`.
              # Consumed parameters say where each value goes: query, header, path, cookie or body.
              inputParameters:
                - {name: message, in: query}
  # How agents reach it: an MCP server (Streamable HTTP; `naftiko serve --transport stdio` for desktop
  # clients). Its namespace prefixes the `with` references of its tools.
  exposes:
    - type: mcp
      namespace: __NAMESPACE__
      port: 9090
      description: Tools of the __LABEL__ capability.
      tools:
        - name: echo
          description: Send a message to the echo API and get it back, with the URL that was called.
          hints: {readOnly: true, destructive: false, idempotent: true, openWorld: true}
          # Tool inputs need a type and a description: models read them to call the tool well.
          inputParameters:
            - name: message
              type: string
              description: The text to send.
          call: echo-api.echo
          # `with` feeds the consumed parameters; `<exposure namespace>.<input>` passes an argument on.
          with:
            message: __NAMESPACE__.message
          # Tool outputs are a `type` and a `mapping`, a JSONPath into the upstream's JSON answer.
          outputParameters:
            - type: object
              properties:
                message: {type: string, mapping: $.args.message}
                url: {type: string, mapping: $.url}
"""


def _target(path: str | None) -> Path:
    """PATH as a file; a folder (existing, or written with a trailing slash) gets ``capability.yaml``."""
    if not path:
        return Path(DEFAULT_FILE)
    if Path(path).is_dir() or path.endswith(("/", "\\")):
        return Path(path) / DEFAULT_FILE
    return Path(path)


def _default_name(target: Path) -> str:
    stem = target.stem if target.stem not in ("capability", "naftiko") else target.resolve().parent.name
    return stem or "my-capability"


def starter(name: str, file: str) -> str:
    from naftiko_runtime.openapi.import_ import kebab

    namespace = f"{kebab(name) or 'my-capability'}-mcp"
    return (STARTER.replace("__FILE__", file).replace("__LABEL__", name.replace("\n", " "))
            .replace("__NAMESPACE__", namespace))


def _from_openapi(spec: Path, name: str | None, operations: str | None, tag: str | None,
                  file: str) -> tuple[str, list[str]]:
    from naftiko_runtime.formats.yaml import dump_yaml
    from naftiko_runtime.openapi.import_ import kebab

    document = imported(spec, namespace=kebab(name) if name else None, operations=operations, tag=tag)
    if name:
        document["info"]["label"] = name
    variables = [v for bind in document.get("binds", []) for v in bind.get("keys", {})]
    tools = [t["name"] for e in document["capability"]["exposes"] for t in e.get("tools", [])]
    header = [
        f"# Written by `naftiko init --from-openapi {spec.name}`: {len(tools)} operation(s) of the API as MCP",
        "# tools. Arguments keep the API's parameter and body schemas; hints follow each HTTP method.",
    ]
    if variables:
        header.append(f"# Credentials come from the environment: {', '.join(variables)} (or --env-file).")
    header += [f"#   naftiko validate {file}", f"#   naftiko list {file}", f"#   naftiko serve {file}", ""]
    return "\n".join(header) + dump_yaml(document), variables


@click.command(short_help="Write a first capability file that validates and serves at once.")
@click.argument("path", required=False, type=click.Path())
@click.option("--from-openapi", "openapi", type=EXISTING, metavar="FILE", default=None,
              help="Start from an OpenAPI 3.x or Swagger 2.0 document (YAML or JSON) instead of the echo example.")
@OPERATIONS
@TAG
@click.option("--name", default=None, help="Label of the capability; its namespaces derive from it "
              "(default: the file or folder name, or the API's title).")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: str | None, openapi: Path | None, operations: str | None, tag: str | None, name: str | None,
         force: bool) -> None:
    """Write a capability file at PATH (default ./capability.yaml; a folder gets capability.yaml in it).

    Without options: a commented example that calls a public echo API through one MCP tool; no
    account or secret needed. With --from-openapi: the API's operations (all, those --operations
    names, or those with --tag) as MCP tools, with their input schemas and auth as environment
    variables. The file is checked before it is written.
    """
    if openapi is None and (operations is not None or tag is not None):
        raise click.UsageError("--operations and --tag choose operations of --from-openapi")
    target = _target(path)
    if target.exists() and not force:
        fail(f"{target} exists; choose another PATH, or --force to overwrite it")
    shown = str(target)
    if openapi is not None:
        text, variables = _from_openapi(openapi, name, operations, tag, shown)
    else:
        text, variables = starter(name or _default_name(target), shown), []
    check_made(text, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {target}: {exc}")
    click.echo(f"naftiko: wrote {target}", err=True)
    steps = [f"naftiko validate {shown}", f"naftiko list {shown}"]
    if variables:
        steps.append(f"export {'=... '.join(variables)}=...   # or put them in a file for --env-file")
    steps.append(f"naftiko serve {shown}")
    click.echo("next:\n" + "\n".join(f"  {s}" for s in steps), err=True)


COMMANDS = (init,)
