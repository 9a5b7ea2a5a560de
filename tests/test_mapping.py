"""Output mapping (reference section 3.10), JSONPath, mocks, step mappings and output schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from naftiko_runtime.jsonpath import JsonPathError, compile_path
from naftiko_runtime.load import load_text
from naftiko_runtime.mapping import apply_step_mappings, build_mock, map_outputs, project_consumed_outputs
from naftiko_runtime.model import ConsumedOutput, OutputParam, StepMapping, plain
from naftiko_runtime.model.invocations import output_param
from naftiko_runtime.model.read import Reader
from naftiko_runtime.model.schemas import output_schema
from naftiko_runtime.validate import check_documents

SHIP = {
    "imo_number": "IMO-9321483",
    "vessel_name": "Northern Star",
    "dimensions": {"length_m": 294.1, "beam_m": 32.2},
    "active": True,
    "crew": [
        {"id": "c1", "name": "Ana", "rank": {"title": "Captain"}, "active": True},
        {"id": "c2", "name": "Bo", "rank": {"title": "Mate"}, "active": False},
        {"id": "c3", "name": "Cy", "active": True},
    ],
    "first name": "Nora",
    "tags": ["a", "b"],
}


def compiled(params: list[dict[str, Any]]) -> tuple[OutputParam, ...]:
    """Output parameters as the model builder compiles them."""
    return tuple(output_param(Reader(), f"/outputParameters/{i}", spec) for i, spec in enumerate(params))


def mapped(params: list[dict[str, Any]], root: Any = SHIP, **context: Any) -> tuple[bool, Any]:
    return map_outputs(compiled(params), root, context)


def schema_of(params: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The output schema the model computes, as plain JSON."""
    schema = output_schema(compiled(params))
    return None if schema is None else plain(schema)


def step_mappings(specs: list[dict[str, str]]) -> list[StepMapping]:
    return [StepMapping(m["targetName"], m["value"], f"/mappings/{i}") for i, m in enumerate(specs)]


def consumed(specs: list[dict[str, str]]) -> list[ConsumedOutput]:
    return [ConsumedOutput(o["name"], o.get("type"), compile_path(o["value"]), f"/outputParameters/{i}", o["value"])
            for i, o in enumerate(specs)]


# --------------------------------------------------------------------------------------------------
# JSONPath
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr", ["$", "$.", " $ "])
def test_root_expressions_return_the_whole_document(expr: str) -> None:
    assert compile_path(expr).find(SHIP) is SHIP


def test_definite_path_returns_the_value() -> None:
    assert compile_path("$.dimensions.length_m").find(SHIP) == 294.1
    assert compile_path("$.crew[0].name").find(SHIP) == "Ana"
    assert compile_path("$.crew[-1].id").find(SHIP) == "c3"


def test_definite_path_to_a_list_returns_the_list_itself() -> None:
    assert compile_path("$.tags").find(SHIP) == ["a", "b"]


def test_definite_path_keeps_json_types() -> None:
    assert compile_path("$.active").find(SHIP) is True
    assert compile_path("$.missing").find({"missing": None}) is None


def test_missing_path_gives_none() -> None:
    assert compile_path("$.nope.deeper").find(SHIP) is None
    assert compile_path("$.crew[10]").find(SHIP) is None
    assert compile_path("$.vessel_name.x").find(SHIP) is None


def test_wildcard_returns_a_list_of_matches() -> None:
    assert compile_path("$.crew[*].name").find(SHIP) == ["Ana", "Bo", "Cy"]


def test_indefinite_path_with_one_match_still_returns_a_list() -> None:
    assert compile_path("$.crew[?(@.name == 'Bo')].id").find(SHIP) == ["c2"]


def test_indefinite_path_without_matches_returns_an_empty_list() -> None:
    assert compile_path("$.nothing[*].name").find(SHIP) == []


