"""json, the default format."""

from __future__ import annotations

import pytest

from naftiko_runtime.formats import convert

from .helpers import decode_error


def test_json_is_the_default_format() -> None:
    assert convert(b'{"a": [1, 2.5, true, null, "x"]}', None) == {"a": [1, 2.5, True, None, "x"]}
    assert convert(b"[1]", "json") == [1]


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_an_empty_json_body_is_none(body: bytes) -> None:
    assert convert(body, None) is None


def test_malformed_json_names_the_format_and_position() -> None:
    message = decode_error(b'{"a": }', "json")
    assert "json" in message and "line 1 column 7" in message


def test_json_nan_is_rejected_because_it_is_not_json() -> None:
    assert "NaN" in decode_error(b'{"a": NaN}', "json")


def test_decode_errors_never_echo_the_body() -> None:
    body = b'{"token": "sk-live-SECRETVALUE", ' + b"x" * 500
    message = decode_error(body, "json")
    assert "SECRETVALUE" not in message and len(message) < 200
