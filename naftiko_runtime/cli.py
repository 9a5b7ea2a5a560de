"""Command line: ``naftiko serve | validate | call | list | schema | export | import | sandbox``.

Heavy modules (the MCP SDK, Starlette, httpx2, jsonschema) are imported inside the commands
that need them, so ``naftiko --help`` and ``naftiko validate`` stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from naftiko_runtime import __version__

if TYPE_CHECKING:
    from naftiko_runtime.errors import Diagnostic
    from naftiko_runtime.model import Capability, Param, Tool

EXISTING = click.Path(exists=True, path_type=Path)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"naftiko: {message}", err=True)
    sys.exit(code)


def _upstreams(values: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for value in values:
        namespace, sep, url = value.partition("=")
        if not sep or not namespace or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"expected NAMESPACE=http(s)://URL, got {value!r}", param_hint="--upstream")
        result[namespace] = url.rstrip("/")
    return result


def _check_upstreams(upstreams: Mapping[str, str], capabilities: list[Capability]) -> None:
    """A mistyped ``--upstream`` namespace would silently send calls to the real API: refuse it."""
    consumed = {ns for capability in capabilities for ns in capability.consumers}
    unknown = sorted(set(upstreams) - consumed)
    if unknown:
        raise click.BadParameter(
            f"no consumed namespace {', '.join(map(repr, unknown))}; consumed: {', '.join(sorted(consumed)) or 'none'}",
            param_hint="--upstream")


def _environment(env_file: Path | None) -> dict[str, str]:
    """The process environment, with ``--env-file`` variables loaded first (the environment wins)."""
    if env_file is None:
        return dict(os.environ)
    from naftiko_runtime.binding import load_env_file

    return {**load_env_file(env_file), **os.environ}


def _line_reader() -> Any:
    cache: dict[str, list[str]] = {}

    def line_of(file: str, line: int) -> str:
        if file not in cache:
            try:
                cache[file] = Path(file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                cache[file] = []
        lines = cache[file]
        return lines[line - 1] if 0 < line <= len(lines) else ""

    return line_of


def _print_diagnostics(diagnostics: list[Diagnostic], *, strict: bool = False, err: bool = True) -> None:
    from naftiko_runtime.report import format_text

    if diagnostics:
        click.echo(format_text(diagnostics, _line_reader(), strict=strict), err=err)


def load_capabilities(paths: tuple[Path, ...], env: Mapping[str, str], *, strict: bool = False,
                      exit_on_error: bool = True) -> list[Capability] | None:
    """Load, validate and build; print every diagnostic. On errors exit 1 (or return None)."""
    from naftiko_runtime.model import build
    from naftiko_runtime.validate import has_errors, validate_paths

    docs, diagnostics = validate_paths(paths, env=env, strict_env=True, together=True)
    _print_diagnostics(diagnostics, strict=strict)
    capabilities = [build(doc) for doc in docs if doc.kind == "capability"]
    problem = None
    if has_errors(diagnostics, strict=strict):
        problem = "refusing to start: the capability has errors (see above)"
    elif not capabilities:
        problem = "no capability found in " + ", ".join(str(p) for p in paths)
    if problem is None:
        return capabilities
    if exit_on_error:
        _fail(problem)
    click.echo(f"naftiko: {problem}", err=True)
    return None


def _capabilities(paths: tuple[Path, ...], env: Mapping[str, str], *, strict: bool = False) -> list[Capability]:
    capabilities = load_capabilities(paths, env, strict=strict)
    assert capabilities is not None  # load_capabilities exits otherwise
    return capabilities


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="naftiko")
def main() -> None:
    """Run declarative Naftiko capabilities: consume HTTP APIs, expose them as MCP tools and REST routes."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=EXISTING)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--together", is_flag=True,
              help="Also check the files as one `naftiko serve` would serve them (shared ports, tool names).")
def validate(paths: tuple[Path, ...], fmt: str, strict: bool, together: bool) -> None:
    """Check capability files (or every capability in folders) without network or secrets."""
    from naftiko_runtime.report import format_github, format_json, summary
    from naftiko_runtime.validate import has_errors, validate_paths

    docs, diagnostics = validate_paths(paths, together=together)
    if fmt == "json":
        click.echo(format_json(diagnostics, strict=strict))
    elif fmt == "github":
        if diagnostics:
            click.echo(format_github(diagnostics, strict=strict))
    else:
        _print_diagnostics(diagnostics, strict=strict, err=False)
        click.echo(summary(diagnostics, len(docs), strict=strict), err=True)
    sys.exit(1 if has_errors(diagnostics, strict=strict) or not docs else 0)


