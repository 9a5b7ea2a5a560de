"""JSONPath with the reference engine's (Jayway) semantics, compiled once per expression.

* ``$`` and ``$.`` are the root; a path failure gives null; dotted keys with spaces are retried in
  bracket notation; trailing functions such as ``.length()`` apply to the path's result.
* A *definite* path (only names and single indices) yields one value; an indefinite path (wildcard,
  filter, slice, union, recursive descent) always yields a list of the matches, possibly empty.
* Jayway reads ``a.b`` as ``$.a.b``.

The only module that imports jsonpath-ng.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import jsonpath as jp
from jsonpath_ng.ext import parse as _jsonpath_parse
from jsonpath_ng.ext.iterable import Len

from naftiko_runtime.errors import NaftikoError

__all__ = ["JsonPath", "JsonPathError", "compile_or_none", "compile_path", "is_path"]


class JsonPathError(NaftikoError):
    """An expression that does not parse; the message says where."""


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
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
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
        raise JsonPathError(f"invalid JSONPath expression {expr!r}: {first}") from None


def compile_path(expr: str) -> JsonPath:
    """Compile a JSONPath once (cached). Raises ``JsonPathError`` for an invalid expression."""
    if not isinstance(expr, str) or not expr.strip():
        raise JsonPathError(f"invalid JSONPath expression {expr!r}: empty or not a string")
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


def is_path(value: Any) -> bool:
    """Whether a ``value`` is a JSONPath (starts with ``$``) rather than a constant or template."""
    return isinstance(value, str) and value.strip().startswith("$")


def compile_or_none(expression: Any) -> JsonPath | None:
    """The compiled JSONPath, or None when it is absent or does not parse (validation reports it)."""
    if not isinstance(expression, str) or not expression.strip():
        return None
    try:
        return compile_path(expression)
    except JsonPathError:
        return None
