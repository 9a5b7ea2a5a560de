"""Argument coercion: numeric and boolean *strings* become numbers and booleans where the input
schema asks for them and the text can mean only one thing.

Models often send ``"20"`` for an integer argument or ``"true"`` for a boolean one. The runtime
accepts exactly these unambiguous spellings, before the arguments are validated:

- ``integer``: an optional ``-`` and ASCII digits (``"20"``, ``"-3"``); not ``"20.5"``, ``"1e3"``,
  ``" 20"`` or ``"0x14"``;
- ``number``: a JSON number written as a string (``"2.5"``, ``"-1e3"``, ``"20"``), finite;
- ``boolean``: ``"true"`` or ``"false"`` (any letter case); not ``"yes"``, ``"1"`` or ``"on"``.

A schema whose ``type`` also allows ``string`` is left alone (the text is then a valid value as it
is). Coercion follows ``properties``, ``items`` and ``prefixItems`` of object and array schemas, so
a field inside a body object is treated the same way; anything else (``anyOf``, ``$ref``...) is not
followed. Whatever is not coerced reaches the validator unchanged, which then names the problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Coercer", "coercer"]

_INTEGER = re.compile(r"-?[0-9]{1,300}")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MAX_DEPTH = 32

Coercer = Callable[[Any], Any]


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list | tuple):
        return frozenset(k for k in kind if isinstance(k, str))
    return frozenset()


def _scalar(types: frozenset[str]) -> Coercer | None:
    """The text -> value conversion for a leaf schema, or None when strings are left alone."""
    if "string" in types:
        return None
    if "integer" in types and "number" not in types:
        def to_integer(text: str) -> Any:
            return int(text) if _INTEGER.fullmatch(text) else text
        convert: Coercer | None = to_integer
    elif "number" in types:
        def to_number(text: str) -> Any:
            if not _NUMBER.fullmatch(text):
                return text
            if _INTEGER.fullmatch(text):
                return int(text)
            value = float(text)
            return value if math.isfinite(value) else text
        convert = to_number
    else:
        convert = None
    if "boolean" not in types:
        return convert

    def to_boolean(text: str) -> Any:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return convert(text) if convert is not None else text

    return to_boolean


def coercer(schema: Any, depth: int = 0) -> Coercer | None:
    """A function that coerces a value for ``schema``, or None when nothing in it could be coerced
    (the common case: then nothing runs per call)."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    types = _types(schema)
    leaf = _scalar(types)
    properties = schema.get("properties")
    fields: dict[str, Coercer] = {}
    if isinstance(properties, Mapping) and (not types or "object" in types):
        for name, sub in properties.items():
            found = coercer(sub, depth + 1)
            if found is not None:
                fields[str(name)] = found
    items = coercer(schema.get("items"), depth + 1) if (not types or "array" in types) else None
    prefix_raw = schema.get("prefixItems")
    prefix = [coercer(s, depth + 1) for s in prefix_raw] if isinstance(prefix_raw, list) else []
    if leaf is None and not fields and items is None and not any(prefix):
        return None

    def coerce(value: Any) -> Any:
        if isinstance(value, str):
            return leaf(value) if leaf is not None else value
        if fields and isinstance(value, Mapping):
            changed = {key: fields[key](item) for key, item in value.items() if key in fields}
            if any(changed[key] is not value[key] for key in changed):
                return {**value, **changed}
            return value
        if (items is not None or any(prefix)) and isinstance(value, list):
            out = []
            for index, item in enumerate(value):
                step = prefix[index] if index < len(prefix) else items
                out.append(step(item) if step is not None else item)
            return out if any(a is not b for a, b in zip(out, value, strict=True)) else value
        return value

    return coerce