def test_filter_selects_matching_elements() -> None:
    data = {"users": [{"name": "a", "active": True}, {"name": "b", "active": False}, {"name": "c", "active": True}]}
    assert compile_path("$.users[?(@.active == true)].name").find(data) == ["a", "c"]


def test_filter_tolerates_mixed_types() -> None:
    data = {"items": [{"n": 5}, {"n": "text"}, {"n": 1}]}
    result = compile_path("$.items[?(@.n > 2)]").find(data)
    assert result is None or {"n": 5} in result


def test_recursive_descent_and_slices_return_lists() -> None:
    assert compile_path("$..title").find(SHIP) == ["Captain", "Mate"]
    assert compile_path("$.crew[0:2].id").find(SHIP) == ["c1", "c2"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$.crew.length()", 3),
        ("$.tags.size()", 2),
        ("$.length()", len(SHIP) + 2),
        ("$.crew[*].id.length()", 3),
        ("$.nums.sum()", 6),
        ("$.nums.min()", 1),
        ("$.nums.max()", 3),
        ("$.nums.avg()", 2.0),
        ("$.nums.first()", 1),
        ("$.nums.last()", 3),
        ("$.obj.keys()", ["x", "y"]),
        ("$.tags.sum()", None),
        ("$.missing.length()", None),
    ],
)
def test_trailing_functions_apply_to_the_path_result(expr: str, expected: Any) -> None:
    data = {**SHIP, "nums": [1, 2, 3], "obj": {"x": 1, "y": 2}}
    assert compile_path(expr).find(data) == expected


def test_dotted_key_with_spaces_is_retried_in_bracket_notation() -> None:
    assert compile_path("$.first name").find(SHIP) == "Nora"
    assert compile_path("$.outer.inner key.value").find({"outer": {"inner key": {"value": 1}}}) == 1
    assert compile_path("$.list[0].a key").find({"list": [{"a key": "v"}]}) == "v"


def test_kebab_case_keys_are_plain_names() -> None:
    assert compile_path("$.room-id").find({"room-id": "r1"}) == "r1"


def test_path_without_dollar_is_read_from_the_root() -> None:
    assert compile_path("vessel_name").find(SHIP) == "Northern Star"


def test_compile_path_is_cached() -> None:
    assert compile_path("$.imo_number") is compile_path("$.imo_number")


@pytest.mark.parametrize("expr", ["$.[", "$.a[?(@.x ==)]", "", "   ", "$.a[1"])
def test_invalid_expression_raises_a_jsonpath_error(expr: str) -> None:
    with pytest.raises(JsonPathError, match="JSONPath"):
        compile_path(expr)


@pytest.mark.no_cover  # a sweep over the corpus: slow under the tracer, its code is covered elsewhere
def test_every_jsonpath_in_the_corpus_compiles(corpus: Path) -> None:
    expressions: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("mapping", "value") and isinstance(value, str) and value.startswith("$"):
                    expressions.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in corpus.rglob("*.yaml"):
        if "capabilit" in str(path):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                walk(doc)
    assert expressions
    for expr in expressions:
        compile_path(expr)


# --------------------------------------------------------------------------------------------------
# map_outputs
# --------------------------------------------------------------------------------------------------


def test_no_output_parameters_passes_the_raw_body_through() -> None:
    assert mapped([]) == (False, None)
    assert mapped([], root=None) == (False, None)


def test_everything_null_passes_the_raw_body_through() -> None:
    params = [{"type": "string", "mapping": "$.nope"}, {"type": "array", "mapping": "$.vessel_name"}]
    assert mapped(params) == (False, None)


def test_first_non_null_top_level_parameter_wins() -> None:
    params = [
        {"type": "string", "mapping": "$.absent"},
        {"type": "string", "mapping": "$.vessel_name"},
        {"type": "string", "mapping": "$.imo_number"},
    ]
    assert mapped(params) == (True, "Northern Star")


