"""JSON Schema validation, through the one module that imports the library (jsonschema-rs).

``Validator(schema)`` compiles a Draft 2020-12 schema once; ``is_valid`` answers yes or no and
``problems`` says what is wrong, one ``Problem`` per failed keyword, in the library's order.
jsonschema-rs is written in Rust: it checks the spec schema of a capability in tens of
microseconds, where the pure-Python jsonschema takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from naftiko_runtime.source import escape

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One keyword that a value fails."""

    path: Path  # to the value, from the root of what was validated
    keyword: str  # type, required, anyOf... (propertyNames: a key fails it)
    schema_path: Path  # to the keyword in the schema, references followed
    instance: Any  # the value that fails; for propertyNames, the key
    message: str  # the library's own sentence
    branches: tuple[tuple[Problem, ...], ...] = ()  # anyOf, oneOf: the problems of each alternative

    @property
    def pointer(self) -> str:
        return "".join(f"/{escape(str(step))}" for step in self.path)


class Validator:
    """A schema compiled once, to check any number of values."""

    __slots__ = ("_compiled",)

    def __init__(self, schema: dict[str, Any]) -> None:
        self._compiled = jsonschema_rs.Draft202012Validator(schema, offline=True)

    def is_valid(self, value: Any) -> bool:
        try:
            return bool(self._compiled.is_valid(value))
        except ValueError:  # the library takes only JSON data: check the JSON form of the rest
            return bool(self._compiled.is_valid(_jsonable(value)))

    def problems(self, value: Any) -> list[Problem]:
        try:
            errors = self._compiled.iter_errors(value)
        except ValueError:
            errors = self._compiled.iter_errors(_jsonable(value))
        return [_problem(error) for error in errors]


def schema_problem(schema: Any) -> tuple[str, str] | None:
    """Why ``schema`` is not a usable Draft 2020-12 JSON Schema (checked against the meta-schema,
    then compiled: a bad regular expression fails only then) and the pointer of the culprit inside
    it; None when it is usable."""
    try:
        jsonschema_rs.Draft202012Validator(_jsonable(schema), offline=True)
    except jsonschema_rs.ValidationError as exc:
        where = "".join(f"/{escape(str(step))}" for step in exc.instance_path)
        return str(exc).splitlines()[0][:200], where
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        return (str(exc).splitlines()[0][:200] or type(exc).__name__), ""
    return None


def _problem(error: jsonschema_rs.ValidationError) -> Problem:
    path, schema_path, kind = tuple(error.instance_path), tuple(error.schema_path), error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.PropertyNames):
        # Reported on the object, with the keyword inside propertyNames that the key fails.
        at = len(schema_path) - schema_path[::-1].index("propertyNames")
        return Problem(path, "propertyNames", schema_path[:at], kind.error.instance, error.message)
    branches = tuple(tuple(_problem(e) for e in branch) for branch in getattr(kind, "context", None) or ())
    return Problem(path, str(schema_path[-1]) if schema_path else "false", schema_path, error.instance,
                   error.message, branches)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON would carry it: lone surrogates replaced, other objects as their text."""
    if isinstance(value, Mapping):
        return {_jsonable(str(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)
