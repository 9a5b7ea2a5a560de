"""The building blocks of the spec schema: small builders and the string patterns.

Each builder returns a plain JSON Schema (Draft 2020-12) dict, so a definition reads like the
document it describes. Every pattern has a title in ``TITLES`` that says in words what it accepts;
diagnostics quote it instead of the regular expression.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# --- patterns (titles say in words what each one accepts) ----------------------------------------

KEBAB = r"^[A-Za-z0-9-]+$"
NAME = r"^[A-Za-z0-9_*-]+$"
VARIABLE = r"^[A-Z][A-Z0-9_]*$"
SCHEME_URI = r"^[A-Za-z][A-Za-z0-9+.-]*://"
FILE_URI = r"^file:///"
CALL_REF = r"^[A-Za-z0-9-]+\.[A-Za-z0-9-]+$"
DATE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
PARAM_NAME = r"^[^{}]+$"
TARGET_NAME = r"^[A-Za-z0-9_.-]+$"
STATUS_CODE = r"^[1-5][0-9X]{2}$"
BINARY_SIZE = r"^\d+(\.\d+)?(B|KiB|MiB|GiB)$"
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
MIME_TYPE = rf'^{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|"[^"]*"))*$'
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
ADDRESS = (rf"^(?:{_LABEL}(?:\.{_LABEL})*"  # host name
           rf"|(?:{_OCTET}\.){{3}}{_OCTET}"  # IPv4
           r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})$")  # IPv6 (loose)

TITLES = {
    KEBAB: "an identifier of letters, digits and hyphens",
    NAME: "a name of letters, digits, '-', '_' or '*'",
    VARIABLE: "an UPPER_SNAKE_CASE variable name",
    SCHEME_URI: "a URI with a scheme, such as file:///path or vault://path",
    FILE_URI: "a file:/// URI",
    CALL_REF: "a reference of the form namespace.name",
    DATE: "a date of the form YYYY-MM-DD",
    EMAIL: "an e-mail address",
    PARAM_NAME: "a name without braces (dots and brackets are fine: filters.status, tag[0])",
    TARGET_NAME: "a name of letters, digits, '-', '_' or '.' (dots nest)",
    STATUS_CODE: "an HTTP status code such as 200 or 2XX",
    BINARY_SIZE: "a size such as 512KiB, 10MiB or 1GiB",
    MIME_TYPE: "a media type such as application/json",
    ADDRESS: "a host name or an IP address",
}

# --- small builders ----------------------------------------------------------------------------


def _doc(schema: Schema, description: str | None, default: Any = None) -> Schema:
    if description:
        schema["description"] = description
    if default is not None:
        schema["default"] = default
    return schema


def ref(name: str, description: str | None = None) -> Schema:
    return _doc({"$ref": f"#/$defs/{name}"}, description)


def string(description: str | None = None, *, pattern: str | None = None, enum: tuple[str, ...] = (),
           const: str | None = None, min_length: int | None = None, max_length: int | None = None,
           default: str | None = None, uri: bool = False, secret: bool = False) -> Schema:
    schema: Schema = {"type": "string"}
    if const is not None:
        schema["const"] = const
    if enum:
        schema["enum"] = list(enum)
    if pattern:
        schema["pattern"] = pattern
        schema["title"] = TITLES[pattern]
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if uri:
        schema["format"] = "uri"
    if secret:
        schema["writeOnly"] = True
    return _doc(schema, description, default)


def integer(description: str | None = None, *, minimum: int | None = None, maximum: int | None = None,
            default: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return _doc(schema, description, default)


def number(description: str | None = None, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None, default: float | None = None) -> Schema:
    schema: Schema = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if above is not None:
        schema["exclusiveMinimum"] = above
    if maximum is not None:
        schema["maximum"] = maximum
    return _doc(schema, description, default)


def boolean(description: str | None = None, *, default: bool | None = None) -> Schema:
    return _doc({"type": "boolean"}, description, default)


def array(items: Schema, description: str | None = None, *, min_items: int | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    return _doc(schema, description)


def map_of(values: Schema, description: str | None = None, *, keys: str | None = None) -> Schema:
    """An object used as a dictionary: any key (matching ``keys``), each value matching ``values``."""
    schema: Schema = {"type": "object"}
    if keys:
        schema["propertyNames"] = {"pattern": keys, "title": TITLES[keys]}
    schema["additionalProperties"] = values
    return _doc(schema, description)


def obj(props: dict[str, Schema], *, required: tuple[str, ...] = (), rules: tuple[Schema, ...] = (),
        description: str | None = None, title: str | None = None) -> Schema:
    """A closed object: fields not listed in ``props`` are reported."""
    schema: Schema = {"type": "object"}
    if title:
        schema["title"] = title
    _doc(schema, description)
    if required:
        schema["required"] = list(required)
    schema["properties"] = props
    schema["additionalProperties"] = False
    if rules:
        schema["allOf"] = list(rules)
    return schema


def either(*alternatives: Schema, description: str | None = None) -> Schema:
    """Alternatives told apart by JSON type (string or object, ...): errors follow the matching one."""
    return _doc({"anyOf": list(alternatives)}, description)


def has(*fields: str) -> Schema:
    return {"required": list(fields)}


def one_of_fields(*fields: str) -> Schema:
    """At least one of ``fields`` must be present."""
    return {"anyOf": [has(f) for f in fields]}


def exclusive(*fields: str, why: str) -> Schema:
    """``fields`` may not all be present together; ``why`` becomes the diagnostic's hint."""
    return {"not": {"required": list(fields), "description": why}}


def when(condition: Schema, then: Schema, otherwise: Schema | None = None) -> Schema:
    rule: Schema = {"if": condition, "then": then}
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


def is_(field: str, value: str) -> Schema:
    return {"required": [field], "properties": {field: {"const": value}}}


def tagged(field: str, variants: dict[str, str], *, what: str, required: tuple[str, ...] = (),
           legacy: dict[str, str] | None = None, description: str | None = None) -> Schema:
    """A union told apart by ``field`` (usually ``type``): each value selects one ``$defs`` entry.

    Only the selected variant is checked, so errors name the fields that variant expects.
    ``legacy`` values are not allowed, but the rest of the object is still checked as the variant
    that replaced them, so an old document learns everything it has to change at once. ``what``
    describes the discriminator field.
    """
    rules = [when(is_(field, value), ref(target)) for value, target in {**variants, **(legacy or {})}.items()]
    return _doc({
        "type": "object",
        "required": [field, *required],
        "properties": {field: {"enum": list(variants), "description": what}},
        "allOf": rules,
    }, description)


def outputs(items: Schema, *, min_items: int | None = None) -> Schema:
    schema: Schema = {"items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    return {"properties": {"outputParameters": schema}}


def titled(defs: dict[str, Schema], titles: dict[str, str]) -> dict[str, Schema]:
    """``defs`` with each one's human name first: editors show it, diagnostics say "in a REST adapter"."""
    return {name: {"title": titles[name], **schema} for name, schema in defs.items()}
