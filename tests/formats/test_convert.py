"""Dispatch by outputRawFormat, charset decoding shared by every format, and cross-format safety."""

from __future__ import annotations

import json

import pytest

from naftiko_runtime.errors import DecodeError
from naftiko_runtime.formats import SUPPORTED, UNSUPPORTED, convert

from .helpers import decode_error, fixture


def test_supported_and_unsupported_format_sets_are_exactly_the_spec_lists() -> None:
    assert {"json", "xml", "csv", "tsv", "psv", "yaml", "html", "markdown", "text", "binary"} == SUPPORTED
    assert {"avro", "protobuf"} == UNSUPPORTED


@pytest.mark.parametrize("fmt", ["avro", "protobuf"])
def test_avro_and_protobuf_raise_a_not_supported_decode_error(fmt: str) -> None:
    message = decode_error(b"\x00\x01", fmt)
    assert fmt in message and "not supported" in message


def test_an_unknown_format_raises_a_decode_error_naming_it() -> None:
    assert "'bson'" in decode_error(b"{}", "bson")


def test_format_names_are_matched_case_insensitively() -> None:
    assert convert(b"<r><a>1</a></r>", "XML") == {"a": "1"}


def test_decode_error_is_a_502_undecodable_response() -> None:
    with pytest.raises(DecodeError) as info:
        convert(b"{", "json")
    assert info.value.http_status == 502
    assert info.value.as_dict()["error"] == "undecodable-response"


# --------------------------------------------------------------------------- charsets


def test_the_content_type_charset_is_used_to_decode() -> None:
    body = "name\nJosé\n".encode("latin-1")
    assert convert(body, "csv", content_type='text/csv; charset="ISO-8859-1"') == [{"name": "José"}]


def test_text_defaults_to_utf8_without_a_charset() -> None:
    assert convert('{"city": "Zürich"}'.encode(), None, content_type="application/json") == {"city": "Zürich"}


def test_a_utf8_bom_is_dropped_so_the_first_key_is_clean() -> None:
    assert convert(b"\xef\xbb\xbfid,name\n1,A\n", "csv") == [{"id": "1", "name": "A"}]


def test_a_utf16_bom_selects_utf16() -> None:
    assert convert('{"a": "é"}'.encode("utf-16"), "json") == {"a": "é"}


def test_bytes_invalid_for_the_charset_raise_a_decode_error() -> None:
    message = decode_error(b'{"a": "\xff"}', "json")
    assert "utf-8" in message and "json" in message


def test_an_unknown_charset_raises_a_decode_error_naming_it() -> None:
    assert "klingon" in decode_error(b"{}", "json", content_type="application/json; charset=klingon")


# --------------------------------------------------------------------------- all formats


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("sample-users.xml", "xml"),
        ("sample-users.csv", "csv"),
        ("sample-users.yaml", "yaml"),
        ("sample-products.html", "html"),
        ("sample-readme.md", "markdown"),
    ],
)
def test_corpus_results_are_strict_json(name: str, fmt: str) -> None:
    json.dumps(convert(fixture(name), fmt), allow_nan=False)


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"[" * 100_000, "json"),
        (b"[" * 5000 + b"]" * 5000, "json"),
        (b"<r>" + b"<a>" * 3000 + b"x" + b"</a>" * 3000 + b"</r>", "xml"),
        (b"a: " + b"9" * 5000, "yaml"),
        (b"- " * 3000 + b"x", "yaml"),
    ],
)
def test_pathological_inputs_raise_a_decode_error_not_a_crash(body: bytes, fmt: str) -> None:
    assert fmt in decode_error(body, fmt)
