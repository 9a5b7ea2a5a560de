"""Semantic rules on one document: what they accept (no false alarms) and the details they report.

The golden fixtures (tests/fixtures/invalid) show each code firing once; these tests cover the
sources of values a rule must accept, hints, related locations and the published dialect.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from naftiko_runtime.codes import CODES
from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.templates import compile_template
from naftiko_runtime.validate import validate_paths

HEAD = """\
naftiko: "1.0.0-alpha2"
info:
  label: Rules test
  description: A capability written for one rule test.
"""

CONSUMES = """\
capability:
  consumes:
    - type: http
      namespace: api
      description: Item API.
      baseUri: https://api.test.local/v1
      resources:
        - name: items
          path: /items/{{id}}
          operations:
            - name: get-item
              method: GET
        - name: all-items
          path: /items
          operations:
            - name: list-items
              method: GET
            - name: create-item
              method: POST
              body: |
                {"title": "{{title}}"}
"""


def _validate(tmp_path: Path, text: str, name: str = "capability.yaml") -> list[Diagnostic]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    _, diagnostics = validate_paths([path], env={})
    return diagnostics


def _codes(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def _tool(body: str, *, namespace: str = "items-mcp") -> str:
    return CONSUMES + f"""\
  exposes:
    - type: mcp
      port: 3000
      namespace: {namespace}
      tools:
        - name: the-tool
          description: A tool under test.
""" + textwrap.indent(textwrap.dedent(body), " " * 10)


def test_tool_without_input_parameters_takes_its_arguments_from_tools_references(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        call: api.get-item
        with:
          id: tools.item_id
    """)
    assert _validate(tmp_path, text) == []


def test_tool_argument_flows_into_a_path_placeholder_by_name(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        inputParameters:
          - name: id
            type: string
            description: Item id.
        call: api.get-item
    """)
    assert _validate(tmp_path, text) == []


def test_placeholder_fed_by_a_consumed_parameter_value_needs_no_caller_value(tmp_path: Path) -> None:
    text = HEAD + _tool("call: api.get-item\n").replace(
        "              method: GET\n        - name: all-items",
        "              method: GET\n              inputParameters:\n"
        "                - name: id\n                  in: path\n                  value: current\n"
        "        - name: all-items")
    assert _validate(tmp_path, text) == []


def test_placeholder_fed_by_a_bind_variable_needs_no_caller_value(tmp_path: Path) -> None:
    text = HEAD + "binds:\n  - namespace: ids\n    keys:\n      id: DEFAULT_ITEM_ID\n" + _tool("call: api.get-item\n")
    codes = _codes(_validate(tmp_path, text))
    assert "path-placeholder-unbound" not in codes


def test_placeholder_without_any_source_is_reported_at_the_call_with_the_path_as_related(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        inputParameters:
          - name: item
            type: string
            description: Item id.
        call: api.get-item
    """)
    undeclared = _validate(tmp_path, text)  # `{{id}}` no parameter declares: the tool takes it as an input
    assert _codes(undeclared) == ["path-placeholder-undeclared"]
    assert undeclared[0].severity is Severity.WARNING
    declared = text.replace("              method: GET\n        - name: all-items",
                            "              method: GET\n              inputParameters: [{name: id, in: path}]\n"
                            "        - name: all-items")
    diagnostics = _validate(tmp_path, declared)  # declared on the API, left out by the tool: an error
    assert _codes(diagnostics) == ["path-placeholder-unbound"]
    assert diagnostics[0].location.pointer == "/capability/exposes/0/tools/0/call"
    assert [r.line for r in diagnostics[0].related] == [13]


