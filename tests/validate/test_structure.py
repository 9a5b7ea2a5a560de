"""Structural diagnostics: codes, pointers and lines, for the corpus and for crafted documents.

Every crafted document is also validated with the pure-Python ``jsonschema`` against the same
``SCHEMA``: a document has diagnostics exactly when it is invalid, so the translation of
jsonschema-rs's errors neither loses a problem nor invents one.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from naftiko_runtime.codes import CODES
from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.load import Document, load_paths, load_text
from naftiko_runtime.spec import SCHEMA
from naftiko_runtime.validate import structure
from naftiko_runtime.validate.structure import as_written, check_structure

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
CAPABILITIES = CORPUS / "naftiko" / "capabilities"
HMS = CORPUS / "hms" / "capabilities" / "live-streams.yaml"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
VALIDATOR = Draft202012Validator(SCHEMA)

CLEAN = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "17", "22"]

BASE = """\
naftiko: "1.0.0-alpha2"
info:
  label: Demo
  description: A demo capability
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: https://api.example.com/v1
      resources:
        - name: things
          path: /things/{{id}}
          operations:
            - name: get-thing
              method: GET
  exposes:
    - type: mcp
      port: 9090
      namespace: tools
      tools:
        - name: get-thing
          description: Get a thing
          call: api.get-thing
