"""source: YAML text -> data + a line:col for every JSON pointer, and located YAML surprises."""

from __future__ import annotations

import time

import pytest

from naftiko_runtime import source
from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.source import SourceDoc, escape, join, parse

LOADERS = ["python", *(["libyaml"] if hasattr(source, "_CLoader") else [])]


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once with the pure-Python scanner and once with libyaml: positions must agree."""
    monkeypatch.setattr(source, "_Loader", source._PyLoader if request.param == "python" else source._CLoader)
    return request.param


def codes(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.location.line, diagnostic.location.col


def parsed(text: str) -> tuple[SourceDoc, list[Diagnostic]]:
    return parse(text, "cap.yaml")


# A realistic capability: block and flow collections, nested lists, a block scalar, an anchor that is
# merged with an override and also used as a plain alias.
REALISTIC = """\
naftiko: "1.0.0-alpha2"
info:
  label: Shipyard
  tags: [ships, "fleet"]
x-defaults: &auth
  type: bearer
  token: "{{TOKEN}}"
capability:
  consumes:
    - namespace: registry
      type: http
      baseUri: https://registry.example.com/v1
      authentication:
        <<: *auth
        token: "{{OTHER}}"
      resources:
        - name: ships
          path: /ships
          operations:
            - { name: list-ships, method: GET }
            - name: create-ship
              method: POST
              body: |
                {"name": "{{name}}"}
  exposes:
    - type: mcp
      port: 3001
      tools:
        - name: list
          call: registry.list-ships
          outputParameters:
            - - nested
              - list
            - [a, [b, c]]
          hints: *auth
          description: >-
            Lists ships
            in the registry.