def test_step_call_placeholder_can_come_from_an_earlier_step_output(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        steps:
          - type: call
            name: first
            call: api.list-items
          - type: call
            name: second
            call: api.get-item
            with:
              id: "{{first.id}}"
        mappings:
          - targetName: item
            value: $.second
        outputParameters:
          - name: item
            type: object
            properties:
              id:
                name: id
                type: string
    """)
    assert _validate(tmp_path, text) == []


def test_dynamic_resource_uri_parameters_feed_the_consumed_path(tmp_path: Path) -> None:
    text = HEAD + _tool("call: api.list-items\n") + """\
      resources:
        - name: item
          label: Item
          uri: items://{id}
          description: One item.
          call: api.get-item
"""
    assert _validate(tmp_path, text) == []


def test_rest_path_parameters_feed_the_consumed_path(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  exposes:
    - type: rest
      port: 3001
      namespace: items-rest
      resources:
        - path: /things/{id}
          description: One thing.
          operations:
            - name: get-thing
              method: GET
              call: api.get-item
"""
    assert _validate(tmp_path, text) == []


def test_with_key_feeding_a_body_template_is_used(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        inputParameters:
          - name: name
            type: string
            description: Title.
        call: api.create-item
        with:
          title: items-mcp.name
    """)
    assert _validate(tmp_path, text) == []


def test_unknown_call_hints_the_closest_consumed_operation(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, HEAD + _tool("call: api.list-itmes\n"))
    assert _codes(diagnostics) == ["unknown-call"]
    assert diagnostics[0].hint == "did you mean `api.list-items`?"


def test_calls_into_an_import_that_could_not_be_loaded_are_not_checked(tmp_path: Path) -> None:
    text = HEAD + """\
capability:
  consumes:
    - location: ./missing.yaml
      import: shared
  exposes:
    - type: mcp
      port: 3000
      namespace: items-mcp
      tools:
        - name: the-tool
          description: A tool under test.
          call: shared.anything
          with:
            whatever: tools.x
"""
    assert _codes(_validate(tmp_path, text)) == ["import-not-found"]


def test_duplicate_namespace_points_back_at_the_first_definition(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, HEAD + _tool("call: api.list-items\n", namespace="api"))
    assert _codes(diagnostics) == ["namespaces-unique"]
    assert diagnostics[0].severity is Severity.ERROR
    assert [r.line for r in diagnostics[0].related] == [8]


def _with_basic_auth(username: str, password: str) -> str:
    return HEAD + "binds:\n  - namespace: secrets\n    keys:\n      API_TOKEN: API_TOKEN\n" + _tool(
        "call: api.list-items\n").replace(
        "      baseUri: https://api.test.local/v1\n",
        "      baseUri: https://api.test.local/v1\n      authentication:\n        type: basic\n"
        f"        username: \"{username}\"\n        password: \"{password}\"\n")


def test_qualified_bind_variables_resolve_and_an_unbound_credential_is_an_error(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _with_basic_auth("{{secrets.API_TOKEN}}", "{{secrets.API_SECRET}}"))
    assert _codes(diagnostics) == ["unbound-credential"]
    assert diagnostics[0].severity is Severity.ERROR
    assert diagnostics[0].location.pointer.endswith("/authentication/password")
    assert diagnostics[0].hint == "did you mean `{{secrets.API_TOKEN}}`?"


def test_env_template_without_a_bind_reads_the_environment_with_a_warning(tmp_path: Path) -> None:
    diagnostics = _validate(tmp_path, _with_basic_auth("{{API_TOKEN}}", "{{env.API_SECRET}}"))
    assert _codes(diagnostics) == ["undeclared-env-variable"]
    assert diagnostics[0].severity is Severity.WARNING
    assert diagnostics[0].location.pointer.endswith("/authentication/password")


def test_bare_bind_name_ignores_the_binds_section_itself(tmp_path: Path) -> None:
    text = HEAD + "binds:\n  - namespace: env\n    keys:\n      API_TOKEN: API_TOKEN\n" + _tool(
        "call: api.list-items\n")
    assert _validate(tmp_path, text) == []


def test_template_names_skip_comments_and_names_inside_sections() -> None:
    text = "{{a}} {{! note}} {{#items}}{{name}}{{/items}} {{{raw}}} {{^empty}}x{{/empty}} {{$.no}}"
    assert list(compile_template(text).free_names) == ["a", "items", "raw", "empty"]


def test_argument_reference_to_an_undeclared_input_suggests_the_declared_one(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        inputParameters:
          - name: item_id
            type: string
            description: Item id.
        call: api.get-item
        with:
          id: items-mcp.item_ids
    """)
    diagnostics = _validate(tmp_path, text)
    assert _codes(diagnostics) == ["with-unknown-input"]
    assert diagnostics[0].hint == "did you mean `item_id`?"


def test_safe_function_exposed_with_post_contradicts_its_semantics(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  aggregates:
    - label: Items
      namespace: items
      functions:
        - name: list
          description: List items.
          semantics:
            safe: true
          call: api.list-items
  exposes:
    - type: rest
      port: 3001
      namespace: items-rest
      resources:
        - path: /items
          description: Items.
          operations:
            - name: list-items
              method: POST
              ref: items.list
        - path: /all-items
          description: Items again.
          operations:
            - name: list-all-items
              method: GET
              ref: items.list
"""
    diagnostics = _validate(tmp_path, text)
    assert _codes(diagnostics) == ["aggregate-semantics-consistency"]
    assert diagnostics[0].location.pointer.endswith("/operations/0/method")


def test_safe_but_not_idempotent_semantics_contradict_each_other(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  aggregates:
    - label: Items
      namespace: items
      functions:
        - name: list
          description: List items.
          semantics:
            safe: true
            idempotent: false
          call: api.list-items
  exposes:
    - type: mcp
      port: 3000
      namespace: items-mcp
      tools:
        - ref: items.list
"""
    assert _codes(_validate(tmp_path, text)) == ["aggregate-semantics-consistency"]


def test_ref_tools_inherit_names_for_duplicate_checks(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  aggregates:
    - label: Items
      namespace: items
      functions:
        - name: list-items
          description: List items.
          call: api.list-items
  exposes:
    - type: mcp
      port: 3000
      namespace: items-mcp
      tools:
        - ref: items.list-items
        - name: list-items
          description: List items again.
          call: api.list-items
"""
    assert _codes(_validate(tmp_path, text)) == ["tool-name-duplicate"]


def test_lookup_value_reading_a_later_step_is_reported(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        steps:
          - type: call
            name: all
            call: api.list-items
          - type: lookup
            name: pick
            index: all
            match: id
            lookupValue: $.other.id
            outputParameters:
              - title
          - type: call
            name: other
            call: api.list-items
        mappings:
          - targetName: title
            value: $.pick.title
        outputParameters:
          - name: title
            type: string
    """)
    diagnostics = _validate(tmp_path, text)
    assert _codes(diagnostics) == ["step-reference-unknown"]
    assert "later" in diagnostics[0].message


def test_jsonpath_idioms_of_the_reference_engine_are_accepted(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        call: api.list-items
        outputParameters:
          - type: object
            properties:
              all:
                type: object
                mapping: $.
              count:
                type: number
                mapping: $.items.length()
              owner:
                type: string
                mapping: $.owner.first name
              names:
                type: array
                mapping: $.items[?(@.active == true)].name
                items:
                  type: string
                  mapping: $
    """)
    assert _validate(tmp_path, text) == []


def test_aggregate_function_with_a_ref_is_a_ref_chain(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  aggregates:
    - label: Items
      namespace: items
      functions:
        - name: list
          description: List items.
          call: api.list-items
        - name: list-again
          description: List items through the other function.
          ref: items.list
  exposes:
    - type: mcp
      port: 3000
      namespace: items-mcp
      tools:
        - ref: items.list
"""
    diagnostics = _validate(tmp_path, text)
    assert "ref-chain" in _codes(diagnostics)


def test_skill_tools_resolve_rest_operations_and_reject_non_sibling_sources(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  exposes:
    - type: rest
      port: 3001
      namespace: items-rest
      resources:
        - path: /items
          description: Items.
          operations:
            - name: list-items
              method: GET
              call: api.list-items
    - type: skill
      port: 3002
      namespace: items-skills
      skills:
        - name: items
          description: Work with items.
          tools:
            - name: list-items
              description: List items.
              from:
                sourceNamespace: items-rest
                action: list-items
            - name: self
              description: Points at the skill adapter itself.
              from:
                sourceNamespace: items-skills
                action: list-items
"""
    diagnostics = _validate(tmp_path, text)
    assert _codes(diagnostics) == ["skill-source-unknown"]
    assert diagnostics[0].location.pointer.endswith("/tools/1/from/sourceNamespace")


def test_shared_consumes_document_gets_no_caller_dependent_template_warnings(tmp_path: Path) -> None:
    text = """\
naftiko: "1.0.0-alpha2"
consumes:
  - type: http
    namespace: api
    description: Item API.
    baseUri: https://api.test.local/v1
    authentication:
      type: bearer
      token: "{{API_TOKEN}}"
    resources:
      - name: items
        path: /items/{{id}}
        operations:
          - name: get-item
            method: GET
            body: '{"q": "{{query}}"}'
"""
    assert _validate(tmp_path, text, "shared.yaml") == []


def test_every_code_has_a_summary_and_a_kebab_case_name() -> None:
    for code, entry in CODES.items():
        assert code == code.lower() and " " not in code and not code.startswith("naftiko-")
        assert entry.summary and entry.hint


def test_a_tool_calling_an_aggregate_function_is_told_to_use_ref(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  aggregates:
    - label: Items
      namespace: items
      functions:
        - name: list
          description: List items.
          call: api.list-items
  exposes:
    - type: mcp
      port: 3000
      namespace: items-mcp
      tools:
        - name: list-items
          description: List items.
          call: items.list
"""
    diagnostics = _validate(tmp_path, text)
    assert _codes(diagnostics) == ["unknown-call"]
    assert diagnostics[0].hint == "write `ref: items.list` instead of `call:`"


def test_the_same_route_and_method_twice_in_one_rest_exposure_conflicts(tmp_path: Path) -> None:
    text = HEAD + CONSUMES + """\
  exposes:
    - type: rest
      port: 3001
      namespace: items-rest
      resources:
        - path: /items/{id}
          description: One item.
          operations:
            - name: get-item
              method: GET
              call: api.get-item
        - path: /items/{{key}}
          description: One item, again.
          operations:
            - name: get-item-by-key
              method: GET
              call: api.get-item
              with:
                id: items-rest.key
            - name: delete-item
              method: DELETE
              call: api.get-item
              with:
                id: items-rest.key
"""
    diagnostics = _validate(tmp_path, text)
    assert _codes(diagnostics) == ["rest-route-conflict"]
    assert diagnostics[0].location.pointer == "/capability/exposes/0/resources/1/operations/0/method"


def test_a_with_value_naming_the_consumed_api_is_an_error_not_literal_text(tmp_path: Path) -> None:
    text = HEAD + _tool("""\
        inputParameters:
          - {name: id, type: string, description: Item id.}
        call: api.get-item
        with:
          id: api.id
    """)
    (found,) = _validate(tmp_path, text)
    assert (found.code, found.severity) == ("with-foreign-namespace", Severity.ERROR)
    assert "consumed API `api`" in found.message and found.hint == "an input of this unit is `items-mcp.id`"


def _base_uri_codes(tmp_path: Path, base_uri: str) -> list[str]:
    text = HEAD + CONSUMES.replace("baseUri: https://api.test.local/v1", f"baseUri: '{base_uri}'")
    return [d.message for d in _validate(tmp_path, text) if d.code == "baseuri-invalid"]


@pytest.mark.parametrize(("base_uri", "problem"), [
    ("http://127.0.0.1:99999", "has a port that is not a number from 1 to 65535"),
    ("http://127.0.0.1:+80", "has a port that is not a number from 1 to 65535"),
    ("http://api.test.local:0/v1", "has a port that is not a number from 1 to 65535"),
    ("http://api.test.local:80:90/v1", "has a port that is not a number from 1 to 65535"),
    ("http://[::1]x:80/v1", "is not a valid URL (text after the `]` of its address)"),
    ("http://[::1/v1", "is not a valid URL (an unclosed `[`?)"),
    ("http://exa mple.com", "has a space in its host"),
    ("http://:8080/v1", "names no host"),
    ("ftp://api.test.local", "is not an absolute http(s) URL"),
    ("{{env.API_BASE}}", "is not an absolute http(s) URL"),  # a bind may give the host, not the scheme
])
def test_a_base_uri_that_no_request_could_use_is_an_error_saying_why(
        tmp_path: Path, base_uri: str, problem: str) -> None:
    assert _base_uri_codes(tmp_path, base_uri) == [f"baseUri `{base_uri}` {problem}"]


@pytest.mark.parametrize("base_uri", [
    "HTTPS://API.TEST.LOCAL/v1",  # schemes and host names are case-insensitive
    "http://[::1]:8080/v1",
    "http://127.0.0.1:{{env.API_PORT}}/v1",  # a bind fills the port: checked once bound, at start-up
    "https://{{env.TENANT}}.api.test.local/v1",
    "https://api.test.local/my api/v1",  # a path's space is percent-encoded on the way
])
def test_base_uris_that_work_are_not_reported(tmp_path: Path, base_uri: str) -> None:
    assert _base_uri_codes(tmp_path, base_uri) == []
