"""The JSON Schema library behind naftiko's small interface: each problem says which value, which
keyword and where that keyword is; alternatives keep each branch's problems; data that is not
plain JSON is checked as JSON would carry it instead of crashing the check."""

from __future__ import annotations

from datetime import date
from types import MappingProxyType
from typing import Any

import pytest

from naftiko_runtime.jsonschemas import Validator

SCHEMA = {
    "$defs": {"Named": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
    "type": "object",
    "properties": {
        "a/b": {"type": "integer"},
        "items": {"type": "array", "items": {"$ref": "#/$defs/Named"}},
        "either": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/Named"}]},
        "keys": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}},
    },
    "additionalProperties": False,
}
VALIDATOR = Validator(SCHEMA)


def test_a_problem_names_the_value_the_keyword_and_where_the_keyword_is() -> None:
    (problem,) = VALIDATOR.problems({"items": [{"name": 1}]})
    assert (problem.path, problem.pointer, problem.keyword, problem.instance) == (
        ("items", 0, "name"), "/items/0/name", "type", 1)
    assert problem.schema_path == ("$defs", "Named", "properties", "name", "type")  # the $ref is followed
    assert "string" in problem.message


def test_every_problem_is_reported_and_pointers_are_escaped() -> None:
    problems = VALIDATOR.problems({"a/b": "x", "items": [{}], "extra": 1})
    assert {(p.pointer, p.keyword) for p in problems} == {
        ("/a~1b", "type"), ("/items/0", "required"), ("", "additionalProperties")}


def test_alternatives_keep_the_problems_of_each_branch_in_order() -> None:
    (problem,) = VALIDATOR.problems({"either": {"name": 5}})
    assert (problem.pointer, problem.keyword) == ("/either", "anyOf")
    as_string, as_named = problem.branches
    assert [(p.pointer, p.keyword) for p in as_string] == [("/either", "type")]
    assert [(p.pointer, p.keyword) for p in as_named] == [("/either/name", "type")]


def test_a_key_that_fails_property_names_is_the_problem_instance() -> None:
    (problem,) = VALIDATOR.problems({"keys": {"ok": 1, "Bad": 2}})
    assert (problem.pointer, problem.keyword, problem.instance) == ("/keys", "propertyNames", "Bad")
    assert problem.schema_path == ("properties", "keys", "propertyNames")


@pytest.mark.parametrize(("value", "valid"), [
    ({"text": "lone \ud800 surrogate"}, True),
    ({"lone \udc00 key": "x"}, True),
    ({"day": date(2026, 5, 25)}, True),  # as its text, like json_text(default=str)
    (MappingProxyType({"n": "x"}), True),
    ({"n": 1}, False),
    ({"list": ("a", "b")}, False),
])
def test_values_that_are_not_plain_json_are_checked_as_json_would_carry_them(value: Any, valid: bool) -> None:
    strings = Validator({"type": "object", "additionalProperties": {"type": "string"}})
    assert strings.is_valid(value) is valid
    assert (strings.problems(value) == []) is valid