"""


# --- helpers ------------------------------------------------------------------------------------


def load(tmp_path: Path, text: str, name: str = "cap.yaml") -> Document:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    doc = load_paths([path], env={})[0][0]
    assert doc.version is not None, [str(d) for d in doc.diagnostics]
    return doc


def check(tmp_path: Path, text: str) -> list[Diagnostic]:
    """Structural diagnostics of ``text``; asserts jsonschema reaches the same verdict."""
    doc = load(tmp_path, dedent(text))
    found = check_structure(doc)
    assert VALIDATOR.is_valid(as_written(doc)) == (not found), [str(d) for d in found]
    return found


def line(text: str, marker: str) -> int:
    """1-based line of the only line of ``text`` containing ``marker``."""
    hits = [i for i, row in enumerate(dedent(text).splitlines(), 1) if marker in row]
    assert len(hits) == 1, f"{marker!r} found on lines {hits}"
    return hits[0]


def spots(found: list[Diagnostic]) -> set[tuple[str, str, int]]:
    return {(d.code, d.location.pointer, d.location.line) for d in found}


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text
    return text.replace(old, new, 1)


def one(found: list[Diagnostic], code: str) -> Diagnostic:
    matching = [d for d in found if d.code == code]
    assert len(matching) == 1, [str(d) for d in found]
    return matching[0]


# --- corpus -------------------------------------------------------------------------------------


def corpus_docs(pattern: str) -> list[Document]:
    docs, problems = load_paths(sorted(CAPABILITIES.glob(pattern)), env={})
    assert not problems
    return [d for d in docs if d.version is not None]


@needs_corpus
@pytest.mark.parametrize("number", CLEAN)
def test_clean_corpus_capabilities_have_no_structural_diagnostics(number: str) -> None:
    docs = corpus_docs(f"{number}-*")
    assert len(docs) == 1
    assert [str(d) for d in check_structure(docs[0])] == []
    assert VALIDATOR.is_valid(as_written(docs[0]))


@needs_corpus
def test_shared_consumes_files_have_no_structural_diagnostics() -> None:
    docs = corpus_docs("shared/*.y*ml")
    assert {d.kind for d in docs} == {"consumes"}
    for doc in docs:
        assert [str(d) for d in check_structure(doc)] == []


@needs_corpus
def test_every_corpus_document_gets_the_jsonschema_verdict() -> None:
    docs = corpus_docs("*.y*ml") + corpus_docs("shared/*.y*ml")
    assert len(docs) >= 20
    for doc in docs:
        found = check_structure(doc)
        if doc.version not in ("0.2", "0.3", "0.4"):  # the version itself is load's to report
            assert VALIDATOR.is_valid(as_written(doc)) == (not found), doc.path


@needs_corpus
def test_hms_live_streams_dialect_has_zero_diagnostics() -> None:
    docs, _ = load_paths([HMS], env={})
    assert [str(d) for d in check_structure(docs[0])] == []
    assert VALIDATOR.is_valid(as_written(docs[0]))


@needs_corpus
def test_teams_sandbox_reports_skill_groups_at_their_lines_and_accepts_a_rest_description() -> None:
    (doc,) = corpus_docs("18-*")
    found = check_structure(doc)
    assert spots(found) == {
        ("schema-required", "/capability/exposes/2", 66),
        ("unknown-field", "/capability/exposes/2/groups", 71),
    }
    assert {d.severity for d in found if d.code == "unknown-field"} == {Severity.WARNING}


@needs_corpus
def test_legacy_0_4_document_is_pointed_at_type_api_and_untyped_steps() -> None:
    (doc,) = corpus_docs("19-*")
    found = check_structure(doc)
    assert ("schema-enum", "/capability/exposes/0/type", 18) in spots(found)
    step = "/capability/exposes/0/resources/0/operations/0/steps/0"
    untyped = [d for d in found if d.location.pointer == step]
    assert {(d.code, d.location.line) for d in untyped} == {("schema-required", 31)}
    assert len(untyped) == 2  # `type` and `name`
    assert any(d.hint and "type: call" in d.hint for d in untyped)
    assert not [d for d in found if d.location.pointer == "/naftiko"]  # load already said so


# --- crafted documents: one per code ------------------------------------------------------------


def test_base_document_is_valid(tmp_path: Path) -> None:
    assert check(tmp_path, BASE) == []


def test_unknown_field_is_a_warning_at_the_key_with_a_suggestion(tmp_path: Path) -> None:
    text = edit("  description: A demo capability", "  descripton: A demo capability")
    found = check(tmp_path, text)
    typo = one(found, "unknown-field")
    assert (typo.location.pointer, typo.location.line, typo.location.col) == ("/info/descripton", 4, 3)
    assert typo.severity is Severity.WARNING
    assert typo.hint == "did you mean `description`? allowed here: created, description, label, modified, " \
                        "stakeholders, tags, version"
    assert ("schema-required", "/info", 3) in spots(found)


def test_unknown_field_at_the_root_hints_where_it_belongs(tmp_path: Path) -> None:
    text = BASE + "exposes: []\n"
    found = check(tmp_path, text)
    stray = one(found, "unknown-field")
    assert stray.location.pointer == "/exposes"
    assert stray.hint == "`exposes` belongs under `capability`; allowed here: binds, capability, consumes, " \
                         "externalRefs, info, naftiko"


def test_unknown_field_hint_names_the_fields_of_the_variant_in_use(tmp_path: Path) -> None:
    text = edit("      resources:\n", "      authentication: {type: apikey, key: X-Key, value: k, placment: query}\n"
                "      resources:\n")
    typo = one(check(tmp_path, text), "auth-unknown-field")  # a credential never sent: an error
    assert typo.severity is Severity.ERROR
    assert typo.location.pointer == "/capability/consumes/0/authentication/placment"
    assert typo.hint == "did you mean `placement`? allowed here: key, placement, type, value"
    far = one(check(tmp_path, text.replace("placment", "zzz")), "auth-unknown-field")
    assert far.hint == "allowed here: key, placement, type, value"
    synonym = one(check(tmp_path, text.replace("placment", "in")), "auth-unknown-field")
    assert synonym.hint == "did you mean `placement`? allowed here: key, placement, type, value"


def test_unknown_field_hint_stays_short_for_objects_with_many_fields() -> None:
    props = {f"field{n:02d}": {} for n in range(20)}
    hint = structure._unknown_hint("other", props)
    assert hint == "allowed here: " + ", ".join(f"field{n:02d}" for n in range(12)) + ", ..."


def test_missing_required_field_is_reported_at_the_parent_object(tmp_path: Path) -> None:
    text = edit("      baseUri: https://api.example.com/v1\n", "")
    found = check(tmp_path, text)
    assert spots(found) == {("schema-required", "/capability/consumes/0", line(text, "- type: http"))}


def test_wrong_type_is_reported_once_without_cascading(tmp_path: Path) -> None:
    text = edit("      port: 9090", '      port: "9090"')
    assert spots(check(tmp_path, text)) == {("schema-type", "/capability/exposes/0/port", line(text, "port:"))}
    text = edit("        - name: get-thing\n          description: Get a thing\n          call: api.get-thing\n",
                "        - get-thing\n")
    assert spots(check(tmp_path, text)) == {("schema-type", "/capability/exposes/0/tools/0", 21)}


def test_wrong_enum_value_hints_the_closest_allowed_value(tmp_path: Path) -> None:
    text = edit("              method: GET", "              method: get")
    found = check(tmp_path, text)
    wrong = one(found, "schema-enum")
    pointer = "/capability/consumes/0/resources/0/operations/0/method"
    assert (wrong.location.pointer, wrong.location.line) == (pointer, line(text, "method:"))
    assert wrong.hint and "`GET`" in wrong.hint
    assert len(found) == 1


def test_wrong_const_is_reported_at_the_value(tmp_path: Path) -> None:
    text = edit("    - type: http", "    - type: https")
    assert spots(check(tmp_path, text)) == {("schema-const", "/capability/consumes/0/type", 7)}


def test_pattern_mismatch_is_reported_for_values_and_for_keys(tmp_path: Path) -> None:
    text = edit("      namespace: api", "      namespace: My API")
    assert spots(check(tmp_path, text)) == {("schema-pattern", "/capability/consumes/0/namespace", 8)}
    text = BASE + "binds:\n  - namespace: env\n    keys:\n      api_token: API_TOKEN\n"
    found = check(tmp_path, text)
    bad = one(found, "schema-pattern")
    assert (bad.location.pointer, bad.location.line, bad.location.col) == ("/binds/0/keys/api_token", 27, 7)


def test_too_few_items_is_reported_at_the_list(tmp_path: Path) -> None:
    text = edit("      tools:\n        - name: get-thing\n          description: Get a thing\n"
                "          call: api.get-thing\n", "      tools: []\n")
    assert spots(check(tmp_path, text)) == {("schema-min-items", "/capability/exposes/0/tools", 20)}


def test_number_out_of_range_is_reported(tmp_path: Path) -> None:
    text = edit("      port: 9090", "      port: 70000")
    assert spots(check(tmp_path, text)) == {("schema-range", "/capability/exposes/0/port", 18)}


def test_too_long_and_empty_strings_are_reported(tmp_path: Path) -> None:
    skill = f"""\
    naftiko: "1.0.0-alpha2"
    capability:
      exposes:
        - type: skill
          port: 9000
          namespace: skills
          skills:
            - name: guide
              description: {"x" * 1025}
    """
    assert spots(check(tmp_path, skill)) == {
        ("schema-max-length", "/capability/exposes/0/skills/0/description", 9)}
    script = edit("          call: api.get-thing\n",
                  '          steps:\n            - {type: script, name: run, file: ""}\n')
    assert spots(check(tmp_path, script)) == {
        ("schema-min-length", "/capability/exposes/0/tools/0/steps/0/file", 24)}


def test_fields_that_exclude_each_other_are_reported_at_the_second_key(tmp_path: Path) -> None:
    text = edit("      port: 9090", "      transport: stdio\n      port: 9090")
    found = check(tmp_path, text)
    assert spots(found) == {("schema-conflict", "/capability/exposes/0/port", line(text, "  port: 9090"))}
    assert one(found, "schema-conflict").location.col == 7  # the key, not the value


def test_mapping_and_value_together_conflict(tmp_path: Path) -> None:
    text = edit("          call: api.get-thing\n",
                "          call: api.get-thing\n          outputParameters:\n"
                "            - {type: string, mapping: $.name, value: fixed}\n")
    assert spots(check(tmp_path, text)) == {
        ("schema-conflict", "/capability/exposes/0/tools/0/outputParameters/0/value", 25)}


def test_tool_without_any_mode_needs_one_of_the_mode_fields(tmp_path: Path) -> None:
    text = edit("          call: api.get-thing\n", "")
    assert spots(check(tmp_path, text)) == {("schema-required", "/capability/exposes/0/tools/0", 21)}


def test_wrong_discriminator_reports_only_the_discriminator(tmp_path: Path) -> None:
    text = edit("    - type: mcp", "    - type: grpc")
    assert spots(check(tmp_path, text)) == {("schema-enum", "/capability/exposes/0/type", 17)}


def test_untyped_step_gets_a_hint_naming_the_likely_type(tmp_path: Path) -> None:
    text = edit("          call: api.get-thing\n",
                "          steps:\n            - {name: find, index: a, match: id, lookupValue: x,"
                " outputParameters: [id]}\n")
    found = check(tmp_path, text)
    missing = one(found, "schema-required")
    assert (missing.location.pointer, missing.location.line) == ("/capability/exposes/0/tools/0/steps/0", 24)
    assert missing.hint and "type: lookup" in missing.hint


def test_string_or_object_alternatives_follow_the_json_type_of_the_value(tmp_path: Path) -> None:
    body = "/capability/consumes/0/resources/0/operations/0/body"
    typed = edit("              method: GET", "              method: POST\n              body: {type: json}")
    missing = one(check(tmp_path, typed), "schema-required")  # checked as the typed body it is
    assert (missing.location.pointer, missing.message) == (
        body, "`body` (request body) is missing the required field `data`")
    assert check(tmp_path, typed.replace("{type: json}", "'{\"id\": 1}'")) == []  # the raw template form
    number = typed.replace("{type: json}", "42")
    wrong = one(check(tmp_path, number), "schema-type")
    assert (wrong.location.pointer, wrong.message) == (
        body, "`body` must be a string or an object; found 42 (an integer)")


def test_every_independent_problem_is_reported(tmp_path: Path) -> None:
    text = edit("      port: 9090", "      port: 0", edit("              method: GET", "              method: GOT",
                                                       edit("      namespace: api", "      namespace: a b")))
    assert {d.code for d in check(tmp_path, text)} == {"schema-range", "schema-enum", "schema-pattern"}


def test_secret_values_are_never_echoed(tmp_path: Path) -> None:
    text = edit("      resources:\n", "      authentication: {type: bearer, token: 987654321}\n      resources:\n")
    found = check(tmp_path, text)
    wrong = one(found, "schema-type")
    assert wrong.location.pointer == "/capability/consumes/0/authentication/token"
    assert "987654321" not in str(wrong)


def test_templated_values_skip_value_checks(tmp_path: Path) -> None:
    doc = load(tmp_path, edit("      port: 9090", '      port: "9090"'))
    doc.templated.add("/capability/exposes/0/port")
    assert check_structure(doc) == []


def test_the_schema_is_compiled_once_for_every_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[object] = []

    class Counting(structure.Validator):
        def __init__(self, schema: dict[str, Any]) -> None:
            compiled.append(schema)
            super().__init__(schema)

    monkeypatch.setattr(structure, "Validator", Counting)
    structure._validator.cache_clear()
    try:
        check(tmp_path, BASE)
        check(tmp_path, edit("      port: 9090", "      port: 0"))
    finally:
        structure._validator.cache_clear()
    assert compiled == [SCHEMA]


def test_every_code_is_documented() -> None:
    assert all(code == code.lower() and " " not in code and CODES[code].summary for code in CODES)
    assert "unknown-field" in CODES and "schema-required" in CODES


# --- dialect and versions ------------------------------------------------------------------------


def test_runtime_dialect_is_accepted(tmp_path: Path) -> None:
    text = edit("      resources:\n", """\
      authentication: {type: bearer, value: "{{API_TOKEN}}", placement: header}
      timeout: {connect: 2, read: 10.5, total: 30}
      retry: {attempts: 3, backoff: 0.5, statuses: [502, 503]}
      inputParameters:
        - {name: id, in: path, type: string, required: true, description: The id}
      resources:
