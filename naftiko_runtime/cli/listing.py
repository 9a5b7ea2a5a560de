"""``naftiko list``: what a capability exposes, with each unit's arguments and result shape."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from naftiko_runtime.cli.common import EXISTING, capabilities

if TYPE_CHECKING:  # the model loads with the command, not with `naftiko --help`
    from naftiko_runtime.model import Route, Tool, Unit

_SHOWN_FIELDS = 8  # object fields named in a one-line shape


def type_of(schema: Any) -> str:
    """A schema's JSON type in a few characters: ``integer``, ``string|null``, ``any``."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind) or "any"
    return str(kind) if kind else "any"


def shape(schema: Any, depth: int = 0) -> str:
    """One line for a result shape: ``object {id, status, playback, ...}``, ``array of object {...}``."""
    if not isinstance(schema, Mapping) or not schema:
        return "any JSON"
    kind = type_of(schema)
    properties = dict(schema.get("properties") or {})
    required = set(schema.get("required") or ())
    for part in schema.get("allOf") or ():  # an object built from parts: every part's fields
        if isinstance(part, Mapping):
            properties.update(part.get("properties") or {})
            required.update(part.get("required") or ())
    if kind == "any" and properties:
        kind = "object"
    if properties and depth < 2:
        names = [f"{name}{'*' if name in required else ''}" for name in list(properties)[:_SHOWN_FIELDS]]
        more = ", ..." if len(properties) > _SHOWN_FIELDS else ""
        return f"{kind} {{{', '.join(names)}{more}}}"
    items = schema.get("items")
    if "array" in kind and isinstance(items, Mapping) and items and depth < 2:
        return f"{kind} of {shape(items, depth + 1)}"
    return kind


def arguments(unit: Unit) -> list[dict[str, Any]]:
    """Each argument a caller gives: name, type, required, description (and, for routes, where)."""
    from naftiko_runtime.model import plain

    schema = plain(unit.input_schema)
    required = set(schema.get("required") or ())
    where = {i.name: i.in_ for i in unit.inputs}
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        entry: dict[str, Any] = {"name": name, "type": type_of(prop), "required": name in required,
                                 "description": prop.get("description")}
        if unit.kind == "route" and where.get(name):
            entry["in"] = where[name]
        if isinstance(prop.get("properties"), Mapping) or isinstance(prop.get("items"), Mapping):
            entry["schema"] = prop
        found.append(entry)
    return found


def output(unit: Tool | Route) -> dict[str, Any] | None:
    """The shape of a tool's or route's result: its outputSchema, else what its outputs declare."""
    if unit.output_schema is not None:
        from naftiko_runtime.model import plain

        return plain(unit.output_schema)
    if unit.invocation is None:
        return None
    from naftiko_runtime.openapi.export import result_schema

    return result_schema(unit.invocation.resolved()) or None


def _unit(kind: str, exposure: str, name: str, unit: Unit) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "exposure": exposure, "name": name, "description": unit.description,
             "arguments": arguments(unit)}
    from naftiko_runtime.model import Route, Tool

    if isinstance(unit, Tool | Route):
        entry["output"] = output(unit)
    return entry


def entries(spec: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for capability in capabilities((spec,), dict(os.environ)):
        for mcp in capability.mcp:
            found += [_unit("tool", mcp.namespace, t.name, t) for t in mcp.tools]
            found += [{**_unit("resource", mcp.namespace, r.name, r), "uri": r.uri} for r in mcp.resources]
            found += [_unit("prompt", mcp.namespace, p.name, p) for p in mcp.prompts]
        for rest in capability.rest:
            for resource in rest.resources:
                for r in resource.routes:
                    entry = _unit("route", rest.namespace, f"{r.method} {resource.path}", r)
                    entry["description"] = r.description or resource.description
                    found.append(entry)
                if resource.forward is not None:
                    found.append({"kind": "route", "exposure": rest.namespace, "name": f"* {resource.path}",
                                  "description": f"forward to {resource.forward.target}", "arguments": []})
    return found


def _text(entry: dict[str, Any]) -> list[str]:
    lines = [f"{entry['kind']:<9} {entry['exposure']:<24} {entry['name']}"
             + (f"  {entry['description']}" if entry.get("description") else "")]
    for arg in entry.get("arguments", []):
        where = f" in {arg['in']}" if arg.get("in") else ""
        line = f"    {arg['name']}: {arg['type']}{where}, {'required' if arg['required'] else 'optional'}"
        if arg.get("description"):
            line += f"  {arg['description']}"
        lines.append(line)
        if arg.get("schema"):
            lines.append(f"      {shape(arg['schema'])}")
    if "output" in entry:
        lines.append(f"    returns: {shape(entry['output']) if entry['output'] else 'the upstream answer, as JSON'}")
    return lines


@click.command(name="list", short_help="List tools (with arguments), resources, prompts and routes.")
@click.argument("spec", type=EXISTING)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for tools.")
def list_(spec: Path, fmt: str) -> None:
    """List the tools, resources, prompts and routes a capability exposes, with each one's arguments
    (name, type, required or optional, description) and the shape of its result (`*` marks fields
    that are always present)."""
    found = entries(spec)
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for entry in found:
        click.echo("\n".join(_text(entry)))


COMMANDS = (list_,)