def test_scalar_keeps_its_json_type_without_coercion() -> None:
    assert mapped([{"type": "string", "mapping": "$.dimensions.length_m"}]) == (True, 294.1)
    assert mapped([{"type": "number", "mapping": "$.vessel_name"}]) == (True, "Northern Star")


def test_max_length_truncates_strings_only() -> None:
    assert mapped([{"type": "string", "mapping": "$.vessel_name", "maxLength": 5}]) == (True, "North")
    assert mapped([{"type": "number", "mapping": "$.dimensions.beam_m", "maxLength": 1}]) == (True, 32.2)


def test_value_template_is_rendered_text_even_for_numbers() -> None:
    params = [{"type": "number", "value": "{{count}}", "mapping": "$.dimensions.length_m"}]
    assert mapped(params, count=42) == (True, "42")


def test_value_overrides_mapping_on_a_property() -> None:
    params = [
        {
            "type": "object",
            "properties": {
                "source": {"type": "string", "value": "registry-{{region}}", "mapping": "$.vessel_name"},
                "name": {"type": "string", "mapping": "$.vessel_name"},
            },
        }
    ]
    assert mapped(params, region="eu") == (True, {"source": "registry-eu", "name": "Northern Star"})


def test_object_properties_are_read_from_the_same_root() -> None:
    params = [
        {
            "type": "object",
            "mapping": "$.dimensions",  # ignored, as in the reference
            "properties": {
                "imo": {"type": "string", "mapping": "$.imo_number"},
                "length": {"type": "number", "mapping": "$.dimensions.length_m"},
                "size": {
                    "type": "object",
                    "properties": {"beam": {"type": "number", "mapping": "$.dimensions.beam_m"}},
                },
                "missing": {"type": "string", "mapping": "$.nope"},
            },
        }
    ]
    ok, value = mapped(params)
    assert ok
    assert value == {"imo": "IMO-9321483", "length": 294.1, "size": {"beam": 32.2}, "missing": None}


def test_object_with_only_missing_properties_is_still_mapped() -> None:
    params = [
        {"type": "object", "properties": {"a": {"type": "string", "mapping": "$.x"}}},
        {"type": "string", "mapping": "$.vessel_name"},
    ]
    assert mapped(params) == (True, {"a": None})


def test_object_with_mapping_and_no_properties_returns_the_path_result() -> None:
    assert mapped([{"type": "object", "mapping": "$."}]) == (True, SHIP)
    assert mapped([{"type": "object", "mapping": "$.dimensions"}]) == (True, SHIP["dimensions"])
    assert mapped([{"type": "object", "mapping": "$."}], root=[1, 2]) == (True, [1, 2])


def test_array_items_are_read_relative_to_each_element() -> None:
    params = [
        {
            "type": "array",
            "mapping": "$.crew",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "mapping": "$.id"},
                    "title": {"type": "string", "mapping": "$.rank.title"},
                },
            },
        }
    ]
    assert mapped(params) == (
        True,
        [{"id": "c1", "title": "Captain"}, {"id": "c2", "title": "Mate"}, {"id": "c3", "title": None}],
    )


def test_objects_nested_in_array_items_map_to_null() -> None:
    params = [
        {
            "type": "array",
            "mapping": "$.crew",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "mapping": "$.id"},
                    "rank": {"type": "object", "properties": {"t": {"type": "string", "mapping": "$.rank.title"}}},
                },
            },
        }
    ]
    _, value = mapped(params)
    assert value[0] == {"id": "c1", "rank": None}


def test_array_items_with_a_mapping_give_one_scalar_per_element() -> None:
    params = [{"type": "array", "mapping": "$.crew", "items": {"type": "string", "mapping": "$.name"}}]
    assert mapped(params) == (True, ["Ana", "Bo", "Cy"])


def test_array_without_items_returns_the_elements_as_they_are() -> None:
    assert mapped([{"type": "array", "mapping": "$.tags"}]) == (True, ["a", "b"])


