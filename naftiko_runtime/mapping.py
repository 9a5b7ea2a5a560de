"""Output mapping: JSONPath extraction and ``outputParameters`` shapes, with the reference semantics.

The reference engine (Jayway JsonPath) rules that matter here:

* ``$`` and ``$.`` are the root; a path failure gives null; dotted keys with spaces are retried in
  bracket notation; trailing functions such as ``.length()`` apply to the path's result.
* A *definite* path (only names and single indices) yields one value; an indefinite path (wildcard,
  filter, slice, union, recursive descent) always yields a list of the matches, possibly empty.
* Only the first top-level output parameter that yields non-null is returned; ``value`` templates win
  over ``mapping``; object properties read from the same root; array items read from their element.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import jsonpath as jp
from jsonpath_ng.ext import parse as _jsonpath_parse
from jsonpath_ng.ext.iterable import Len

from naftiko_runtime.templates import Template, compile_template, format_value, resolve_path

__all__ = [
    "JsonPath",
    "OutputMapper",
    "apply_step_mappings",
    "build_mock",
    "compile_path",
    "output_schema",
    "plain",
    "project_consumed_outputs",
]


def plain(value: Any) -> Any:
    """Model trees (MappingProxy, tuples) -> plain JSON containers, for jsonschema, the MCP SDK and YAML."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# JSONPath
# --------------------------------------------------------------------------------------------------


def _numbers(value: Any) -> list[int | float] | None:
    if not isinstance(value, list) or not value:
        return None
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        return None
    return value


def _length(value: Any) -> Any:
    return len(value) if isinstance(value, list | dict | str) else None


def _aggregate(fn: Callable[[list[int | float]], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        numbers = _numbers(value)
        return None if numbers is None else fn(numbers)

    return apply


def _stddev(numbers: list[int | float]) -> float:
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((n - mean) ** 2 for n in numbers) / len(numbers))  # population, as Jayway


# Jayway's no-argument path functions, applied to the result of the path before them.
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "length": _length,
    "size": _length,
    "min": _aggregate(min),
    "max": _aggregate(max),
    "sum": _aggregate(sum),
    "avg": _aggregate(lambda n: sum(n) / len(n)),
    "stddev": _aggregate(_stddev),
    "keys": lambda v: list(v) if isinstance(v, dict) else None,
    "first": lambda v: v[0] if isinstance(v, list) and v else None,
    "last": lambda v: v[-1] if isinstance(v, list) and v else None,
}
_TRAILING_FUNCTION = re.compile(r"^(.*)\.(" + "|".join(_FUNCTIONS) + r")\(\)$", re.DOTALL)
_PLAIN_NAME = re.compile(r"^[\w\-]+$|^\*$")


@dataclass(frozen=True, slots=True, eq=False)
class JsonPath:
    """A compiled JSONPath expression. ``find`` never raises: a failure or no match gives None."""

    expr: str
    _path: Any  # jsonpath_ng expression, or None for the root itself
    definite: bool
    _function: Callable[[Any], Any] | None = None

    def find(self, data: Any) -> Any:
        value = self._select(data)
        if self._function is not None and value is not None:
            try:
                return self._function(value)
            except (TypeError, ValueError, ArithmeticError):
                return None
        return value

    def _select(self, data: Any) -> Any:
        if self._path is None:
            return data
        try:
            matches = self._path.find(data)
        except Exception:  # jsonpath-ng raises assorted errors on type mismatches in filters
            return None
        if self.definite:
            return matches[0].value if matches else None
        return [match.value for match in matches]


