"""The exported spec schema: valid Draft 2020-12, complete for alpha2, documented, and only
written with keywords whose failures the structural check knows how to translate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from naftiko_runtime.spec import SCHEMA, SCHEMA_ID, VERSIONS, schema_json
from naftiko_runtime.validate.structure import TRANSLATED

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
ALPHA2 = CORPUS / "naftiko" / "schemas" / "naftiko-schema-v1.0.0-alpha2.json"

# Keywords that never fail by themselves: the library reports the keyword inside them that does.
APPLICATORS = {"$schema", "$id", "$defs", "$ref", "properties", "items", "allOf", "if", "then", "else"}
ANNOTATIONS = {"description", "title", "default", "format", "writeOnly"}
# Keywords whose value is a map of names to schemas (their keys are not keywords).
NAMED = {"properties", "$defs"}

# Official alpha2 definitions that this schema merges or inlines: name -> path in ours.
OURS = {
    "MappedOutputParameterBase": ("MappedOutputParameterScalar",),
    "MappedOutputParameterString": ("MappedOutputParameterScalar",),
    "MappedOutputParameterNumber": ("MappedOutputParameterScalar",),
    "MappedOutputParameterBoolean": ("MappedOutputParameterScalar",),
    "OrchestratedOutputParameterBase": ("OrchestratedOutputParameterScalar",),
    "OperationStepBase": ("OperationStepCall",),
    "AuthOAuth2": ("AuthOAuth2Server",),
    "ObservabilityMetricsSpec": ("ObservabilitySpec", "metrics"),
    "ObservabilityTracesSpec": ("ObservabilitySpec", "traces"),
    "ObservabilityTracesLocalSpec": ("ObservabilitySpec", "traces", "local"),
    "ObservabilityExportersSpec": ("ObservabilitySpec", "exporters"),
    "ObservabilityOtlpExporterSpec": ("ObservabilitySpec", "exporters", "otlp"),
}
EXTENSIONS = {
    ("ConsumesHttp", "timeout"), ("ConsumesHttp", "retry"), ("ExposesMcp", "stateless"),
    ("AuthBearer", "value"), ("AuthBearer", "placement"), ("ConsumedInputParameter", "type"),
    ("ConsumedInputParameter", "required"), ("ConsumedInputParameter", "description"),
    ("AuthOAuth2Client", "clientId"), ("AuthOAuth2Client", "clientSecret"), ("ConsumesHttp", "resilience"),
    ("ConsumedHttpOperation", "resilience"), ("ConsumedHttpOperation", "pagination"), ("ConsumesHttp", "headers"),
}


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object inside ``node`` with its location."""
    if isinstance(node, bool):
        return
    yield path, node
    for key, value in node.items():
        if key in NAMED:
            for name, sub in value.items():
                yield from walk(sub, f"{path}/{key}/{name}")
        elif key in ("allOf", "anyOf"):
            for i, sub in enumerate(value):
                yield from walk(sub, f"{path}/{key}/{i}")
        elif key in ("items", "additionalProperties", "propertyNames", "not", "if", "then", "else") and \
                isinstance(value, dict):
            yield from walk(value, f"{path}/{key}")


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == SCHEMA_ID == "https://naftiko.dev/schemas/naftiko-runtime.json"


def test_schema_json_is_stable_pretty_json_of_the_schema() -> None:
    text = schema_json()
    assert json.loads(text) == json.loads(json.dumps(SCHEMA))
    assert text == schema_json()
    assert text.startswith("{\n  ")


def test_every_supported_version_is_accepted_as_the_naftiko_key() -> None:
    allowed = SCHEMA["properties"]["naftiko"]["enum"]
    assert set(VERSIONS) <= set(allowed)
    assert set(VERSIONS) == {"0.5", "1.0.0-alpha1", "1.0.0-alpha2", "1.0.0-alpha3"}


def test_every_keyword_that_can_fail_is_one_the_structural_check_translates() -> None:
    for path, node in walk(SCHEMA):
        assert set(node) <= TRANSLATED | APPLICATORS | ANNOTATIONS, (path, set(node) - TRANSLATED - APPLICATORS)
        if "not" in node and "/if" not in path:  # outside conditions, `not` only excludes fields
            assert set(node["not"]) <= {"required", "description"}, path


def test_type_alternatives_have_disjoint_json_types() -> None:
    """The structural check reports the alternative that takes the value's JSON type: only one may."""
    for path, node in walk(SCHEMA):
        branches = node.get("anyOf", [])
        if not branches or all(set(b) == {"required"} for b in branches):
            continue
        kinds: list[str] = []
        for branch in branches:
            kind = resolve(branch).get("type")
            assert kind is not None, path
            kinds.extend(kind if isinstance(kind, list) else [kind])
        assert len(kinds) == len(set(kinds)), path
        assert not ({"integer", "number"} <= set(kinds)), path


def test_every_field_has_a_description() -> None:
    for path, node in walk(SCHEMA):
        for name, prop in node.get("properties", {}).items():
            if set(prop) == {"const"} or path.endswith("/if"):
                continue  # discriminator tests inside if/then
            if "/allOf/" in path or "/then" in path or "/else" in path:
                continue  # refinements of fields described on the object itself
            assert prop.get("description") or resolve(prop).get("description") or "enum" in prop, \
                f"{path}/properties/{name}"


def test_runtime_extensions_say_so_in_their_description() -> None:
    for definition, field in EXTENSIONS:
        text = SCHEMA["$defs"][definition]["properties"][field]["description"]
        assert "naftiko-runtime extension" in text, (definition, field)


@pytest.mark.skipif(not ALPHA2.is_file(), reason="official alpha2 schema not available")
def test_every_alpha2_field_and_enum_value_is_covered() -> None:
    official = json.loads(ALPHA2.read_text(encoding="utf-8"))
    definitions = {"<root>": official, **official["$defs"]}
    for name, definition in definitions.items():
        fields: dict[str, Any] = dict(definition.get("properties", {}))
        for part in definition.get("allOf", []):
            fields.update(part.get("properties", {}))
        if not fields:
            continue
        ours: dict[str, Any] = SCHEMA if name == "<root>" else SCHEMA["$defs"][OURS.get(name, (name,))[0]]
        for step in OURS.get(name, (name,))[1:]:
            ours = ours["properties"][step]
        for field, spec in fields.items():
            assert field in ours["properties"], (name, field)
            if isinstance(spec, dict) and "enum" in spec:
                mine = resolve(ours["properties"][field])
                allowed = set(mine.get("enum", [])) | ({mine["const"]} if "const" in mine else set())
                if name.startswith(("MappedOutputParameter", "OrchestratedOutputParameter", "OperationStep")):
                    continue  # discriminators: the union lists the values
                assert set(spec["enum"]) <= allowed, (name, field)


def test_the_committed_editor_schema_is_what_naftiko_schema_prints() -> None:
    from pathlib import Path

    from naftiko_runtime.spec import schema_json

    committed = Path(__file__).resolve().parents[1] / "schemas" / "naftiko.schema.json"
    assert committed.read_text(encoding="utf-8").strip() == schema_json().strip(), (
        "run `naftiko schema > schemas/naftiko.schema.json`")
