"""Formats that keep the body whole: text."""

from __future__ import annotations

import pytest

from naftiko_runtime.formats import convert

from .helpers import decode_error


@pytest.mark.parametrize("body", [b'{"a": 1}', b"<r/>", b"a,b\n1,2\n", b"  padded \r\n\n"])
def test_text_is_the_body_as_one_string_and_is_not_parsed(body: bytes) -> None:
    assert convert(body, "text") == body.decode()


def test_text_decodes_by_the_content_type_charset() -> None:
    body = "Café olé".encode("latin-1")
    assert convert(body, "text", content_type="text/plain; charset=ISO-8859-1") == "Café olé"


def test_text_defaults_to_utf8_and_a_bom_selects_the_encoding_and_is_dropped() -> None:
    assert convert("Zürich".encode(), "text") == "Zürich"
    assert convert("Zürich".encode("utf-16"), "text") == "Zürich"
    assert convert(b"\xef\xbb\xbfhi", "text") == "hi"


def test_an_empty_text_body_is_an_empty_string() -> None:
    assert convert(b"", "text") == ""


def test_text_that_is_not_valid_in_its_charset_raises_a_decode_error_naming_text() -> None:
    message = decode_error(b"ok \xff", "text")
    assert "as text" in message and "utf-8" in message