def test_array_mapping_to_a_non_array_gives_null() -> None:
    assert mapped([{"type": "array", "mapping": "$.vessel_name"}]) == (False, None)


def test_list_form_items_use_their_first_element() -> None:
    params = [
        {
            "type": "array",
            "mapping": "$.crew",
            "items": [{"type": "string", "mapping": "$.id"}, {"type": "string", "mapping": "$.name"}],
        }
    ]
    assert mapped(params) == (True, ["c1", "c2", "c3"])


def test_array_from_a_filter_expression() -> None:
    params = [
        {
            "type": "array",
            "mapping": "$.crew[?(@.active == true)]",
            "items": {"type": "object", "properties": {"name": {"type": "string", "mapping": "$.name"}}},
        }
    ]
    assert mapped(params) == (True, [{"name": "Ana"}, {"name": "Cy"}])


def test_array_at_the_root_with_dot_root_mapping() -> None:
    body = [{"id": 1}, {"id": 2}]
    params = [{"type": "array", "mapping": "$.", "items": {"type": "number", "mapping": "$.id"}}]
    assert mapped(params, root=body) == (True, [1, 2])


def test_property_with_spaces_in_its_key() -> None:
    params = [{"type": "object", "properties": {"first": {"type": "string", "mapping": "$.first name"}}}]
    assert mapped(params) == (True, {"first": "Nora"})


def test_length_function_in_a_mapping() -> None:
    params = [{"type": "object", "properties": {"crewSize": {"type": "number", "mapping": "$.crew.length()"}}}]
    assert mapped(params) == (True, {"crewSize": 3})


INVALID_MAPPING = """\
naftiko: "1.0.0-alpha1"
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: https://api.example.com
      resources:
        - name: items
          path: /items
          operations:
            - name: list-items
              method: GET
  exposes:
    - type: mcp
      namespace: tools
      port: 3000
      tools:
        - name: list-items
          description: List items.
          call: api.list-items
          outputParameters:
            - type: string
              mapping: "$.a[?("
"""


def test_invalid_mapping_is_refused_when_the_capability_is_checked(tmp_path: Path) -> None:
    """An unparsable mapping is diagnosed before anything is served; the model keeps it as written."""
    checked, diagnostics = check_documents([load_text(INVALID_MAPPING, tmp_path / "capability.yaml")])
    assert [d.code for d in diagnostics if str(d.severity) == "error"] == ["jsonpath-invalid"]
    capability = checked[0].capability
    assert capability is not None
    (output,) = next(capability.tools()).invocation.outputs
    assert output.mapping == "$.a[?(" and output.path is None
    assert map_outputs((output,), SHIP, {}) == (False, None)  # never raises at call time either


def test_compiled_outputs_can_be_reused_across_bodies() -> None:
    outputs = compiled([{"type": "string", "mapping": "$.id"}])
    assert map_outputs(outputs, {"id": "a"}, {}) == (True, "a")
    assert map_outputs(outputs, {"id": "b"}, {}) == (True, "b")
    assert map_outputs(outputs, "not json", {}) == (False, None)


# --------------------------------------------------------------------------------------------------
# Mock outputs
# --------------------------------------------------------------------------------------------------


def test_mock_builds_named_rendered_values() -> None:
    params = [
        {"name": "greeting", "type": "string", "value": "Hello, {{name}}!"},
        {"name": "count", "type": "number", "value": "3"},
        {"name": "ok", "type": "boolean", "value": "true"},
    ]
    # numbers and booleans stay text, as in the reference
    assert build_mock(compiled(params), {"name": "Ada"}) == {"greeting": "Hello, Ada!", "count": "3", "ok": "true"}


def test_mock_unnamed_parameter_uses_the_value_key() -> None:
    assert build_mock(compiled([{"type": "string", "value": "x"}]), {}) == {"value": "x"}


