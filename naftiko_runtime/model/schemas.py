"""JSON Schemas the model computes once: a unit's input schema and the shape of its mapped output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from naftiko_runtime.model.nodes import freeze, plain
from naftiko_runtime.model.units import Input, OutputParam

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})


def usable(schema: Mapping[str, Any]) -> bool:
    """Whether a ``schema`` (naftiko-runtime extension) written in the document is a valid JSON Schema."""
    from naftiko_runtime.jsonschemas import schema_problem

    return schema_problem(plain(schema)) is None


def json_type(declared: str | None) -> str:
    return declared if declared in JSON_TYPES else "string"


def input_schema(inputs: Sequence[Input]) -> Mapping[str, Any]:
    """The JSON Schema of a unit's caller-supplied inputs (constants excluded).

    Closed: an undeclared argument would otherwise flow by name into a consumed parameter."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in inputs:
        if item.is_constant:
            continue
        prop: dict[str, Any] = {"type": item.type} if item.type in JSON_TYPES else {}
        if item.schema and usable(item.schema):  # an unusable one is left out (rules report it)
            prop.update(item.schema)
        if item.description:
            prop["description"] = item.description
        if item.pattern and prop.get("type") == "string":
            prop["pattern"] = item.pattern
        properties[item.name] = prop
        if item.required:
            required.append(item.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return freeze(schema)


# Declared scalar types are documentation only: nothing coerces a mapped value to them, so a schema
# typing scalars would turn a successful call into an error (`id: {type: string}` mapping 42). Only
# the structure the mapper guarantees is described: objects, their keys, arrays.


def _described(schema: dict[str, Any], param: OutputParam) -> dict[str, Any]:
    if param.description:
        schema["description"] = param.description
    return schema


def _object(param: OutputParam, in_item: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _property(p, in_item) for name, p in param.properties},
        "required": [name for name, _ in param.properties],  # mapped objects keep every key, null if missing
    }


def _property(param: OutputParam, in_item: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {}  # scalars (and templates, JSONPath results as is): any JSON value
    if param.value is None and param.type == "object":
        if in_item:
            schema = {"type": "null"}  # objects nested in array items map to null
        elif param.properties:
            schema = _object(param, in_item=False)
            schema["type"] = ["object", "null"]
    elif param.value is None and param.type == "array":
        schema = {"type": ["array", "null"]}
        if param.item is not None:
            schema["items"] = _item(param.item)
    return _described(schema, param)


def _item(item: OutputParam) -> dict[str, Any]:
    if item.value is None and item.type == "object" and item.properties:
        return _described(_object(item, in_item=True), item)
    if item.value is None and item.type == "array":
        return _property(item, in_item=True)
    return {}  # a scalar, or the element as is


def output_schema(outputs: Sequence[OutputParam]) -> Mapping[str, Any] | None:
    """The shape of what the mapper returns when the first output is an object with properties
    (such an output always yields an object, so it always wins), or an object output whose
    ``schema`` (naftiko-runtime extension) describes it; otherwise None."""
    if not outputs:
        return None
    first = outputs[0]
    if first.value is not None or first.type != "object":
        return None
    if first.schema and not first.properties:
        declared = {"type": "object", **first.schema}
        if declared["type"] != "object" or not usable(first.schema):
            return None  # not a usable object schema: rules report it; nothing is advertised
        return freeze(_described(declared, first) if "description" not in declared else declared)
    if not first.properties:
        return None
    return freeze(_described(_object(first, in_item=False), first))


def hints(spec: Mapping[str, Any] | None) -> dict[str, bool]:
    """Tool ``hints`` -> MCP annotations."""
    names = {"readOnly": "readOnlyHint", "destructive": "destructiveHint",
             "idempotent": "idempotentHint", "openWorld": "openWorldHint"}
    return {names[k]: v for k, v in (spec or {}).items() if k in names and isinstance(v, bool)}


def hints_from_semantics(semantics: Mapping[str, Any] | None) -> dict[str, bool]:
    """Aggregate ``semantics`` -> MCP annotations (safe: read-only and not destructive)."""
    found: dict[str, bool] = {}
    safe, idempotent = (semantics or {}).get("safe"), (semantics or {}).get("idempotent")
    if isinstance(safe, bool):
        found["readOnlyHint"] = safe
        if safe:
            found["destructiveHint"] = False
    if isinstance(idempotent, bool):
        found["idempotentHint"] = idempotent
    return found