@main.command()
def schema() -> None:
    """Print the JSON Schema (2020-12) of capability files, for editors."""
    from naftiko_runtime.spec import schema_json

    click.echo(schema_json())


UPSTREAM = click.option("--upstream", "upstream", multiple=True, metavar="NAMESPACE=URL",
                        help="Send a consumer's calls to another base URI.")
SANDBOX = click.option("--sandbox", is_flag=True,
                       help="Route consumers that have a bundled simulator to it: no token, no network.")
ENV_FILE = click.option("--env-file", type=EXISTING, default=None, help="Load KEY=VALUE variables first.")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=EXISTING)
@click.option("--address", default=None, help="Bind address for every HTTP exposure (default: the spec's).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port for every HTTP exposure.")
@click.option("--transport", type=click.Choice(["http", "stdio"]), default=None, help="Force the MCP transport.")
@UPSTREAM
@SANDBOX
@ENV_FILE
@click.option("--reload", "reload_", is_flag=True, help="Restart when a capability file changes.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="HOST",
              help="Extra Host header values to accept (DNS-rebinding protection).")
@click.option("--strict", is_flag=True, help="Refuse to start on warnings too.")
def serve(paths: tuple[Path, ...], address: str | None, port: int | None, transport: str | None,
          upstream: tuple[str, ...], sandbox: bool, env_file: Path | None, reload_: bool, log_format: str,
          allowed_hosts: tuple[str, ...], strict: bool) -> None:
    """Serve the MCP and REST exposures of capability files."""
    import anyio

    from naftiko_runtime.errors import BindingError
    from naftiko_runtime.expose.server import serve as serve_exposures
    from naftiko_runtime.runtime import Runtime

    env = _environment(env_file)
    upstreams = _upstreams(upstream)
    capabilities = _capabilities(paths, env, strict=strict)
    _check_upstreams(upstreams, capabilities)

    def runtime_for(capabilities: list[Capability]) -> Runtime:
        runtime = Runtime(capabilities, env=env, upstreams=upstreams, sandbox=sandbox)
        runtime.bind_all()  # every missing bind variable, named, before anything listens
        return runtime

    async def run(capabilities: list[Capability], stop_when: anyio.Event | None = None) -> int:
        return await serve_exposures(
            runtime_for(capabilities), address=address, port=port, transport=transport, log_format=log_format,
            allowed_hosts=list(allowed_hosts), stop_when=stop_when)

    try:
        runtime_for(capabilities)
    except BindingError as exc:
        _fail(f"{exc}; set them in the environment or with --env-file")
    if not reload_:
        sys.exit(anyio.run(run, capabilities) or 0)

    from naftiko_runtime.reload import serve_reloading

    def reload() -> list[Capability] | None:
        fresh = load_capabilities(paths, _environment(env_file), strict=strict, exit_on_error=False)
        if fresh is None:
            return None
        try:
            runtime_for(fresh)
        except BindingError as exc:
            click.echo(f"naftiko: {exc}", err=True)
            return None
        return fresh

    def log(text: str) -> None:
        click.echo(f"naftiko: {text}", err=True)

    sys.exit(anyio.run(lambda: serve_reloading(list(paths), capabilities, reload, run, log=log)) or 0)


def _coerce(raw: str, schema: Mapping[str, Any] | None) -> Any:
    """KEY=VALUE text -> the type the input schema declares for KEY."""
    kind = (schema or {}).get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        if kind == "boolean" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if kind in ("object", "array"):
            return json.loads(raw)
    except ValueError:
        pass  # keep the text: argument validation then names the problem
    return raw


def _arguments(tool: Tool, pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if as_json:
        try:
            loaded = json.loads(as_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--json") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--json")
        args.update(loaded)
    properties = tool.input_schema.get("properties", {})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="ARGUMENTS")
        args[key] = _coerce(value, properties.get(key))
    return args


_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})


def _route_label(method: str, path: str) -> str:
    """How ``naftiko list`` names a route operation: ``GET /ships/{{imo}}``."""
    return f"{method} {path}"


def _same_route(wanted: str, method: str, path: str) -> bool:
    """``GET /ships/{imo}`` and ``get /ships/{{imo}}`` both name the route ``GET /ships/{{imo}}``."""
    from naftiko_runtime.openapi import openapi_path

    verb, _, where = wanted.strip().partition(" ")
    return verb.upper() == method and bool(where.strip()) and openapi_path(where) == openapi_path(path)