def test_mock_recurses_into_properties_and_items() -> None:
    params = [
        {
            "name": "ship",
            "type": "object",
            "properties": {
                "imo": {"type": "string", "value": "{{imo}}"},
                "tags": {"type": "array", "items": {"type": "string", "value": "t"}},
            },
        },
        {"name": "crew", "type": "array", "items": [{"name": "id", "type": "string", "value": "c1"}]},
    ]
    assert build_mock(compiled(params), {"imo": "IMO-1"}) == {
        "ship": {"imo": "IMO-1", "tags": ["t"]},
        "crew": [{"id": "c1"}],
    }


# --------------------------------------------------------------------------------------------------
# Step mappings and consumed-output projection
# --------------------------------------------------------------------------------------------------


def test_step_mappings_traverse_step_outputs_and_nest_dotted_targets() -> None:
    steps = {"get-ship": {"name": "Star", "dims": {"len": 10}}, "find-port": {"code": "OSL"}}
    mappings = [
        {"targetName": "ship.name", "value": "$.get-ship.name"},
        {"targetName": "ship.length", "value": "$.get-ship.dims.len"},
        {"targetName": "port", "value": "$.find-port.code"},
        {"targetName": "whole", "value": "$.find-port"},
    ]
    assert apply_step_mappings(step_mappings(mappings), steps) == {
        "ship": {"name": "Star", "length": 10},
        "port": "OSL",
        "whole": {"code": "OSL"},
    }


def test_step_mappings_drop_null_values() -> None:
    steps = {"a": {"x": 1}}
    mappings = [{"targetName": "x", "value": "$.a.x"}, {"targetName": "y", "value": "$.a.nope"}]
    assert apply_step_mappings(step_mappings(mappings), steps) == {"x": 1}


def test_step_mappings_all_null_returns_none() -> None:
    mappings = [{"targetName": "y", "value": "$.missing.field"}, {"targetName": "z", "value": "{{$.a}}"}]
    assert apply_step_mappings(step_mappings(mappings), {"a": {}}) is None


def test_step_mappings_do_not_index_arrays() -> None:
    assert apply_step_mappings(step_mappings([{"targetName": "x", "value": "$.a.0"}]), {"a": [1, 2]}) is None


def test_consumed_outputs_project_named_values() -> None:
    params = [
        {"name": "id", "type": "string", "value": "$.imo_number"},
        {"name": "n", "type": "number", "value": "$.x"},
    ]
    assert project_consumed_outputs(consumed(params), SHIP) == {"id": "IMO-9321483", "n": None}


def test_consumed_outputs_augment_each_element_of_an_array_body() -> None:
    body = [{"id": 1, "user": {"name": "a"}}, {"id": 2, "user": {"name": "b"}}, "odd"]
    params = [{"name": "username", "type": "string", "value": "$.user.name"}]
    result = project_consumed_outputs(consumed(params), body)
    assert result == [
        {"id": 1, "user": {"name": "a"}, "username": "a"},
        {"id": 2, "user": {"name": "b"}, "username": "b"},
        "odd",
    ]
    assert "username" not in body[0]  # the original elements are not modified


def test_consumed_outputs_without_params_return_the_body() -> None:
    assert project_consumed_outputs([], {"a": 1}) == {"a": 1}


# --------------------------------------------------------------------------------------------------
# Output schema
# --------------------------------------------------------------------------------------------------

OBJECT_PARAMS = [
    {
        "type": "object",
        "properties": {
            "imo": {"type": "string", "mapping": "$.imo_number", "description": "IMO number"},
            "length": {"type": "number", "mapping": "$.dimensions.length_m"},
            "active": {"type": "boolean", "mapping": "$.active"},
            "label": {"type": "number", "value": "{{x}}"},
            "size": {"type": "object", "properties": {"beam": {"type": "number", "mapping": "$.dimensions.beam_m"}}},
            "crew": {
                "type": "array",
                "mapping": "$.crew",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "mapping": "$.id"},
                        "rank": {"type": "object", "properties": {"t": {"type": "string", "mapping": "$.t"}}},
                    },
                },
            },
            "tags": {"type": "array", "mapping": "$.tags", "items": {"type": "string", "mapping": "$"}},
            "gone": {"type": "string", "mapping": "$.nope"},
        },
    }
]


