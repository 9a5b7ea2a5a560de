"""OpenAPI schema objects -> self-contained JSON Schema (2020-12) for tool inputs and outputs.

Local ``$ref``s are inlined; a reference that leads back to itself (a tree of categories, a person
with a manager) is expanded to a bounded depth and then left open (``{}``: any value), and a node
budget keeps a huge API from producing huge tool schemas. OpenAPI 3.0 and Swagger 2.0 dialect is
translated (``nullable``, boolean ``exclusiveMinimum``, ``example``, ``type: file``); vendor
extensions and OpenAPI-only keywords (``discriminator``, ``xml``, ``externalDocs``) are dropped.

An input schema leaves out ``readOnly`` properties (a server sets them); an output schema leaves out
``writeOnly`` ones and is *loosened*: it says which fields and types to expect, not what the API
promises (no ``required``, no ``enum`` or ``format``, every field may be null), because a schema
that an answer fails would turn a successful call into an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SchemaReader", "beyond_type", "content_schema", "describes_object", "loosen"]

MAX_REF_DEPTH = 3  # the same reference expanded inside itself at most this many times
MAX_NESTING = 12
MAX_NODES = 1500

_KEEP = frozenset({
    "type", "format", "enum", "const", "default", "title", "description", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    "uniqueItems", "minProperties", "maxProperties", "required", "readOnly", "writeOnly", "deprecated",
    "examples", "contentMediaType", "contentEncoding", "dependentRequired",
})
_ONE = frozenset({"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
                  "unevaluatedProperties", "unevaluatedItems"})
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_NAMED = frozenset({"properties", "patternProperties"})
_LOOSE_DROP = frozenset({"required", "enum", "const", "format", "pattern", "minLength", "maxLength", "minimum",
                         "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
                         "uniqueItems", "minProperties", "maxProperties", "dependentRequired", "propertyNames",
                         "readOnly", "writeOnly", "default", "examples", "contentMediaType", "contentEncoding"})


class SchemaReader:
    """Converts schemas of one OpenAPI document; ``resolve`` follows a local ``$ref`` (or returns None)."""

    def __init__(self, resolve: Callable[[Any], Any]) -> None:
        self._resolve = resolve
        self._budget = MAX_NODES

    def input(self, node: Any) -> dict[str, Any] | None:
        """The JSON Schema a caller's value must match (``readOnly`` fields left out)."""
        return self._convert(node, drop="readOnly")

    def output(self, node: Any) -> dict[str, Any] | None:
        """What an answer looks like (``writeOnly`` fields left out), loosened."""
        schema = self._convert(node, drop="writeOnly")
        return loosen(schema) if schema is not None else None

    def _convert(self, node: Any, drop: str) -> dict[str, Any] | None:
        from naftiko_runtime.jsonschemas import schema_problem

        self._budget = MAX_NODES
        schema = self._walk(node, {}, 0, drop)
        if not isinstance(schema, dict) or not schema or schema_problem(schema) is not None:
            return None
        return schema

    def _walk(self, node: Any, seen: dict[str, int], depth: int, drop: str) -> Any:
        if isinstance(node, bool):
            return node
        self._budget -= 1
        if not isinstance(node, Mapping) or depth > MAX_NESTING or self._budget <= 0:
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            if seen.get(ref, 0) >= MAX_REF_DEPTH:
                return {"description": "The same structure again (not expanded further)."}
            target = self._resolve(node)
            if not isinstance(target, Mapping | bool):
                return {}  # an external or broken reference: any value
            inner = self._walk(target, {**seen, ref: seen.get(ref, 0) + 1}, depth, drop)
            if isinstance(inner, dict) and isinstance(node.get("description"), str):
                inner = {**inner, "description": node["description"]}  # 3.1: a sibling of $ref
            return inner
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str) or key.startswith("x-"):
                continue
            if key in _NAMED and isinstance(value, Mapping):
                out[key] = {str(name): self._walk(sub, seen, depth + 1, drop) for name, sub in value.items()
                            if not (isinstance(sub, Mapping) and self._flag(sub, drop))}
            elif key in _ONE and isinstance(value, Mapping | bool):
                out[key] = self._walk(value, seen, depth + 1, drop)
            elif key == "items" and isinstance(value, list):  # draft-4 tuple form
                out["prefixItems"] = [self._walk(v, seen, depth + 1, drop) for v in value]
            elif key in _MANY and isinstance(value, list):
                out[key] = [self._walk(v, seen, depth + 1, drop) for v in value]
            elif key == "example":
                out.setdefault("examples", [value])
            elif key in _KEEP:
                out[key] = value
        return _dialect(node, out)

    def _flag(self, node: Mapping[str, Any], key: str) -> bool:
        """Whether a property (following its ``$ref``) is marked ``readOnly``/``writeOnly``."""
        target = self._resolve(node) if "$ref" in node else node
        return isinstance(target, Mapping) and target.get(key) is True


def _dialect(node: Mapping[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0 / Swagger 2.0 spellings -> 2020-12."""
    if out.get("type") == "file":
        out["type"] = "string"
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and bound in out:
                out[exclusive] = out.pop(bound)
    if node.get("nullable") is True or node.get("x-nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    required = out.get("required")
    if isinstance(required, list) and isinstance(out.get("properties"), dict):
        kept = [name for name in required if name in out["properties"]]
        if kept:
            out["required"] = kept
        else:
            out.pop("required")
    elif required is not None and not isinstance(required, list):
        out.pop("required")  # OpenAPI's boolean `required` belongs to parameters, not schemas
    return out


def loosen(schema: Any, root: bool = True) -> Any:
    """A schema that describes what to expect and fails no plausible answer: constraints dropped,
    every field below the root nullable, extra fields allowed."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _LOOSE_DROP or key == "not" or (key == "additionalProperties" and value is False):
            continue
        if key == "oneOf":  # with nullable branches, null would match several: any of them will do
            key = "anyOf"
        if key in _NAMED and isinstance(value, dict):
            out[key] = {name: loosen(sub, root=False) for name, sub in value.items()}
        elif key in _ONE or key in _MANY:
            out[key] = [loosen(v, root=False) for v in value] if isinstance(value, list) else loosen(value, False)
        else:
            out[key] = value
    kind = out.get("type")
    if not root and isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif not root and isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    return out


def content_schema(holder: Mapping[str, Any]) -> Any:
    """The schema of a request body's or a response's JSON content (else of its first content)."""
    content = holder.get("content")
    if not isinstance(content, Mapping) or not content:
        return None
    media = next((m for t, m in content.items() if "json" in str(t)), next(iter(content.values())))
    return media.get("schema") if isinstance(media, Mapping) else None


def beyond_type(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A converted schema without what a tool argument already says (its type and description);
    None when nothing is left."""
    rest = {k: v for k, v in (schema or {}).items() if k not in ("type", "description")}
    return rest or None


def describes_object(schema: Mapping[str, Any]) -> bool:
    """Whether a (converted) schema describes a JSON object: its type says so (null aside), or,
    untyped, it lists properties or an ``allOf`` part describes one."""
    kind = schema.get("type")
    if isinstance(kind, list):
        return "object" in kind and set(kind) <= {"object", "null"}
    if kind is not None:
        return kind == "object"
    parts = schema.get("allOf")
    if isinstance(parts, list) and parts and any(isinstance(p, Mapping) and describes_object(p) for p in parts):
        return True
    return "properties" in schema
