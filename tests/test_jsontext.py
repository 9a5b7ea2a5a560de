"""jsontext: JSON from outside read one way, and what a value read from it cannot carry on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from naftiko_runtime import jsontext


@pytest.mark.parametrize("text", ["{not json", "[" * 5000 + "]" * 5000, b"\xff"])
def test_anything_but_json_is_a_value_error_even_past_the_recursion_limit(text: Any) -> None:
    with pytest.raises(ValueError):
        jsontext.loads(text)


def test_unfit_names_each_lone_surrogate_non_finite_number_and_nesting_too_deep_with_its_pointer() -> None:
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    value = json.loads('{"a": ["ok", "\\ud800", NaN], "\\udfff": 1, "n": {"x": -Infinity}}')
    value["deep"] = deep
    assert jsontext.unfit(value) == [
        ("/a/1", jsontext.UNENCODABLE), ("/a/2", jsontext.NON_FINITE), ("/\\udfff", jsontext.UNENCODABLE),
        ("/n/x", jsontext.NON_FINITE), ("/deep" + "/0" * 64, jsontext.TOO_DEEP)]
    assert jsontext.unfit({"fine": ["é", 1.5, {"k": None}]}) == []
    assert jsontext.unfit({"a/b~c": [float("nan")]}) == [("/a~1b~0c/0", jsontext.NON_FINITE)]  # RFC 6901
    assert jsontext.unfit([[[1]]], max_depth=2) == [("/0/0/0", "is nested more than 2 levels deep")]
