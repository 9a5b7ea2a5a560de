"""The shape of a Naftiko capability document, as one JSON Schema (Draft 2020-12).

``SCHEMA`` is the single source of truth for the document's structure: ``naftiko schema``
exports it for editors (yaml-language-server shows the descriptions), and
``validate.structure`` checks documents against it and turns the problems into located
diagnostics. It covers every field of 1.0.0-alpha2, the older 0.5 and 1.0.0-alpha1 forms that
differ (``externalRefs``, list-shaped array ``items``), alpha3 (identical to alpha2), and this
runtime's own extensions, each marked "naftiko-runtime extension" in its description.

Only keywords whose failures ``validate.structure`` knows how to explain are used: type,
properties, required, additionalProperties, propertyNames, items, minItems, enum, const, pattern,
minLength, maxLength, minimum, maximum, exclusiveMinimum, $ref, allOf, anyOf (either "one of
these fields is required" or alternatives of different JSON types), not (of ``required``:
fields that exclude each other) and if/then/else (unions discriminated by a field).
Annotations: description, title, default, format, writeOnly (marks secrets: never echoed).

The definitions live by concern: ``document`` (top level), ``consumes``, ``auth``, ``exposes``,
``orchestration`` (aggregates, steps) and ``outputs``; ``_dsl`` holds the builders and patterns.
"""

from __future__ import annotations

import json

from naftiko_runtime.spec import auth, consumes, document, exposes, orchestration, outputs, resilience
from naftiko_runtime.spec._dsl import Schema, array, exclusive, one_of_fields, ref, when

__all__ = ["SCHEMA", "SCHEMA_ID", "VERSIONS", "Schema", "schema_json"]

SCHEMA_ID = "https://naftiko.dev/schemas/naftiko-runtime.json"
VERSIONS = ("0.5", "1.0.0-alpha1", "1.0.0-alpha2", "1.0.0-alpha3")

SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Naftiko capability",
    "description": "A Naftiko capability (versions 0.5 to 1.0.0-alpha3) as run by naftiko-runtime: "
                   "the HTTP APIs it consumes and the MCP, REST, skill and control servers it exposes.",
    "type": "object",
    "required": ["naftiko"],
    "properties": {
        "naftiko": {"enum": [*VERSIONS, 0.5],
                    "description": "Spec version of this document, e.g. \"1.0.0-alpha2\". Keep it the "
                                   "first key; quote it."},
        "info": ref("Info"),
        "capability": ref("Capability"),
        "consumes": array(ref("ConsumesEntry"), "Shared upstream APIs: a file of only `consumes` is imported "
                          "by capabilities (`location` + `import`).", min_items=1),
        "binds": document.BINDS,
        "externalRefs": array(ref("ExternalRef"), "0.5 only: variable sources (replaced by `binds`).",
                              min_items=1),
    },
    "additionalProperties": False,
    "allOf": [
        one_of_fields("capability", "consumes"),
        exclusive("capability", "consumes",
                  why="a document is a capability or a shared-consumes file; move `consumes` under "
                      "`capability`"),
        when({"not": {"required": ["naftiko"], "properties": {"naftiko": {"enum": ["0.5", 0.5]}}}},
             exclusive("externalRefs", why="`externalRefs` exists only in 0.5; use `binds`")),
    ],
    # In document order: the exported file lists them so, and must not change from run to run.
    "$defs": {**document.DEFS, **consumes.DEFS, **resilience.DEFS, **auth.DEFS, **exposes.DEFS,
              **orchestration.DEFS, **outputs.DEFS},
}


def schema_json() -> str:
    """The schema as pretty JSON (key order as written here, stable across runs)."""
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"