""")
    text = edit("      port: 9090", "      port: 9090\n      stateless: true", text)
    assert check(tmp_path, text) == []


def test_oauth2_client_credentials_on_consumes_and_resource_server_on_exposes(tmp_path: Path) -> None:
    client = ("      authentication: {type: oauth2, tokenEndpoint: 'https://auth.example.com/token',"
              " clientId: app, clientSecret: '{{SECRET}}', scopes: [read], audience: api}\n")
    text = edit("      resources:\n", client + "      resources:\n")
    server = ("      authentication: {type: oauth2, authorizationServerUri: 'https://auth.example.com',"
              " resource: 'https://mcp.example.com'}\n")
    text = edit("      port: 9090\n", "      port: 9090\n" + server, text)
    assert check(tmp_path, text) == []
    swapped = edit("      port: 9090\n", "      port: 9090\n" + client.replace("clientId: app, ", ""))
    assert spots(check(tmp_path, swapped)) == {  # the client form is not accepted on a server
        ("schema-required", "/capability/exposes/0/authentication", 19),
        ("auth-unknown-field", "/capability/exposes/0/authentication/clientSecret", 19)}
    no_id = edit("      resources:\n", client.replace("clientId: app, ", "") + "      resources:\n")
    assert spots(check(tmp_path, no_id)) == {("schema-required", "/capability/consumes/0/authentication", 10)}


def test_runtime_tuning_fields_are_range_checked(tmp_path: Path) -> None:
    text = edit("      resources:\n", "      timeout: {read: 0}\n      retry: {attempts: 11}\n      resources:\n")
    assert spots(check(tmp_path, text)) == {
        ("schema-range", "/capability/consumes/0/timeout/read", 10),
        ("schema-range", "/capability/consumes/0/retry/attempts", 11),
    }


def test_bearer_token_and_value_together_conflict(tmp_path: Path) -> None:
    text = edit("      resources:\n", "      authentication: {type: bearer, token: a, value: b}\n      resources:\n")
    assert {d.code for d in check(tmp_path, text)} == {"schema-conflict"}


def test_legacy_rest_type_is_still_checked_as_a_rest_adapter(tmp_path: Path) -> None:
    text = edit("    - type: mcp", "    - type: api")
    found = check(tmp_path, text)
    assert ("schema-enum", "/capability/exposes/0/type", 17) in spots(found)
    assert ("unknown-field", "/capability/exposes/0/tools", 20) in spots(found)


def test_document_with_both_capability_and_consumes_conflicts(tmp_path: Path) -> None:
    text = BASE + "consumes:\n  - {location: ./x.yml, import: x}\n"
    assert "schema-conflict" in {d.code for d in check(tmp_path, text)}


def test_0_5_external_refs_are_checked_as_written(tmp_path: Path) -> None:
    text = """\
    naftiko: 0.5
    externalRefs:
      - {name: env, type: variables, resolution: runtime, keys: {notion_token: NOTION_TOKEN}}
      - {name: f, type: environment, resolution: files, uri: secrets.json, keys: {a: b}}
    capability:
      consumes:
        - type: http
          namespace: api
          baseUri: https://api.example.com
          resources: [{name: r, path: /r, operations: [{name: op, method: GET}]}]
      exposes:
        - type: mcp
          port: 9090
          namespace: tools
          tools:
            - name: t
              description: d
              call: api.op
              outputParameters:
                - type: array
                  mapping: $.items
                  items: [{type: string, mapping: $.name}]
    """
    assert spots(check(tmp_path, text)) == {("schema-enum", "/externalRefs/1/resolution", 4)}
    fixed = dedent(text).replace("resolution: files", "resolution: file")
    assert check(tmp_path, fixed) == []
    later = fixed.replace("naftiko: 0.5", 'naftiko: "1.0.0-alpha2"')
    assert spots(check(tmp_path, later)) == {("schema-conflict", "/externalRefs", 2)}


def test_problems_in_imported_consumes_point_into_the_shared_file(tmp_path: Path) -> None:
    (tmp_path / "shared.yml").write_text(dedent("""\
        naftiko: "1.0.0-alpha2"
        consumes:
          - type: http
            namespace: api
            baseUri: https://api.example.com
            resources:
              - name: things
                path: /things
                operations:
                  - {name: list, method: LIST}
        """), encoding="utf-8")
    text = edit("""\
    - type: http
      namespace: api
      baseUri: https://api.example.com/v1
      resources:
        - name: things
          path: /things/{{id}}
          operations:
            - name: get-thing
              method: GET
