"""``naftiko call``: one tool or REST operation, once."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from naftiko_runtime import jsontext
from naftiko_runtime.cli.common import ENV_FILE, EXISTING, SANDBOX, UPSTREAM, capabilities, environment, fail, upstreams
from naftiko_runtime.errors import BindingError, ConfigError, InvocationError, SandboxStateError

if TYPE_CHECKING:  # the model loads with the command, not with `naftiko --help`
    from naftiko_runtime.model import Capability, Unit


def _coerce(raw: str, schema: Mapping[str, Any] | None) -> Any:
    """KEY=VALUE text for an object or array input -> its JSON value. Numbers and booleans stay text:
    the runtime's argument check coerces them (``"20"``, ``"true"``), the same for every transport."""
    kind = (schema or {}).get("type")
    if kind in ("object", "array"):
        try:
            return jsontext.loads(raw)
        except ValueError:
            pass  # keep the text: argument validation then names the problem
    return raw


def _arguments(unit: Unit, pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if as_json:
        try:
            loaded = jsontext.loads(as_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--json") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--json")
        args.update(loaded)
    from naftiko_runtime.model import plain

    properties = plain(unit.input_schema).get("properties", {})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="ARGUMENTS")
        args[key] = _coerce(value, properties.get(key))
    return args


def _saved_state(path: Path | None) -> Any:
    """The simulators' saved state (``--sandbox-state``); an unreadable file exits 1, untouched."""
    if path is None:
        return None
    from naftiko_runtime.sandbox.saved import SandboxState

    try:
        return SandboxState(path)
    except SandboxStateError as exc:
        fail(str(exc))


def _save(state: Any) -> None:
    if state is None:
        return
    try:
        state.save()
    except (SandboxStateError, OSError) as exc:
        click.echo(f"naftiko: warning: sandbox state not saved: {exc}", err=True)


def _same_route(wanted: str, method: str, path: str) -> bool:
    """``GET /ships/{imo}`` and ``get /ships/{{imo}}`` both name the route ``GET /ships/{{imo}}``."""
    verb, _, where = wanted.strip().partition(" ")
    from naftiko_runtime.model.exposes import openapi_path

    return verb.upper() == method and bool(where.strip()) and openapi_path(where) == openapi_path(path)


def _find(found: list[Capability], name: str) -> Unit | None:
    """A tool by name; else a REST operation by its name or its route (``'GET /ships/{{imo}}'``)."""
    tools = [t for c in found for t in c.tools()]
    routes = [r for c in found for r in c.routes()]
    return (next((t for t in tools if t.name == name), None)
            or next((r for r in routes if r.declared_name == name), None)
            or next((r for r in routes if _same_route(name, r.method, r.path)), None))


def _callable_names(found: list[Capability]) -> list[str]:
    names = [t.name for c in found for t in c.tools()] + [r.label for c in found for r in c.routes()]
    return list(dict.fromkeys(names))


@click.command(short_help="Run one tool once and print its result as JSON.")
@click.argument("spec", type=EXISTING)
@click.argument("tool_name", metavar="TOOL")
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--json", "as_json", default=None, metavar="'{...}'", help="Arguments as a JSON object.")
@UPSTREAM
@SANDBOX
@click.option("--sandbox-state", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Keep the simulators' state in FILE between runs (JSON, created if missing; implies --sandbox).")
@ENV_FILE
def call(spec: Path, tool_name: str, pairs: tuple[str, ...], as_json: str | None, upstream: tuple[str, ...],
         sandbox: bool, sandbox_state: Path | None, env_file: Path | None) -> None:
    """Run one tool once and print its JSON result (exit 1 for an error result).

    TOOL is an MCP tool name. When no tool has that name, it may name a REST operation instead: its
    `name`, or its route as `naftiko list` prints it (`'GET /ships/{{imo}}'`, for operations without
    a name or whose name a tool already takes). A route's arguments are its inputs, by name.

    KEY=VALUE values are text: JSON for object and array arguments; numbers and booleans are
    converted where the input schema asks for them and the text is unambiguous ("20", "2.5",
    "true"), as for MCP and REST callers. Anything else fails before any upstream call.
    """
    import anyio

    from naftiko_runtime.app import check_upstreams, runtime
    from naftiko_runtime.telemetry import CallContext

    env = environment(env_file)
    routes = upstreams(upstream)
    found = capabilities((spec,), env, upstreams=routes)
    unit = _find(found, tool_name)
    if unit is None:
        from difflib import get_close_matches

        names = _callable_names(found)
        close = get_close_matches(tool_name, names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise click.BadParameter(f"no tool or REST operation named {tool_name!r}{hint}; "
                                 f"available: {', '.join(names) or 'none'}", param_hint="TOOL")
    args = _arguments(unit, pairs, as_json)
    state = _saved_state(sandbox_state)
    try:
        check_upstreams(routes, found)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--upstream") from None
    try:
        built = runtime(found, env, upstreams=routes, sandbox=sandbox or state is not None, sandbox_state=state)
    except BindingError as exc:
        fail(f"{exc}; set them in the environment or with --env-file")
    except ConfigError as exc:  # a sandbox state file, or binds that make a base URI unusable
        fail(str(exc))

    context = CallContext()

    async def run() -> Any:
        async with built:
            return await built.invoke(unit, args, context)

    try:
        result = anyio.run(run)
    except InvocationError as exc:
        click.echo(json.dumps(exc.as_dict(), indent=2, ensure_ascii=False))
        _save(state)
        sys.exit(1)
    _save(state)
    from naftiko_runtime.formats import BinaryBody, RawBody

    if context.truncated is not None:
        from naftiko_runtime.paging import truncation_note

        click.echo(f"naftiko: {truncation_note(context.truncated)}", err=True)
    if isinstance(result, BinaryBody):  # bytes go out as they came (redirect them to a file)
        sys.stdout.flush()
        sys.stdout.buffer.write(result)
        sys.stdout.buffer.flush()
        return
    # A non-JSON upstream body that nothing mapped is printed as it came.
    click.echo(result if isinstance(result, RawBody) else json.dumps(result, indent=2, ensure_ascii=False))


COMMANDS = (call,)
