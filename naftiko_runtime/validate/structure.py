"""Structural check: does the document have the shape ``spec.SCHEMA`` describes?

A small interpreter of exactly the JSON Schema keywords the spec schema uses (the list is in
``spec``'s docstring; a test keeps the two in step and compares verdicts with ``jsonschema``).
It is written for diagnostics rather than verdicts:

* every problem is reported, each at its own JSON pointer, but one wrong node is reported once:
  a value of the wrong type is not also checked for missing fields;
* unions are resolved by their discriminator (``type``), or by JSON type for "string or object"
  alternatives, so the errors speak about the variant the author meant;
* unknown fields are warnings, located at the key, with a "did you mean" hint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.load import LEGACY, Document
from naftiko_runtime.source import join
from naftiko_runtime.spec import SCHEMA, Schema

CODES = {
    "unknown-field": "a field the spec does not define at this place (a warning; --strict makes it an error)",
    "schema-required": "a required field is missing, or none of several alternative fields is present",
    "schema-type": "a value has the wrong JSON type (string, number, list, object...)",
    "schema-enum": "a value is not one of the allowed values",
    "schema-const": "a value differs from the single value allowed here",
    "schema-pattern": "a string (or a key) does not have the expected format",
    "schema-min-items": "a list has fewer items than required",
    "schema-range": "a number is outside its allowed range",
    "schema-min-length": "a string is shorter than allowed (usually: empty)",
    "schema-max-length": "a string is longer than allowed",
    "schema-conflict": "fields that exclude each other are used together",
}

_DEFS: dict[str, Schema] = SCHEMA["$defs"]
_VALUE_CODES = frozenset(("schema-type", "schema-enum", "schema-const", "schema-pattern", "schema-range",
                          "schema-min-length", "schema-max-length"))
_TYPE_NAMES = {
    "object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "a boolean", "null": "null",
}


class _Invalid(Exception):
    """Raised by the silent checker that evaluates ``if`` conditions: the first problem decides."""


def check_structure(doc: Document) -> list[Diagnostic]:
    """Every structural problem of ``doc`` against ``spec.SCHEMA`` (in walk order; callers sort)."""
    checker = _Checker(doc)
    checker.check(SCHEMA, as_written(doc), "")
    found = checker.found
    if doc.version in LEGACY:  # load already said the version is unsupported
        found = [d for d in found if d.location.pointer != "/naftiko"]
    return found


def as_written(doc: Document) -> Any:
    """The data the schema describes: ``doc.data``, with 0.5 ``externalRefs`` put back.

    Loading turns 0.5 ``externalRefs`` into ``binds``; the schema checks them as written so that
    problems point at the author's text.
    """
    raw = doc.source.data
    if not isinstance(raw, dict) or "externalRefs" not in raw or not isinstance(doc.data, dict):
        return doc.data
    refs = raw["externalRefs"]
    converted = sum(isinstance(r, dict) for r in refs) if isinstance(refs, list) else 0
    view = dict(doc.data)
    binds = view.get("binds")
    if "binds" not in raw:
        view.pop("binds", None)
    elif isinstance(binds, list) and converted:
        view["binds"] = binds[:-converted]
    view["externalRefs"] = refs
    return view


class _Checker:
    __slots__ = ("doc", "found", "probe", "seen", "silent", "templated", "wrong")

    def __init__(self, doc: Document, *, silent: bool = False) -> None:
        self.doc = doc
        self.silent = silent
        self.templated = doc.templated
        self.found: list[Diagnostic] = []
        self.seen: set[tuple[str, str, str]] = set()
        self.wrong: set[str] = set()  # pointers of values already reported as wrong
        self.probe: _Checker | None = None

    # --- reporting -------------------------------------------------------------------------------

    def fail(self) -> None:
        """Called before building a message: the silent checker stops at the first problem."""
        if self.silent:
            raise _Invalid

    def emit(self, code: str, message: str, pointer: str, *, key: bool = False, hint: str | None = None,
             severity: Severity = Severity.ERROR) -> None:
        mark = (code, pointer, message)
        if mark in self.seen or (code in _VALUE_CODES and pointer in self.wrong):
            return  # one verdict per value, even when two rules reach it
        self.seen.add(mark)
        if code in _VALUE_CODES:
            self.wrong.add(pointer)
        self.found.append(self.doc.diag(code, message, pointer, severity=severity, hint=hint, key=key))

    def holds(self, schema: Schema, value: Any, pointer: str) -> bool:
        """Whether ``value`` satisfies ``schema``, reporting nothing (for ``if`` conditions)."""
        quick = _quick_test(schema)
        if quick is not None:
            return quick(value)
        if self.probe is None:
            self.probe = self if self.silent else _Checker(self.doc, silent=True)
        try:
            self.probe.check(schema, value, pointer)
        except _Invalid:
            return False
        return True

    # --- keywords --------------------------------------------------------------------------------

    def check(self, schema: Schema, value: Any, pointer: str) -> None:
        target = schema.get("$ref")
        while target is not None and _annotations_only(schema):
            schema = _resolve(target)  # a plain reference: follow it without a call
            target = schema.get("$ref")
        if target is not None:
            self.check(_resolve(target), value, pointer)
        if not self.scalar_rules(schema, value, pointer):
            return  # wrong type or value: nothing below it is worth reporting
        if isinstance(value, dict):
            self.object_rules(schema, value, pointer)
        elif isinstance(value, list):
            self.array_rules(schema, value, pointer)
        for sub in schema.get("allOf", ()):
            self.check(sub, value, pointer)
        if "anyOf" in schema:
            self.any_of(schema["anyOf"], value, pointer)
        if "not" in schema:
            self.negation(schema["not"], value, pointer)
        if "if" in schema:
            branch = schema.get("then") if self.holds(schema["if"], value, pointer) else schema.get("else")
            if branch is not None:
                self.check(branch, value, pointer)

    def scalar_rules(self, schema: Schema, value: Any, pointer: str) -> bool:
        """type, const, enum and the string/number limits. False when the value is wrong."""
        expected = schema.get("type")
        if pointer in self.templated:  # rendered from <<env.X>>: its final value is not known here
            return expected is None or _is_type(value, expected)
        if expected is not None and not _is_type(value, expected):
            self.fail()
            self.emit("schema-type", f"{_what(pointer)} must be {_expected(expected)}; found "
                      f"{_show(value, schema)}", pointer)
            return False
        if "const" in schema and not _same(value, schema["const"]):
            self.fail()
            self.emit("schema-const", f"{_what(pointer)} is {_show(value, schema)}; expected "
                      f"{_literal(schema['const'])}", pointer)
            return False
        if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
            options = schema["enum"]
            self.fail()
            self.emit("schema-enum", f"{_what(pointer)} is {_show(value, schema)}; expected one of "
                      f"{', '.join(_literal(o) for o in options)}", pointer,
                      hint=_closest(value, [o for o in options if isinstance(o, str)]))
            return False
        if isinstance(value, str):
            return self.string_rules(schema, value, pointer)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.number_rules(schema, value, pointer)
        return True

    def string_rules(self, schema: Schema, value: str, pointer: str) -> bool:
        pattern = schema.get("pattern")
        if pattern is not None and not _regex(pattern).search(value):
            shape = schema.get("title") or f"matching {pattern}"
            self.fail()
            self.emit("schema-pattern", f"{_what(pointer)} is {_show(value, schema)}, which is not {shape}",
                      pointer)
            return False
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.fail()
            self.emit("schema-min-length", f"{_what(pointer)} must have at least {schema['minLength']} "
                      f"character(s); found {len(value)}", pointer)
            return False
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.fail()
            self.emit("schema-max-length", f"{_what(pointer)} has {len(value)} characters; at most "
                      f"{schema['maxLength']} are allowed", pointer)
            return False
        return True

    def number_rules(self, schema: Schema, value: float, pointer: str) -> bool:
        low, high, above = schema.get("minimum"), schema.get("maximum"), schema.get("exclusiveMinimum")
        if (low is not None and value < low) or (high is not None and value > high) or (
                above is not None and value <= above):
            self.fail()
            self.emit("schema-range", f"{_what(pointer)} is {_show(value, schema)}; expected a value "
                      f"{_bounds(low, high, above)}", pointer)
            return False
        return True

    def object_rules(self, schema: Schema, value: dict[str, Any], pointer: str) -> None:
        for name in schema.get("required", ()):
            if name not in value:
                self.fail()
                self.emit("schema-required", f"{_kind(schema, pointer)} is missing the required field "
                          f"`{name}`", pointer, hint=_guess_variant(schema, value, name))
        props: dict[str, Schema] | None = schema.get("properties")
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        if props is None and extra is True and names is None:
            return
        for key, item in value.items():
            child = join(pointer, key)
            if names is not None and not self.holds(names, key, child):
                shape = names.get("title") or f"matching {names.get('pattern')}"
                self.fail()
                self.emit("schema-pattern", f"key '{key}' is not {shape}", child, key=True)
            sub = props.get(key) if props else None
            if sub is not None:
                self.check(sub, item, child)
            elif extra is False:
                self.fail()
                self.emit("unknown-field", f"unknown field `{key}` in {_kind(schema, pointer)}", child,
                          key=True, severity=Severity.WARNING, hint=_unknown_hint(key, props or {}))
            elif extra is not True:
                self.check(extra, item, child)

    def array_rules(self, schema: Schema, value: list[Any], pointer: str) -> None:
        least = schema.get("minItems")
        if least is not None and len(value) < least:
            self.fail()
            self.emit("schema-min-items", f"{_what(pointer)} must have at least {least} item(s); found "
                      f"{len(value)}", pointer)
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                self.check(items, item, join(pointer, index))

    def any_of(self, branches: list[Schema], value: Any, pointer: str) -> None:
        fields = _field_alternatives(branches)
        if fields is not None:  # "at least one of these fields"
            if isinstance(value, dict) and not any(all(f in value for f in group) for group in fields):
                self.fail()
                names = _or([f"`{group[0]}`" for group in fields])
                self.emit("schema-required", f"{_what(pointer)} needs one of the fields {names}", pointer)
            return
        for branch in branches:  # alternatives of different JSON types
            if _is_type(value, _branch_type(branch)):
                self.check(branch, value, pointer)
                return
        if pointer in self.templated:
            return
        self.fail()
        wanted = _or([_expected(_branch_type(b)) for b in branches])
        self.emit("schema-type", f"{_what(pointer)} must be {wanted}; found {_show(value, {})}", pointer)

    def negation(self, inner: Schema, value: Any, pointer: str) -> None:
        fields = inner.get("required")
        if fields is not None and set(inner) <= {"required", "description"}:
            if isinstance(value, dict) and all(f in value for f in fields):
                self.fail()
                if len(fields) == 1:
                    message = f"field `{fields[0]}` is not allowed in {_kind({}, pointer)}"
                else:
                    message = f"{_and([f'`{f}`' for f in fields])} cannot be used together"
                self.emit("schema-conflict", message, join(pointer, fields[-1]), key=True,
                          hint=inner.get("description"))
            return
        if self.holds(inner, value, pointer):
            self.fail()
            self.emit("schema-conflict", f"{_what(pointer)} has a combination of fields that is not allowed",
                      pointer, hint=inner.get("description"))


# --- helpers ---------------------------------------------------------------------------------------


_QUICK: dict[int, Callable[[Any], bool] | None] = {}


def _quick_test(schema: Schema) -> Callable[[Any], bool] | None:
    """A direct test for the common ``if`` shapes: fields present, a field equal to a constant."""
    key = id(schema)
    if key not in _QUICK:
        _QUICK[key] = _make_quick_test(schema)
    return _QUICK[key]


def _make_quick_test(schema: Schema) -> Callable[[Any], bool] | None:
    fields = schema.get("required", [])
    props = schema.get("properties", {})
    if set(schema) - {"required", "properties"} or any(set(p) != {"const"} for p in props.values()):
        return None
    consts = [(name, p["const"]) for name, p in props.items()]

    def test(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # JSON Schema: object keywords ignore other types
        return all(f in value for f in fields) and all(
            name not in value or _same(value[name], const) for name, const in consts)

    return test


_ANNOTATIONS = frozenset(("$ref", "description", "title", "default", "format", "writeOnly"))


def _annotations_only(schema: Schema) -> bool:
    return schema.keys() <= _ANNOTATIONS


def _resolve(target: str) -> Schema:
    return _DEFS[target.rsplit("/", 1)[-1]]


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _is_type(value: Any, expected: str | list[str]) -> bool:
    if isinstance(expected, list):
        return any(_is_type(value, e) for e in expected)
    if expected == "string":
        return isinstance(value, str)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if expected == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if expected == "number":
        return isinstance(value, (int, float))
    return expected == "null" and value is None


def _same(value: Any, option: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(value, bool) or isinstance(option, bool):
        return isinstance(value, bool) and isinstance(option, bool) and value == option
    if isinstance(value, (int, float)) and isinstance(option, (int, float)):
        return value == option
    return type(value) is type(option) and value == option


def _branch_type(branch: Schema) -> str | list[str] | None:
    while "type" not in branch and "$ref" in branch:
        branch = _resolve(branch["$ref"])
    return branch.get("type")


def _field_alternatives(branches: list[Schema]) -> list[list[str]] | None:
    if all(set(b) == {"required"} for b in branches):
        return [b["required"] for b in branches]
    return None


def _guess_variant(schema: Schema, value: dict[str, Any], field: str) -> str | None:
    """For a missing discriminator: the variant whose fields best match the ones present."""
    scores: dict[str, int] = {}
    for rule in schema.get("allOf", ()):
        condition = rule.get("if", {})
        if condition.get("required") != [field] or "then" not in rule:
            continue
        tag = condition["properties"][field]["const"]
        fields = _resolve(rule["then"]["$ref"]).get("properties", {})
        scores[tag] = sum(1 if k in fields else -1 for k in value)
    if not scores:
        return None
    best = max(scores.values())
    winners = [tag for tag, score in scores.items() if score == best]
    return f"add `{field}: {winners[0]}`" if best > 0 and len(winners) == 1 else None


def _unknown_hint(key: str, props: dict[str, Schema]) -> str | None:
    import difflib  # only when there is something to report

    match = difflib.get_close_matches(key, list(props), n=1)
    if match:
        return f"did you mean `{match[0]}`?"
    for name, sub in props.items():  # e.g. `exposes` written at the root instead of under `capability`
        while "$ref" in sub:
            sub = _resolve(sub["$ref"])
        if sub.get("type") == "object" and key in sub.get("properties", {}):
            return f"`{key}` belongs under `{name}`"
    return None


def _closest(value: Any, options: list[str]) -> str | None:
    if not isinstance(value, str) or not options:
        return None
    import difflib

    lowered = {o.lower(): o for o in options}
    if value.lower() in lowered:
        return f"did you mean `{lowered[value.lower()]}`? (values are case-sensitive)"
    match = difflib.get_close_matches(value, options, n=1)
    return f"did you mean `{match[0]}`?" if match else None


def _what(pointer: str) -> str:
    """A short name for the value at ``pointer``: `port`, item 2 of `tools`, the document."""
    if not pointer:
        return "the document"
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    last = parts[-1]
    if last.isdigit() and len(parts) > 1:
        return f"item {int(last) + 1} of `{parts[-2]}`"
    return f"`{last}`"


def _kind(schema: Schema, pointer: str) -> str:
    """`what` plus the kind of object when the schema names it: item 2 of `steps` (lookup step)."""
    title, what = schema.get("title"), _what(pointer)
    if not title or not pointer or what.strip("`").lower() == title.lower():
        return what if pointer else (title or what)
    return f"{what} ({title})"


def _expected(expected: str | list[str] | None) -> str:
    if isinstance(expected, list):
        return _or([_TYPE_NAMES.get(e, e) for e in expected])
    return _TYPE_NAMES.get(expected or "", "a value")


def _show(value: Any, schema: Schema) -> str:
    """The value found, for a message. Secrets (``writeOnly``) are never shown."""
    kind = _TYPE_NAMES.get(_json_type(value), "a value")
    if schema.get("writeOnly") or isinstance(value, (dict, list)):
        return kind
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"{json.dumps(text, ensure_ascii=False)} ({kind})"
    return f"{json.dumps(value)} ({kind})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _bounds(low: float | None, high: float | None, above: float | None) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if above is not None:
        return f"greater than {above}"
    return f"of at least {low}" if low is not None else f"of at most {high}"


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