def _route_schema(inputs: list[Param]) -> dict[str, Any]:
    """The JSON Schema of a route's caller-supplied inputs, typed as declared; path inputs are required."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in inputs:
        prop: dict[str, Any] = {"type": p.type if p.type in _JSON_TYPES else "string"}
        if p.description:
            prop["description"] = p.description
        if p.pattern and prop["type"] == "string":
            prop["pattern"] = p.pattern
        properties[p.name] = prop
        if p.required or p.in_ == "path":
            required.append(p.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _route_tool(capabilities: list[Capability], name: str) -> tuple[Tool, Capability, dict[str, Any]] | None:
    """A REST operation named ``name`` (or ``METHOD /path``), as a tool: its input schema is built from
    the route's inputs (server, resource and operation level; path inputs required). Also returns the
    capability that owns it and the route's constant inputs (a non-JSONPath ``value``)."""
    from types import MappingProxyType

    from naftiko_runtime.model import RestExposure
    from naftiko_runtime.model import Tool as ToolModel
    from naftiko_runtime.openapi import is_input, route_parameters

    for capability in capabilities:
        for exposure in capability.exposures:
            if not isinstance(exposure, RestExposure):
                continue
            for resource in exposure.resources:
                for op in resource.operations:
                    label = _route_label(op.method, resource.path)
                    if op.name != name and not _same_route(name, op.method, resource.path):
                        continue
                    params = route_parameters(exposure, resource, op, capability.functions)
                    schema = _route_schema([p for p in params if is_input(p)])
                    tool = ToolModel(name=op.name or label, title=op.label, description=op.description or "",
                                     input_parameters=params, input_schema=MappingProxyType(schema),
                                     annotations=MappingProxyType({}), invocable=op.invocable)
                    constants = {p.name: p.value for p in params if not is_input(p)}
                    return tool, capability, constants
    return None


def _callable_names(capabilities: list[Capability]) -> list[str]:
    from naftiko_runtime.model import RestExposure

    names = [t.name for c in capabilities for e in c.exposures for t in getattr(e, "tools", ())]
    for capability in capabilities:
        for exposure in capability.exposures:
            if isinstance(exposure, RestExposure):
                names += [op.name or _route_label(op.method, r.path) for r in exposure.resources
                          for op in r.operations]
    return list(dict.fromkeys(names))