def test_output_schema_keeps_the_structure_and_leaves_scalar_properties_untyped() -> None:
    schema = schema_of(OBJECT_PARAMS)
    assert schema is not None
    assert schema["type"] == "object"
    props = schema["properties"]
    assert props["imo"] == {"description": "IMO number"}
    assert props["length"] == props["active"] == props["label"] == props["gone"] == {}
    assert props["size"]["type"] == ["object", "null"]
    assert props["size"]["properties"] == {"beam": {}} and props["size"]["required"] == ["beam"]
    assert props["crew"]["type"] == ["array", "null"]
    assert props["crew"]["items"]["properties"] == {"id": {}, "rank": {"type": "null"}}
    assert props["tags"] == {"type": ["array", "null"], "items": {}}
    assert set(schema["required"]) == set(props)


def test_output_schema_accepts_values_that_differ_from_the_declared_scalar_types() -> None:
    params = [{"type": "object", "properties": {
        "id": {"type": "string", "mapping": "$.id"},
        "ok": {"type": "boolean", "mapping": "$.ok"},
        "tags": {"type": "array", "mapping": "$.tags", "items": {"type": "number", "mapping": "$"}},
    }}]
    schema = schema_of(params)
    assert schema is not None
    _, value = mapped(params, root={"id": 42, "ok": "yes", "tags": ["a", 1]})
    assert value == {"id": 42, "ok": "yes", "tags": ["a", 1]}
    jsonschema.validate(value, schema)
    with pytest.raises(jsonschema.ValidationError):  # the structure is still checked
        jsonschema.validate({"id": 42, "ok": True}, schema)


def test_output_schema_validates_what_the_mapper_produces() -> None:
    schema = schema_of(OBJECT_PARAMS)
    jsonschema.Draft202012Validator.check_schema(schema)
    for body in (SHIP, {}, {"crew": [], "tags": []}):
        _, value = mapped(OBJECT_PARAMS, root=body, x=1)
        jsonschema.validate(value, schema)


@pytest.mark.parametrize(
    "params",
    [
        [],
        [{"type": "object", "mapping": "$."}],
        [{"type": "string", "mapping": "$.a"}],
        [{"type": "array", "mapping": "$.a"}],
        [{"type": "object", "value": "{{x}}", "properties": {"a": {"type": "string"}}}],
    ],
)
def test_output_schema_is_none_for_shapes_that_are_not_known_objects(params: list[dict[str, Any]]) -> None:
    assert schema_of(params) is None


def test_the_map_form_keeps_each_key_and_maps_each_value_relative_to_itself() -> None:
    """The reference engine's undocumented `values` + `mapping` object form (spec notes 3.10, 3a)."""
    outputs = compiled([{
        "type": "object", "mapping": "$.rates",
        "values": {"type": "object", "properties": {"buy": {"type": "number", "mapping": "$.bid"}}},
    }])
    body = {"rates": {"EUR": {"bid": 1.1, "ask": 1.2}, "GBP": {"bid": 1.3}}}
    assert map_outputs(outputs, body, {}) == (True, {"EUR": {"buy": 1.1}, "GBP": {"buy": 1.3}})
    assert map_outputs(outputs, {"rates": [1, 2]}, {}) == (False, None)  # not an object: nothing maps


def test_max_length_cuts_long_strings() -> None:
    outputs = compiled([{"type": "object", "properties": {
        "title": {"type": "string", "mapping": "$.title", "maxLength": 5}}}])
    assert map_outputs(outputs, {"title": "Headline"}, {}) == (True, {"title": "Headl"})