def _is_definite(node: Any) -> bool:
    if isinstance(node, jp.Root | jp.This | Len):
        return True
    if isinstance(node, jp.Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if isinstance(node, jp.Index):
        return len(node.indices) == 1
    if type(node) is jp.Child:
        return _is_definite(node.left) and _is_definite(node.right)
    return False


def _split_top_level(body: str) -> list[str]:
    """Split on dots that are outside brackets, parentheses and quotes."""
    parts, current, depth, quote = [], [], 0, ""
    for char in body:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "." and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _bracketize(expr: str) -> str:
    """``$.first name.x`` -> ``$['first name'].x``: quote every dotted name that is not plain."""
    parts = _split_top_level(expr[1:])
    out = "$" + parts[0]
    previous = parts[0]
    for part in parts[1:]:
        cut = part.find("[")
        name, rest = (part, "") if cut < 0 else (part[:cut], part[cut:])
        if name and not _PLAIN_NAME.match(name):
            quoted = name.strip().replace("\\", "\\\\").replace("'", "\\'")
            out += ("." if previous == "" else "") + f"['{quoted}']" + rest
        else:
            out += "." + part
        previous = part
    return out


def _parse(expr: str) -> Any:
    try:
        return _jsonpath_parse(expr)
    except Exception as first:
        retry = _bracketize(expr)
        if retry != expr:
            try:
                return _jsonpath_parse(retry)
            except Exception:
                pass
        raise ValueError(f"invalid JSONPath expression {expr!r}: {first}") from None


def compile_path(expr: str) -> JsonPath:
    """Compile a JSONPath once (cached). Raises ValueError for an invalid expression."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"invalid JSONPath expression {expr!r}: empty or not a string")
    return _compile_path(expr)


@functools.lru_cache(maxsize=4096)
def _compile_path(expr: str) -> JsonPath:
    text = expr.strip()
    if not text.startswith("$"):  # Jayway reads "a.b" as "$.a.b"
        text = "$." + text
    function = None
    if match := _TRAILING_FUNCTION.match(text):
        text, function = match.group(1), _FUNCTIONS[match.group(2)]
    if text in ("$", "$."):
        return JsonPath(expr, None, True, function)
    parsed = _parse(text)
    return JsonPath(expr, parsed, _is_definite(parsed), function)


# --------------------------------------------------------------------------------------------------
# Mapped output parameters (simple mode)
# --------------------------------------------------------------------------------------------------


def _template(value: Any) -> Template:
    return compile_template(value if isinstance(value, str) else format_value(value))


def _properties(param: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    props = param.get("properties")
    if isinstance(props, Mapping):
        return [(str(name), p) for name, p in props.items() if isinstance(p, Mapping)]
    if isinstance(props, list):  # older list form: named entries
        return [(str(p.get("name")), p) for p in props if isinstance(p, Mapping) and p.get("name")]
    return []


def _items(param: Mapping[str, Any]) -> Mapping[str, Any] | None:
    items = param.get("items")
    if isinstance(items, list):  # 0.4/0.5 list form: the first element describes the items
        items = items[0] if items else None
    return items if isinstance(items, Mapping) else None


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str  # "value", "array", "object", "scalar"
    path: JsonPath | None = None
    template: Template | None = None
    items: _Node | None = None
    properties: tuple[tuple[str, _Node], ...] = ()
    max_length: int | None = None
    values: _Node | None = None  # the map form: each entry of the object at `path`, mapped by this


def _compile(param: Mapping[str, Any]) -> _Node:
    mapping = param.get("mapping")
    path = compile_path(mapping) if isinstance(mapping, str) and mapping.strip() else None
    if param.get("value") is not None:
        return _Node("value", template=_template(param["value"]))
    kind = param.get("type")
    if kind == "array":
        items = _items(param)
        return _Node("array", path, items=None if items is None else _compile(items))
    if kind == "object":
        props = tuple((name, _compile(p)) for name, p in _properties(param))
        values = param.get("values")
        return _Node("object", path, properties=props,
                     values=_compile(values) if isinstance(values, Mapping) and path else None)
    max_length = param.get("maxLength")
    return _Node("scalar", path, max_length=max_length if isinstance(max_length, int) else None)


def _truncate(value: Any, max_length: int | None) -> Any:
    if max_length is not None and isinstance(value, str):
        return value[: max(max_length, 0)]
    return value


def _eval(node: _Node, root: Any, context: Mapping[str, Any]) -> Any:
    """Evaluate a parameter against the response root (objects never change the root)."""
    if node.kind == "value":
        return node.template.render(context)  # type: ignore[union-attr]
    if node.kind == "array":
        return _eval_array(node, root, context)
    if node.kind == "object":
        if node.values is not None:  # the map form: keys kept, each value mapped relative to itself
            found = node.path.find(root) if node.path else None
            if not isinstance(found, Mapping):
                return None
            return {key: _eval_item(node.values, value, context) for key, value in found.items()}
        if not node.properties:  # `{type: object, mapping: $.}`: the JSONPath result as is
            return node.path.find(root) if node.path else None
        return {name: _eval(prop, root, context) for name, prop in node.properties}
    return _truncate(node.path.find(root), node.max_length) if node.path else None


def _eval_array(node: _Node, root: Any, context: Mapping[str, Any]) -> Any:
    found = node.path.find(root) if node.path else None
    if not isinstance(found, list):
        return None
    if node.items is None:
        return list(found)
    return [_eval_item(node.items, element, context) for element in found]


def _eval_item(item: _Node, element: Any, context: Mapping[str, Any]) -> Any:
    """One array element: object items read their properties relative to the element."""
    if item.kind == "object" and item.properties:
        return {name: _eval_in_item(prop, element, context) for name, prop in item.properties}
    if item.kind == "value":
        return item.template.render(context)  # type: ignore[union-attr]
    if item.kind == "array":
        return _eval_array(item, element, context)
    if item.path is None:
        return element
    return _truncate(item.path.find(element), item.max_length)


def _eval_in_item(prop: _Node, element: Any, context: Mapping[str, Any]) -> Any:
    if prop.kind == "object":  # the reference does not support objects nested in array items
        return None
    if prop.kind == "value":
        return prop.template.render(context)  # type: ignore[union-attr]
    if prop.kind == "array":  # ours: nested arrays follow the same rules, relative to the element
        return _eval_array(prop, element, context)
    return _truncate(prop.path.find(element), prop.max_length) if prop.path else None


class OutputMapper:
    """``outputParameters`` of an exposed unit, compiled once; ``map`` applies them to a response."""

    __slots__ = ("_nodes",)

    def __init__(self, params: Sequence[Mapping[str, Any]] | None) -> None:
        self._nodes = tuple(_compile(p) for p in params or () if isinstance(p, Mapping))

    def __bool__(self) -> bool:
        return bool(self._nodes)

    def map(self, root: Any, context: Mapping[str, Any]) -> tuple[bool, Any]:
        """(True, value) for the first top-level parameter that yields non-null; (False, None)
        when nothing mapped, meaning the caller passes the raw body through."""
        for node in self._nodes:
            value = _eval(node, root, context)
            if value is not None:
                return True, value
        return False, None


# --------------------------------------------------------------------------------------------------
# Mock outputs
# --------------------------------------------------------------------------------------------------


def _mock_value(param: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    if param.get("value") is not None:
        # Kept as text even for `type: number|boolean`: the reference returns the rendered string.
        return _template(param["value"]).render(context)
    if param.get("type") == "object" and param.get("properties"):
        return {name: _mock_value(p, context) for name, p in _properties(param)}
    items = param.get("items")
    if param.get("type") == "array" and items:
        if isinstance(items, list):  # list form: named item fields make one object per element
            if all(isinstance(i, Mapping) and i.get("name") for i in items):
                return [build_mock(items, context)]
            items = items[0]
        return [_mock_value(items, context)] if isinstance(items, Mapping) else None
    return None


def build_mock(params: Sequence[Mapping[str, Any]], context: Mapping[str, Any]) -> Any:
    """Mock mode: ``{name: rendered value, ...}``; an unnamed parameter gets the key ``"value"``."""
    return {str(p.get("name") or "value"): _mock_value(p, context) for p in params if isinstance(p, Mapping)}


# --------------------------------------------------------------------------------------------------
# Orchestration helpers
# --------------------------------------------------------------------------------------------------


def _step_value(expr: Any, steps: Mapping[str, Any]) -> Any:
    """``$.<step>.<a>.<b>``: plain dot traversal into step outputs (no JSONPath, no indices)."""
    if not isinstance(expr, str) or not expr.startswith("$.") or len(expr) == 2:
        return None
    return resolve_path(steps, expr[2:], indices=False)


def apply_step_mappings(mappings: Sequence[Mapping[str, Any]], steps: Mapping[str, Any]) -> dict | None:
    """Build the orchestrated result; dotted ``targetName`` nests; None when every value is null."""
    result: dict[str, Any] = {}
    for mapping in mappings:
        target, value = mapping.get("targetName"), _step_value(mapping.get("value"), steps)
        if value is None or not isinstance(target, str) or not target:
            continue
        *parents, leaf = target.split(".")
        holder = result
        for key in parents:
            child = holder.get(key)
            if not isinstance(child, dict):
                child = holder[key] = {}
            holder = child
        holder[leaf] = value
    return result or None


def project_consumed_outputs(params: Sequence[Mapping[str, Any]], body: Any) -> Any:
    """Step output of a call: ``{name: JSONPath(value)}``; an array body gets each dict element
    augmented (as a copy) with the fields evaluated against that element. No named params: body."""
    named = [
        (str(p["name"]), compile_path(p["value"]) if _is_path(p.get("value")) else None)
        for p in params
        if isinstance(p, Mapping) and p.get("name")
    ]
    if not named:
        return body

    def project(data: Any) -> dict[str, Any]:
        return {name: path.find(data) if path else None for name, path in named}

    if isinstance(body, list):
        return [{**el, **project(el)} if isinstance(el, Mapping) else el for el in body]
    return project(body)


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("$")


# --------------------------------------------------------------------------------------------------
# JSON Schema of the mapped result (MCP outputSchema)
# --------------------------------------------------------------------------------------------------
# Declared scalar types are documentation only: nothing coerces a mapped value to them, so a schema
# typing scalars would turn a successful call into an error (`id: {type: string}` mapping 42). Only
# the structure the mapper guarantees is described: objects, their keys, arrays.


def _with_description(schema: dict[str, Any], param: Mapping[str, Any]) -> dict[str, Any]:
    description = param.get("description")
    if isinstance(description, str) and description:
        schema["description"] = description
    return schema


def _object_schema(param: Mapping[str, Any], in_item: bool) -> dict[str, Any]:
    props = _properties(param)
    return {
        "type": "object",
        "properties": {name: _property_schema(p, in_item) for name, p in props},
        "required": [name for name, _ in props],  # mapped objects keep every key, null when missing
    }


def _property_schema(param: Mapping[str, Any], in_item: bool) -> dict[str, Any]:
    kind = param.get("type")
    schema: dict[str, Any] = {}  # scalars (and templates, JSONPath results as is): any JSON value
    if param.get("value") is None and kind == "object":
        if in_item:
            schema = {"type": "null"}  # objects nested in array items map to null
        elif _properties(param):
            schema = _object_schema(param, in_item=False)
            schema["type"] = ["object", "null"]
    elif param.get("value") is None and kind == "array":
        items = _items(param)
        schema = {"type": ["array", "null"]}
        if items is not None:
            schema["items"] = _item_schema(items)
    return _with_description(schema, param)


def _item_schema(item: Mapping[str, Any]) -> dict[str, Any]:
    if item.get("value") is None and item.get("type") == "object" and _properties(item):
        return _with_description(_object_schema(item, in_item=True), item)
    if item.get("value") is None and item.get("type") == "array":
        return _property_schema(item, in_item=True)
    return {}  # a scalar, or the element as is


def output_schema(params: Sequence[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """JSON Schema of what ``OutputMapper`` returns when the first parameter is an object with
    properties (such a parameter always yields an object, so it always wins); otherwise None.

    Object structure, property names and ``required`` are kept; scalar properties are left untyped."""
    if not params or not isinstance(params[0], Mapping):
        return None
    first = params[0]
    if first.get("value") is not None or first.get("type") != "object" or not _properties(first):
        return None
    return _with_description(_object_schema(first, in_item=False), first)
