"""Formats that keep the body whole: text and binary."""

from __future__ import annotations

import pytest

from naftiko_runtime.formats import BinaryBody, convert

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


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


def test_binary_is_the_exact_bytes_with_the_response_media_type() -> None:
    body = convert(PNG_HEAD, "binary", content_type="image/png")
    assert isinstance(body, BinaryBody) and isinstance(body, bytes)
    assert body == PNG_HEAD
    assert body.media_type == "image/png"


@pytest.mark.parametrize("content_type", [None, ""])
def test_binary_without_a_content_type_is_octet_stream(content_type: str | None) -> None:
    assert convert(PNG_HEAD, "binary", content_type=content_type).media_type == "application/octet-stream"


def test_binary_is_never_decoded_even_when_a_charset_is_declared() -> None:
    body = convert(b"\xff\xfe\x00", "binary", content_type="text/plain; charset=utf-8")
    assert body == b"\xff\xfe\x00"
    assert body.media_type == "text/plain; charset=utf-8"


def test_binary_ignores_the_output_schema() -> None:
    assert convert(b"\x00\x01", "binary", "table.products") == b"\x00\x01"