""", "    - {location: ./shared.yml, import: api}\n").replace("api.get-thing", "api.list")
    found = check(tmp_path, text)
    wrong = one(found, "schema-enum")
    assert wrong.location.file.endswith("shared.yml")
    assert (wrong.location.pointer, wrong.location.line) == (
        "/capability/consumes/0/resources/0/operations/0/method", 10)


# --- agreement under mutation --------------------------------------------------------------------

_VALUES: list[Any] = [42, "x", "Bad Value!", [], {}, None, True, -1, 3.5, "a.b", "file:///x", [{}],
                      {"type": "x"}, 0, "GET", "string", "http", "stdio", "object", "array", "call"]
_KEYS = ["extra", "type", "name", "port", "steps", "call", "ref", "location", "mapping", "value",
         "items", "properties", "transport", "template", "from", "token"]


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.extend(_nodes(child, (*path, key)))
    return found


def _mutate(data: dict[str, Any], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        candidates = _nodes(data)[1:]
        if not candidates:
            return
        path = rng.choice(candidates)
        parent: Any = data
        for step in path[:-1]:
            parent = parent[step]
        roll = rng.random()
        if roll < 0.3 and isinstance(parent, dict):
            del parent[path[-1]]
        elif roll < 0.45 and isinstance(parent[path[-1]], dict):
            parent[path[-1]][rng.choice(_KEYS)] = rng.choice(_VALUES)
        else:
            parent[path[-1]] = rng.choice(_VALUES)


@pytest.mark.no_cover  # a sweep over the corpus: slow under the tracer, its code is covered elsewhere
@needs_corpus
def test_diagnostics_and_the_jsonschema_verdict_agree_on_mutated_corpus_documents(tmp_path: Path) -> None:
    seeds = [as_written(d) for d in corpus_docs("*.y*ml") if d.version not in ("0.2", "0.3", "0.4")]
    seeds.append(as_written(load_paths([HMS], env={})[0][0]))
    rng = random.Random(20260525)
    checked = invalid = 0
    for _ in range(150):
        data = copy.deepcopy(rng.choice(seeds))
        _mutate(data, rng)
        doc = load_text(yaml.safe_dump(data, sort_keys=False), tmp_path / "mutant.yaml", env={})
        if doc.version is None or doc.version in ("0.2", "0.3", "0.4"):
            continue
        found = check_structure(doc)
        assert VALIDATOR.is_valid(as_written(doc)) == (not found), [str(d) for d in found]
        checked += 1
        invalid += bool(found)
    assert checked > 100 and invalid > 50
