"""Structural check: does the document have the shape ``spec.SCHEMA`` describes?

The JSON Schema library (``jsonschemas``) finds the problems; this module translates each into a
located diagnostic that speaks the author's language:

* every problem is reported, each at its own JSON pointer, but one wrong value once: the first
  verdict in ``_VALUE_KEYWORDS`` order, and nothing about what lies under it;
* unions discriminated by a field (``tagged`` in spec) only check the variant the field names, so
  errors speak about it; "string or object" alternatives (``either``) follow the branch of the
  value's JSON type;
* fields that exclude each other (``not: {required: [...]}``) conflict, with the rule's description
  as the hint;
* unknown fields are warnings, located at the key, with a "did you mean" hint and the allowed names;
* secrets (``writeOnly``) are never echoed, and values rendered from load-time templates are not
  checked (their final value is not known here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from naftiko_runtime.errors import Diagnostic
from naftiko_runtime.ikanos import RENAMES
from naftiko_runtime.jsonschemas import Path, Problem, Validator
from naftiko_runtime.load import LEGACY_VERSIONS, Document
from naftiko_runtime.source import join
from naftiko_runtime.spec import SCHEMA, Schema

# Keywords that judge one value; when several reject it, the first one here gives the verdict
# (a key's format before its value; an unknown discriminator before what its variant expects).
_VALUE_KEYWORDS = ("propertyNames", "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum",
                   "maximum", "exclusiveMinimum")
_TYPE_RANK = _VALUE_KEYWORDS.index("type")
# Every keyword that can fail, as this module translates it (a test checks the schema uses no other).
TRANSLATED = frozenset((*_VALUE_KEYWORDS, "anyOf", "required", "additionalProperties", "minItems", "not"))
_TYPE_NAMES = {
    "object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "a boolean", "null": "null",
}
_IKANOS_NAMES = {naftiko: ikanos_name for ikanos_name, naftiko in RENAMES.items()}
_ALLOWED_SHOWN = 12  # names listed in an unknown-field hint
# Names other tools use for a field of ours (OpenAPI, HTTP clients): the likely intent.
_SYNONYMS = {"in": "placement", "location": "placement", "name": "key", "header": "key", "user": "username",
             "login": "username", "pass": "password", "secret": "clientSecret", "client_id": "clientId",
             "client_secret": "clientSecret", "token_url": "tokenEndpoint", "tokenurl": "tokenEndpoint",
             "apikey": "value", "api_key": "value", "scope": "scopes", "url": "baseUri", "baseurl": "baseUri"}


@cache
def _validator() -> Validator:
    return Validator(SCHEMA)  # compiled once per process, on the first document


def check_structure(doc: Document) -> list[Diagnostic]:
    """Every structural problem of ``doc`` against ``spec.SCHEMA`` (in the library's order; callers sort)."""
    found = _Translator(doc).translate(_validator().problems(as_written(doc)))
    if doc.version in LEGACY_VERSIONS:  # load already said the version is unsupported
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


class _Translator:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.diag = doc.diag

    def what(self, pointer: str) -> str:
        """``_what`` of the value as the author wrote it (an Ikanos file's keys and field names)."""
        keys = self.doc.pointers.keys if self.doc.pointers is not None else {}
        if pointer in keys:
            return "the name"
        return _what(self.doc.written_pointer(pointer))

    def kind(self, schema: Schema, pointer: str) -> str:
        return _kind(schema, self.doc.written_pointer(pointer))

    def fields(self, props: dict[str, Schema]) -> dict[str, Schema]:
        """An object's fields by the names the document's dialect gives them."""
        return {self.field(k): v for k, v in props.items()} if self.doc.dialect == "ikanos" else props

    def field(self, name: str) -> str:
        """A field's name in the document's dialect."""
        return _IKANOS_NAMES.get(name, name) if self.doc.dialect == "ikanos" else name

    def translate(self, problems: list[Problem]) -> list[Diagnostic]:
        ranked = [pair for problem in problems for pair in self.diagnose(problem)]
        verdicts: dict[str, tuple[int, Diagnostic]] = {}  # wrong value -> its (rank, diagnostic)
        for rank, diag in ranked:
            pointer = diag.location.pointer
            if rank is not None and rank < verdicts.get(pointer, (len(_VALUE_KEYWORDS), diag))[0]:
                verdicts[pointer] = (rank, diag)
        chosen = {diag for _, diag in verdicts.values()}
        return list(dict.fromkeys(diag for rank, diag in ranked if diag in chosen or (
            rank is None and not _under(diag.location.pointer, verdicts))))

    def diagnose(self, problem: Problem) -> Iterator[tuple[int | None, Diagnostic]]:
        """Diagnostics of one problem, each with its rank among verdicts on a value (None: not one)."""
        keyword, value, pointer = problem.keyword, problem.instance, problem.pointer
        schema, rule = _node(problem.schema_path[:-1]), _node(problem.schema_path)
        rank = _VALUE_KEYWORDS.index(keyword) if keyword in _VALUE_KEYWORDS else None
        if keyword == "propertyNames":
            yield rank, self.diag("schema-pattern", f"key '{value}' is not {_shape(rule)}", join(pointer, value),
                                  key=True)
        elif keyword == "anyOf":
            yield from self.alternatives(problem, rule)
        elif rank is not None:
            if pointer not in self.doc.templated:
                yield rank, self.wrong_value(keyword, schema, value, pointer)
        elif keyword == "required":
            for name in (n for n in rule if n not in value):
                yield None, self.diag("schema-required", f"{self.kind(schema, pointer)} is missing the required field "
                                      f"`{self.field(name)}`", pointer, hint=_guess_variant(schema, value, name))
        elif keyword == "additionalProperties":
            props = schema.get("properties", {})
            # In an `authentication` block a misspelt field means a credential never sent: an error.
            code = "auth-unknown-field" if pointer.endswith("/authentication") else "unknown-field"
            for key in (k for k in value if k not in props):
                yield None, self.diag(code, f"unknown field `{key}` in {self.kind(schema, pointer)}",
                                      join(pointer, key), key=True, hint=_unknown_hint(key, self.fields(props)))
        elif keyword == "minItems":
            yield None, self.diag("schema-min-items", f"{self.what(pointer)} must have at least {rule} item(s); "
                                  f"found {len(value)}", pointer)
        elif keyword == "not" and set(rule) <= {"required", "description"}:
            fields = rule["required"]
            message = (f"field `{fields[0]}` is not allowed in {self.what(pointer)}" if len(fields) == 1
                       else f"{_and([f'`{f}`' for f in fields])} cannot be used together")
            yield None, self.diag("schema-conflict", message, join(pointer, fields[-1]), key=True,
                                  hint=rule.get("description"))
        else:  # a keyword (or `not` shape) spec does not use today, a test keeps it so: the library's words
            yield None, self.diag("schema-conflict", problem.message, pointer, hint=rule.get("description")
                                  if isinstance(rule, dict) else None)

    def alternatives(self, problem: Problem, branches: list[Schema]) -> Iterator[tuple[int | None, Diagnostic]]:
        """anyOf: "one of these fields is required", or alternatives told apart by JSON type."""
        pointer = problem.pointer
        if all(set(branch) == {"required"} for branch in branches):
            names = _or([f"`{branch['required'][0]}`" for branch in branches])
            yield None, self.diag("schema-required", f"{self.what(pointer)} needs one of the fields {names}", pointer)
            return
        # The alternative that takes the value's JSON type is the one the author meant.
        mismatches = [[p for p in found if p.keyword == "type" and p.path == problem.path]
                      for found in problem.branches]
        for found, mismatch in zip(problem.branches, mismatches, strict=True):
            if not mismatch:
                for sub in found:
                    yield from self.diagnose(sub)
                return
        if pointer not in self.doc.templated:
            types = _or([_expected(_node(mismatch[0].schema_path)) for mismatch in mismatches])
            yield _TYPE_RANK, self.diag("schema-type", f"{self.what(pointer)} must be {types}; found "
                                        f"{_show(problem.instance, {})}", pointer)

    def wrong_value(self, keyword: str, schema: Schema, value: Any, pointer: str) -> Diagnostic:
        what, shown, rule = self.what(pointer), _show(value, schema), schema[keyword]
        if keyword == "type":
            return self.diag("schema-type", f"{what} must be {_expected(rule)}; found {shown}", pointer)
        if keyword == "enum":
            return self.diag("schema-enum", f"{what} is {shown}; expected one of {', '.join(map(_literal, rule))}",
                             pointer, hint=_closest(value, [o for o in rule if isinstance(o, str)]))
        if keyword == "const":
            return self.diag("schema-const", f"{what} is {shown}; expected {_literal(rule)}", pointer)
        if keyword == "pattern":
            return self.diag("schema-pattern", f"{what} is {shown}, which is not {_shape(schema)}", pointer)
        if keyword == "minLength":
            return self.diag("schema-min-length", f"{what} must have at least {rule} character(s); found "
                             f"{len(value)}", pointer)
        if keyword == "maxLength":
            return self.diag("schema-max-length", f"{what} has {len(value)} characters; at most {rule} are "
                             "allowed", pointer)
        low, high, above = schema.get("minimum"), schema.get("maximum"), schema.get("exclusiveMinimum")
        return self.diag("schema-range", f"{what} is {shown}; expected a value {_bounds(low, high, above)}", pointer)


# --- helpers ---------------------------------------------------------------------------------------


def _node(path: Path) -> Any:
    """The part of ``SCHEMA`` at ``path``."""
    node: Any = SCHEMA
    for step in path:
        node = node[step]
    return node


def _resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _under(pointer: str, wrong: dict[str, Any]) -> bool:
    """Whether ``pointer`` is or lies inside a value already judged wrong."""
    return any(pointer == w or pointer.startswith(w + "/") for w in wrong)


def _guess_variant(schema: Schema, value: dict[str, Any], field: str) -> str | None:
    """For a missing discriminator: the variant whose fields best match the ones present."""
    scores: dict[str, int] = {}
    for rule in schema.get("allOf", ()):
        condition = rule.get("if", {})
        if condition.get("required") != [field] or "then" not in rule:
            continue
        fields = _resolve(rule["then"]).get("properties", {})
        scores[condition["properties"][field]["const"]] = sum(1 if k in fields else -1 for k in value)
    best = max(scores.values(), default=0)
    winners = [tag for tag, score in scores.items() if score == best]
    return f"add `{field}: {winners[0]}`" if best > 0 and len(winners) == 1 else None


def _unknown_hint(key: str, props: dict[str, Schema]) -> str:
    """A close name, or the object the field belongs in; then the names allowed here."""
    import difflib  # only when there is something to report

    names = sorted(props)
    allowed = ", ".join(names[:_ALLOWED_SHOWN]) + (", ..." if len(names) > _ALLOWED_SHOWN else "")
    synonym = _SYNONYMS.get(key.lower())
    match = [synonym] if synonym in props else difflib.get_close_matches(key, names, n=1)
    if match:
        return f"did you mean `{match[0]}`? allowed here: {allowed}"
    for name, sub in props.items():  # e.g. `exposes` written at the root instead of under `capability`
        if key in _resolve(sub).get("properties", {}):
            return f"`{key}` belongs under `{name}`; allowed here: {allowed}"
    return f"allowed here: {allowed}" if names else "no fields are allowed here"


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


def _shape(schema: Schema) -> str:
    return schema.get("title") or f"matching {schema.get('pattern')}"


def _expected(expected: str | list[str]) -> str:
    if isinstance(expected, list):
        return _or([_TYPE_NAMES.get(e, e) for e in expected])
    return _TYPE_NAMES.get(expected, "a value")


def _show(value: Any, schema: Schema) -> str:
    """The value found, for a message. Secrets (``writeOnly``) are never shown."""
    kind = _TYPE_NAMES[_json_type(value)]
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
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}.get(type(value), "object")


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