@main.command()
@click.argument("spec", type=EXISTING)
@click.argument("tool_name", metavar="TOOL")
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--json", "as_json", default=None, metavar="'{...}'", help="Arguments as a JSON object.")
@UPSTREAM
@SANDBOX
@ENV_FILE
def call(spec: Path, tool_name: str, pairs: tuple[str, ...], as_json: str | None, upstream: tuple[str, ...],
         sandbox: bool, env_file: Path | None) -> None:
    """Run one tool once and print its JSON result (exit 1 for an error result).

    TOOL is an MCP tool name. When no tool has that name, it may name a REST operation instead: its
    `name`, or its route as `naftiko list` prints it (`'GET /ships/{{imo}}'`, for operations without
    a name or whose name a tool already takes). A route's arguments are its inputs, by name.
    """
    import anyio

    from naftiko_runtime.errors import BindingError, InvocationError
    from naftiko_runtime.runtime import Runtime
    from naftiko_runtime.templates import render_native

    env = _environment(env_file)
    upstreams = _upstreams(upstream)
    capabilities = _capabilities((spec,), env)
    _check_upstreams(upstreams, capabilities)
    tools = {t.name: t for c in capabilities for e in c.exposures for t in getattr(e, "tools", ())}
    route = None if tool_name in tools else _route_tool(capabilities, tool_name)
    if tool_name not in tools and route is None:
        from difflib import get_close_matches

        names = _callable_names(capabilities)
        close = get_close_matches(tool_name, names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise click.BadParameter(f"no tool or REST operation named {tool_name!r}{hint}; "
                                 f"available: {', '.join(names) or 'none'}", param_hint="TOOL")
    tool = tools[tool_name] if route is None else route[0]
    args = _arguments(tool, pairs, as_json)

    async def run() -> Any:
        async with Runtime(capabilities, env=env, upstreams=upstreams, sandbox=sandbox) as runtime:
            if route is None:
                unit = next(u for u in runtime.units if any(
                    t is tool for e in u.capability.exposures for t in getattr(e, "tools", ())))
                return await unit.call_tool(tool, args)
            _, owner, constants = route
            unit = next(u for u in runtime.units if u.capability is owner)
            unit.check_arguments(tool, args)
            # As on the REST route: constant inputs are templates over binds and inputs; callers cannot set them.
            context = unit.context(args)
            args.update({key: render_native(value, context) for key, value in constants.items()})
            return await unit.invoke(tool.invocable, args, operation=tool.name)

    try:
        result = anyio.run(run)
    except BindingError as exc:
        _fail(f"{exc}; set them in the environment or with --env-file")
    except InvocationError as exc:
        click.echo(json.dumps(exc.as_dict(), indent=2, ensure_ascii=False))
        sys.exit(1)
    from naftiko_runtime.formats import RawBody

    # A non-JSON upstream body that nothing mapped is printed as it came.
    click.echo(result if isinstance(result, RawBody) else json.dumps(result, indent=2, ensure_ascii=False))


@main.command(name="list")
@click.argument("spec", type=EXISTING)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_(spec: Path, fmt: str) -> None:
    """List the tools, resources, prompts and routes a capability exposes."""
    from naftiko_runtime.model import McpExposure, RestExposure

    entries: list[dict[str, Any]] = []
    for capability in _capabilities((spec,), dict(os.environ)):
        for exposure in capability.exposures:
            if isinstance(exposure, McpExposure):
                entries += [{"kind": "tool", "exposure": exposure.namespace, "name": t.name,
                             "description": t.description} for t in exposure.tools]
                entries += [{"kind": "resource", "exposure": exposure.namespace, "name": r.name, "uri": r.uri,
                             "description": r.description} for r in exposure.resources]
                entries += [{"kind": "prompt", "exposure": exposure.namespace, "name": p.name,
                             "description": p.description} for p in exposure.prompts]
            elif isinstance(exposure, RestExposure):
                entries += [{"kind": "route", "exposure": exposure.namespace, "name": f"{op.method} {r.path}",
                             "description": op.description or r.description}
                            for r in exposure.resources for op in r.operations]
                entries += [{"kind": "route", "exposure": exposure.namespace, "name": f"* {r.path}",
                             "description": f"forward to {r.forward.get('targetNamespace')}"}
                            for r in exposure.resources if r.forward]
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    for e in entries:
        click.echo(f"{e['kind']:<9} {e['exposure']:<24} {e['name']}" + (f"  {e['description']}"
                                                                          if e.get("description") else ""))


@main.group(name="export")
def export_group() -> None:
    """Export a capability to another format."""


@export_group.command(name="openapi")
@click.argument("spec", type=EXISTING)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--namespace", default=None, help="Only this REST exposure.")
def export_openapi(spec: Path, output: Path | None, namespace: str | None) -> None:
    """Write the OpenAPI 3.1 description of a capability's REST exposures."""
    from naftiko_runtime.openapi import export_openapi as build_document

    capability = _capabilities((spec,), dict(os.environ))[0]
    try:
        document = build_document(capability, namespace)
    except ValueError as exc:  # no REST exposure (of that namespace)
        _fail(str(exc))
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


@main.group(name="import")
def import_group() -> None:
    """Create a capability from another format."""


@import_group.command(name="openapi")
@click.argument("file", type=EXISTING)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--namespace", default=None, help="Namespace of the consumed API (default: from the title).")
def import_openapi(file: Path, output: Path | None, namespace: str | None) -> None:
    """Turn an OpenAPI 3.x or Swagger 2 document into a capability (consumes + MCP tools)."""
    import yaml

    from naftiko_runtime.openapi import dump_yaml
    from naftiko_runtime.openapi import import_openapi as convert

    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        _fail(f"cannot read {file}: {exc}")
    if not isinstance(document, dict):
        _fail(f"{file} is not an OpenAPI document")
    try:
        text = dump_yaml(convert(document, namespace=namespace))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a malformed document, never a traceback
        _fail(f"cannot import {file}: {exc}")
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("name", default="hms")
@click.option("--address", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def sandbox(name: str, address: str, port: int) -> None:
    """Run a bundled API simulator standalone (hms: the 100ms live-streams API)."""
    from naftiko_runtime.sandbox.__main__ import main as run_sandbox

    sys.exit(run_sandbox([name, "--host", address, "--port", str(port)]))


if __name__ == "__main__":  # pragma: no cover
    main()