"""

C = "/capability"
CONS = "/capability/consumes/0"
OPS = "/capability/consumes/0/resources/0/operations"
TOOL = "/capability/exposes/0/tools/0"

VALUE_POSITIONS = {
    "": (1, 1),
    "/naftiko": (1, 10),
    "/info": (3, 3),  # a block mapping starts at its first key
    "/info/label": (3, 10),
    "/info/tags": (4, 9),  # the `[`
    "/info/tags/0": (4, 10),
    "/info/tags/1": (4, 17),  # the opening quote
    "/x-defaults": (5, 13),  # the anchor
    "/x-defaults/type": (6, 9),
    C: (9, 3),
    f"{C}/consumes": (10, 5),  # the first `-`
    CONS: (10, 7),  # the item mapping, after `- `
    f"{CONS}/namespace": (10, 18),
    f"{CONS}/baseUri": (12, 16),
    f"{CONS}/authentication": (14, 9),
    f"{CONS}/authentication/token": (15, 16),  # the override, not the anchor's token
    f"{CONS}/authentication/type": (6, 9),  # merged in: where the text is, in the anchor
    f"{CONS}/resources/0/path": (18, 17),
    OPS: (20, 13),
    f"{OPS}/0": (20, 15),  # the `{` of the flow mapping
    f"{OPS}/0/name": (20, 23),
    f"{OPS}/0/method": (20, 43),
    f"{OPS}/1": (21, 15),
    f"{OPS}/1/method": (22, 23),
    f"{OPS}/1/body": (23, 21),  # the `|` of the block scalar
    f"{TOOL}/outputParameters/0": (32, 15),  # a list nested in a list
    f"{TOOL}/outputParameters/0/0": (32, 17),
    f"{TOOL}/outputParameters/0/1": (33, 17),
    f"{TOOL}/outputParameters/1": (34, 15),
    f"{TOOL}/outputParameters/1/1": (34, 19),
    f"{TOOL}/outputParameters/1/1/1": (34, 23),
    f"{TOOL}/hints": (35, 18),  # the alias `*auth` itself
    f"{TOOL}/hints/token": (7, 10),  # below an alias: the anchored text
    f"{TOOL}/description": (36, 24),  # the `>-` of the folded scalar
}

KEY_POSITIONS = {
    "/naftiko": (1, 1),
    "/info": (2, 1),
    "/info/tags": (4, 3),
    C: (8, 1),
    f"{CONS}/namespace": (10, 7),
    f"{CONS}/authentication": (13, 7),
    f"{CONS}/authentication/token": (15, 9),
    f"{CONS}/authentication/type": (6, 3),
    f"{OPS}/0/name": (20, 17),
    f"{OPS}/0/method": (20, 35),
    f"{OPS}/1/body": (23, 15),
    f"{TOOL}/hints": (35, 11),
    f"{TOOL}/hints/type": (6, 3),
}


def test_realistic_document_parses_without_diagnostics(loader: str) -> None:
    doc, diagnostics = parsed(REALISTIC)
    assert diagnostics == []
    consumer = doc.data["capability"]["consumes"][0]
    assert consumer["authentication"] == {"type": "bearer", "token": "{{OTHER}}"}
    assert consumer["resources"][0]["operations"][0] == {"name": "list-ships", "method": "GET"}
    assert consumer["resources"][0]["operations"][1]["body"] == '{"name": "{{name}}"}\n'
    tool = doc.data["capability"]["exposes"][0]["tools"][0]
    assert tool["outputParameters"] == [["nested", "list"], ["a", ["b", "c"]]]
    assert tool["hints"] == {"type": "bearer", "token": "{{TOKEN}}"}
    assert tool["description"] == "Lists ships in the registry."


@pytest.mark.parametrize(("pointer", "expected"), VALUE_POSITIONS.items())
def test_every_value_pointer_locates_to_its_line_and_column(loader: str, pointer: str,
                                                            expected: tuple[int, int]) -> None:
    doc, _ = parsed(REALISTIC)
    loc = doc.locate(pointer)
    assert (loc.line, loc.col) == expected
    assert loc.pointer == pointer and loc.file == "cap.yaml"


@pytest.mark.parametrize(("pointer", "expected"), KEY_POSITIONS.items())
def test_key_locations_point_at_the_key_not_the_value(loader: str, pointer: str,
                                                      expected: tuple[int, int]) -> None:
    doc, _ = parsed(REALISTIC)
    loc = doc.locate(pointer, key=True)
    assert (loc.line, loc.col) == expected


def test_every_composed_value_has_a_position() -> None:
    doc, _ = parsed(REALISTIC)

    def pointers(node: object, pointer: str = "") -> list[str]:
        found = [pointer]
        if isinstance(node, dict):
            for key, value in node.items():
                found += pointers(value, join(pointer, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += pointers(value, join(pointer, i))
        return found

    assert set(pointers(doc.data)) == set(doc.value_pos)


def test_array_items_have_no_key_so_key_lookup_gives_the_value() -> None:
    doc, _ = parsed(REALISTIC)
    assert doc.locate(f"{OPS}/1", key=True) == doc.locate(f"{OPS}/1")


def test_missing_pointer_falls_back_to_the_nearest_located_parent() -> None:
    doc, _ = parsed(REALISTIC)
    loc = doc.locate(f"{OPS}/0/inputParameters/3/name")
    assert (loc.line, loc.col) == (20, 15)
    assert loc.pointer == f"{OPS}/0/inputParameters/3/name"  # the pointer asked about is kept


def test_missing_pointer_with_key_falls_back_to_the_parent_key() -> None:
    doc, _ = parsed(REALISTIC)
    loc = doc.locate(f"{CONS}/authentication/missing", key=True)
    assert (loc.line, loc.col) == (13, 7)


def test_pointer_without_leading_slash_does_not_hang() -> None:
    doc, _ = parsed(REALISTIC)
    assert (doc.locate("naftiko").line, doc.locate("naftiko").col) == (1, 1)


def test_keys_with_slash_and_tilde_use_escaped_pointer_tokens() -> None:
    doc, diagnostics = parsed('paths:\n  "/ships/{id}": 1\n  "a~b": 2\n')
    assert diagnostics == []
    assert escape("/ships/{id}") == "~1ships~1{id}"
    assert (doc.locate("/paths/~1ships~1{id}").line, doc.locate("/paths/~1ships~1{id}").col) == (2, 18)
    assert doc.locate("/paths/a~0b").line == 3


def test_windows_line_endings_do_not_shift_positions(loader: str) -> None:
    doc, diagnostics = parsed("a: 1\r\nb:\r\n  c: x\r\n")
    assert diagnostics == []
    assert (doc.locate("/b/c").line, doc.locate("/b/c").col) == (3, 6)


def test_line_text_returns_the_source_line_or_empty() -> None:
    doc, _ = parsed(REALISTIC)
    assert doc.line_text(20).strip() == "- { name: list-ships, method: GET }"
    assert doc.line_text(0) == "" and doc.line_text(999) == ""


# ------------------------------------------------------------------------------------ duplicate keys


def test_duplicate_key_names_both_lines(loader: str) -> None:
    doc, diagnostics = parsed("info:\n  label: one\n  tags: []\n  label: two\n")
    assert codes(diagnostics) == ["duplicate-key"]
    dup = diagnostics[0]
    assert dup.severity is Severity.ERROR
    assert at(dup) == (4, 3) and dup.location.pointer == "/info/label"
    assert [(r.line, r.col) for r in dup.related] == [(2, 3)]
    assert "line 2" in dup.message
    assert doc.data["info"]["label"] == "one"  # the first stays, so later checks see one value
    assert doc.locate("/info/label").line == 2


def test_each_repeat_of_a_key_is_reported() -> None:
    _, diagnostics = parsed("a: 1\na: 2\na: 3\n")
    assert [at(d) for d in diagnostics] == [(2, 1), (3, 1)]
    assert all(d.related[0].line == 1 for d in diagnostics)


def test_duplicate_key_in_a_flow_mapping_is_reported(loader: str) -> None:
    _, diagnostics = parsed("op: { name: a, method: GET, name: b }\n")
    assert codes(diagnostics) == ["duplicate-key"]
    assert at(diagnostics[0]) == (1, 29)
    assert (diagnostics[0].related[0].line, diagnostics[0].related[0].col) == (1, 7)


def test_same_key_in_different_mappings_is_not_a_duplicate() -> None:
    _, diagnostics = parsed("- name: a\n- name: b\n")
    assert diagnostics == []


# --------------------------------------------------------------------------- keys that are not strings


@pytest.mark.parametrize("word", ["on", "yes", "off", "no", "ON", "No"])
def test_yaml11_boolean_keys_are_errors(loader: str, word: str) -> None:
    doc, diagnostics = parsed(f"jobs:\n  {word}: push\n")
    assert codes(diagnostics) == ["yaml-1-1-key"]
    assert diagnostics[0].severity is Severity.ERROR
    assert at(diagnostics[0]) == (2, 3)
    assert diagnostics[0].location.pointer == f"/jobs/{word}"
    assert "quote" in (diagnostics[0].hint or "")
    assert doc.data == {"jobs": {}}


def test_quoted_on_key_is_a_plain_string() -> None:
    doc, diagnostics = parsed("'on': push\n\"yes\": 1\n")
    assert diagnostics == []
    assert doc.data == {"on": "push", "yes": 1}


@pytest.mark.parametrize(
    ("text", "shown"),
    [("1: x\n", "'1'"), ("null: x\n", "'null'"), ("~: x\n", "'~'"), ("true: x\n", "'true'"),
     ("1.5: x\n", "'1.5'"), ("? [a, b]\n: x\n", "sequence"), ("? {a: 1}\n: x\n", "mapping")],
)
def test_non_string_keys_are_errors(loader: str, text: str, shown: str) -> None:
    doc, diagnostics = parsed("ok: 1\n" + text)
    assert codes(diagnostics) == ["non-string-key"]
    assert diagnostics[0].location.line == 2
    assert shown in diagnostics[0].message
    assert doc.data == {"ok": 1}


def test_quoted_number_key_is_fine() -> None:
    doc, diagnostics = parsed('"200": ok\n')
    assert diagnostics == [] and doc.data == {"200": "ok"}


# ------------------------------------------------------------------------------------ YAML 1.1 values


@pytest.mark.parametrize(("word", "value"), [("yes", True), ("no", False), ("on", True), ("off", False)])
def test_yaml11_boolean_values_warn_but_load(loader: str, word: str, value: bool) -> None:
    doc, diagnostics = parsed(f"required: {word}\n")
    assert codes(diagnostics) == ["yaml-1-1-boolean"]
    assert diagnostics[0].severity is Severity.WARNING
    assert at(diagnostics[0]) == (1, 11)
    assert doc.data == {"required": value}


def test_true_false_and_quoted_words_do_not_warn() -> None:
    doc, diagnostics = parsed("a: true\nb: False\nc: 'yes'\nd: \"off\"\n")
    assert diagnostics == []
    assert doc.data == {"a": True, "b": False, "c": "yes", "d": "off"}


def test_dates_stay_the_text_the_author_wrote() -> None:
    doc, _ = parsed("created: 2026-05-25\n")
    assert doc.data == {"created": "2026-05-25"}


def test_plain_scalars_are_recorded_for_typed_templates(loader: str) -> None:
    doc, _ = parsed("port: 8080\nname: 'x'\nbody: |\n  text\nlist: [a, \"b\"]\n")
    assert {"/port", "/list/0"} <= doc.plain
    assert not {"/name", "/body", "/list/1"} & doc.plain


# --------------------------------------------------------------------------------- syntax and encoding


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("a: [1, 2\nb: 3\n", 2, 2),  # unclosed flow sequence
        ("a:\n  b: 1\n c: 2\n", 3, 2),  # bad dedent
        ("a: b: c\n", 1, 5),  # mapping values not allowed here
        ("key: value\n- item\n", 2, 1),
    ],
)
def test_syntax_errors_are_located(loader: str, text: str, line: int, col: int) -> None:
    doc, diagnostics = parsed(text)
    assert codes(diagnostics) == ["yaml-syntax"]
    assert at(diagnostics[0]) == (line, col)
    assert doc.data is None


def test_unclosed_quote_points_at_the_end_and_relates_the_opening(loader: str) -> None:
    _, diagnostics = parsed("a: ok\nb: 'unclosed\n")
    assert codes(diagnostics) == ["yaml-syntax"]
    assert diagnostics[0].location.line == 3
    assert [(r.line, r.col) for r in diagnostics[0].related] == [(2, 4)]


def test_tab_indentation_is_located_with_a_hint(loader: str) -> None:
    _, diagnostics = parsed("capability:\n\texposes: []\n")
    assert codes(diagnostics) == ["yaml-syntax"]
    assert at(diagnostics[0]) == (2, 1)
    assert "tab" in (diagnostics[0].hint or "")


def test_tabs_inside_values_are_fine(loader: str) -> None:
    doc, diagnostics = parsed('a: "x\\ty"\nb: "p\tq"\nc: |\n  one\ttwo\n')
    assert diagnostics == []
    assert doc.data == {"a": "x\ty", "b": "p\tq", "c": "one\ttwo\n"}


def test_undefined_alias_is_a_syntax_error(loader: str) -> None:
    _, diagnostics = parsed("a: *nowhere\n")
    assert codes(diagnostics) == ["yaml-syntax"] and at(diagnostics[0]) == (1, 4)


def test_control_character_is_located_by_character_not_byte(loader: str) -> None:
    _, diagnostics = parsed("label: héllo wörld\nbad: x\x07\n")
    assert codes(diagnostics) == ["yaml-syntax"]
    assert at(diagnostics[0]) == (2, 7)
    assert "U+0007" in diagnostics[0].message
    assert "\n" not in diagnostics[0].message


def test_lone_surrogate_in_text_is_a_located_error(loader: str) -> None:
    _, diagnostics = parsed("a: 1\nb: \ud800\n")
    assert codes(diagnostics) == ["yaml-syntax"] and at(diagnostics[0]) == (2, 4)


def test_byte_order_mark_is_ignored(loader: str) -> None:
    doc, diagnostics = parsed('\ufeffnaftiko: "1.0.0-alpha2"\ninfo: {label: x}\n')
    assert diagnostics == []
    assert list(doc.data) == ["naftiko", "info"]
    assert (doc.locate("/naftiko", key=True).col, doc.locate("/naftiko").col) == (1, 10)
    assert not doc.text.startswith("\ufeff")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "---\n...\n"])
def test_empty_file_is_reported(loader: str, text: str) -> None:
    doc, diagnostics = parsed(text)
    assert codes(diagnostics) == ["empty-document"]
    assert at(diagnostics[0]) == (1, 1)
    assert doc.data is None


def test_only_the_first_of_several_documents_is_read(loader: str) -> None:
    doc, diagnostics = parsed("a: 1\n---\nb: 2\n---\nc: 3\n")
    assert doc.data == {"a": 1}
    assert codes(diagnostics) == ["multiple-documents", "multiple-documents"]
    assert [d.location.line for d in diagnostics] == [3, 5]


@pytest.mark.no_cover  # deep input: slow under the tracer, and its code is covered elsewhere
def test_deep_nesting_is_a_diagnostic_not_a_crash(loader: str) -> None:
    doc, diagnostics = parsed("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert doc.data is None
    assert codes(diagnostics) == ["yaml-syntax"]
    block = "a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000))
    _, diagnostics = parsed(block)
    assert codes(diagnostics) == ["yaml-syntax"]


# ------------------------------------------------------------------------------ anchors, aliases, merges


def test_alias_value_locates_at_the_alias_and_its_children_at_the_anchor(loader: str) -> None:
    doc, diagnostics = parsed("base: &b\n  x: 1\nuse:\n  ref: *b\n")
    assert diagnostics == []
    assert doc.data["use"]["ref"] == {"x": 1}
    assert (doc.locate("/use/ref").line, doc.locate("/use/ref").col) == (4, 8)
    assert (doc.locate("/use/ref/x").line, doc.locate("/use/ref/x").col) == (2, 6)


def test_scalar_alias_locates_at_the_alias(loader: str) -> None:
    doc, _ = parsed("a: &v hello\nb: *v\n")
    assert doc.data == {"a": "hello", "b": "hello"}
    assert (doc.locate("/b").line, doc.locate("/b").col) == (2, 4)


@pytest.mark.parametrize("merge_first", [True, False])
def test_merge_keeps_own_keys_whatever_the_order(loader: str, merge_first: bool) -> None:
    own = "  q: 3\n"
    merge = "  <<: *x\n"
    body = merge + own if merge_first else own + merge
    doc, diagnostics = parsed("a: &x {p: 1, q: 2}\nb:\n" + body)
    assert diagnostics == []
    assert doc.data["b"] == {"p": 1, "q": 3}
    own_line = 4 if merge_first else 3
    assert (doc.locate("/b/q").line, doc.locate("/b/q").col) == (own_line, 6)
    assert (doc.locate("/b/q", key=True).line, doc.locate("/b/q", key=True).col) == (own_line, 3)
    assert (doc.locate("/b/p").line, doc.locate("/b/p").col) == (1, 11)
    assert doc.data["a"] == {"p": 1, "q": 2}  # the anchor itself is untouched


def test_merge_of_a_list_prefers_earlier_sources(loader: str) -> None:
    doc, diagnostics = parsed("a: &a {k: from-a, x: 1}\nb: &b {k: from-b, y: 2}\nc:\n  <<: [*a, *b]\n")
    assert diagnostics == []
    assert doc.data["c"] == {"k": "from-a", "x": 1, "y": 2}
    assert doc.locate("/c/y").line == 2


def test_nested_merges_are_followed(loader: str) -> None:
    doc, diagnostics = parsed("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n")
    assert diagnostics == []
    assert doc.data["c"] == {"y": 2, "x": 1, "z": 3}


def test_merging_something_other_than_a_mapping_is_reported(loader: str) -> None:
    doc, diagnostics = parsed("a: 1\nb:\n  <<: [x]\n  c: 2\n")
    assert codes(diagnostics) == ["yaml-unsupported"]
    assert at(diagnostics[0]) == (3, 8)
    assert doc.data["b"] == {"c": 2}


def test_recursive_alias_is_reported_not_a_crash(loader: str) -> None:
    doc, diagnostics = parsed("a: &a [1, *a]\n")
    assert codes(diagnostics) == ["yaml-unsupported"]
    assert at(diagnostics[0]) == (1, 11)
    assert doc.data == {"a": [1, None]}


def test_self_merge_is_reported_not_a_crash(loader: str) -> None:
    doc, diagnostics = parsed("a: &a {b: 1, <<: *a}\n")
    assert codes(diagnostics) == ["yaml-unsupported"]
    assert doc.data == {"a": {"b": 1}}


@pytest.mark.no_cover  # a large expansion: slow under the tracer, and its code is covered elsewhere
@pytest.mark.timeout(20)
def test_alias_bomb_is_refused_quickly(loader: str) -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    started = time.monotonic()
    doc, diagnostics = parsed("\n".join(lines) + "\n")
    assert time.monotonic() - started < 10
    assert codes(diagnostics) == ["yaml-unsupported"]
    assert doc.data is None and doc.value_pos == {}


def test_problems_inside_an_anchor_are_reported_once(loader: str) -> None:
    _, diagnostics = parsed("a: &a {b: on, b: 2}\nc: *a\nd: {<<: *a}\ne: [*a, *a]\n")
    assert sorted(codes(diagnostics)) == ["duplicate-key", "yaml-1-1-boolean"]
    assert all(d.location.line == 1 for d in diagnostics)


def test_merged_keys_override_silently_without_duplicate_reports(loader: str) -> None:
    _, diagnostics = parsed("a: &a {k: 1}\nb: {<<: *a, k: 2}\n")
    assert diagnostics == []


# ------------------------------------------------------------------------------------------------ tags


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: ok\nb: !!python/object:os.system ls\n", 2), ("a: !Ref Bucket\n", 1), ("a: !!binary aGk=\n", 1),
     ("a: !!set {x}\n", 1), ("a: !Custom [1]\n", 1), ("a: !!int abc\n", 1)],
)
def test_tags_that_are_not_plain_data_are_reported(loader: str, text: str, line: int) -> None:
    doc, diagnostics = parsed(text)
    assert codes(diagnostics) == ["yaml-unsupported"]
    assert diagnostics[0].location.line == line
    assert doc.data is not None  # later checks still see the rest of the document


def test_standard_scalar_tags_are_accepted(loader: str) -> None:
    doc, diagnostics = parsed("a: !!str 1\nb: !!int '2'\nc: !!float 1\nd: !!null ''\n")
    assert diagnostics == []
    assert doc.data == {"a": "1", "b": 2, "c": 1.0, "d": None}


def test_columns_count_characters_not_bytes(loader: str) -> None:
    doc, _ = parsed('label: "🚢 é"\nx: {a: é, b: 1}\n')
    assert (doc.locate("/x/b").line, doc.locate("/x/b").col) == (2, 14)
