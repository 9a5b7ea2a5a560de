"""Output parameters: how results are mapped, documented (with steps) or mocked."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    NAME,
    Schema,
    array,
    either,
    exclusive,
    integer,
    map_of,
    obj,
    one_of_fields,
    ref,
    string,
    tagged,
    titled,
)
from naftiko_runtime.spec._fields import OUTPUT_SCHEMA

DEFS: dict[str, Schema] = {}

_MAPPING = string("JSONPath into the upstream response, e.g. $.data.name.")
_VALUE = string("Fixed value or `{{template}}`; used instead of `mapping`.")
_CONST = {"description": "Expected value, for documentation and linting only."}


def _mapped(kind: str, extra: dict[str, Schema], rules: tuple[Schema, ...], description: str) -> Schema:
    props = {"type": string(f"Always `{kind}` here.", const=kind), "mapping": _MAPPING, "value": _VALUE,
             "const": _CONST, **extra}
    return obj(props, rules=rules, description=description)


_SCALAR_RULES = (one_of_fields("mapping", "value"),
                 exclusive("mapping", "value", why="a value is either mapped (`mapping`) or fixed (`value`)"))
DEFS["MappedOutputParameter"] = tagged("type", {
    "string": "MappedOutputParameterScalar", "number": "MappedOutputParameterScalar",
    "boolean": "MappedOutputParameterScalar", "object": "MappedOutputParameterObject",
    "array": "MappedOutputParameterArray",
}, what="JSON type of the value.", description="A result value mapped from the upstream response.")
DEFS["MappedOutputParameterScalar"] = obj({
    "type": string("Scalar type.", enum=("string", "number", "boolean")),
    "mapping": _MAPPING, "value": _VALUE, "const": _CONST,
    "maxLength": integer("Longest string kept; longer ones are cut (as the reference engine does).", minimum=0),
}, rules=_SCALAR_RULES, description="A string, number or boolean.")
DEFS["MappedOutputParameterObject"] = _mapped("object", {
    "properties": map_of(ref("MappedOutputParameter"), "Fields of the object, each mapped from the response."),
    "values": {**ref("MappedOutputParameter"), "description": (
        "With `mapping` pointing at an object: every entry keeps its key and its value is mapped by this, "
        "relative to the entry (the reference engine's map form).")},
    "schema": OUTPUT_SCHEMA,
}, (one_of_fields("properties", "mapping"),),
    "An object: its `properties`, or (naftiko-runtime extension) the whole value at `mapping`.")
DEFS["MappedOutputParameterArray"] = _mapped("array", {
    "items": either(ref("MappedOutputParameter"), array(ref("MappedOutputParameter"), min_items=1),
                    description="Shape of each element, relative to the element (a one-item list in 0.5)."),
}, (one_of_fields("items", "mapping"),),
    "A list found at `mapping`; `items` reshapes each element (without it, elements are kept as is).")

DEFS["OrchestratedOutputParameter"] = tagged("type", {
    "string": "OrchestratedOutputParameterScalar", "number": "OrchestratedOutputParameterScalar",
    "boolean": "OrchestratedOutputParameterScalar", "object": "OrchestratedOutputParameterObject",
    "array": "OrchestratedOutputParameterArray",
}, what="JSON type of the field.", required=("name",),
   description="A named result field filled by `mappings` (documents the shape).")
_ORCH_NAME = string("Field name, matching a mapping's `targetName`.", pattern=NAME)
DEFS["OrchestratedOutputParameterScalar"] = obj({
    "name": _ORCH_NAME, "type": string("Scalar type.", enum=("string", "number", "boolean")),
}, description="A string, number or boolean field.")
DEFS["OrchestratedOutputParameterArray"] = obj({
    "name": _ORCH_NAME, "type": string("A list.", const="array"),
    "items": array(ref("OrchestratedOutputParameter"), "Fields of each element.", min_items=1),
}, required=("items",), description="A list field.")
DEFS["OrchestratedOutputParameterObject"] = obj({
    "name": _ORCH_NAME, "type": string("An object.", const="object"),
    "properties": map_of(ref("OrchestratedOutputParameter"), "Fields of the object."),
}, required=("properties",), description="An object field.")

DEFS["MockOutputParameter"] = obj({
    "name": string("Field name in the result.", pattern=NAME),
    "type": string("Scalar type.", enum=("string", "number", "boolean")),
    "value": string("The value returned; `{{argument}}` templates allowed."),
}, required=("name", "type", "value"), description="A fixed result field (mock mode: no call, no steps).")

DEFS = titled(DEFS, {
    "MappedOutputParameter": "output parameter",
    "MappedOutputParameterScalar": "output parameter",
    "MappedOutputParameterObject": "object output parameter",
    "MappedOutputParameterArray": "array output parameter",
    "OrchestratedOutputParameter": "output parameter",
    "OrchestratedOutputParameterScalar": "output parameter",
    "OrchestratedOutputParameterArray": "array output parameter",
    "OrchestratedOutputParameterObject": "object output parameter",
    "MockOutputParameter": "mock output parameter",
})
