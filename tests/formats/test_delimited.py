"""csv, tsv and psv."""

from __future__ import annotations

import pytest

from naftiko_runtime.formats import convert

from .helpers import USERS, decode_error, fixture


@pytest.mark.parametrize(("fmt", "sep"), [("csv", ","), ("tsv", "\t"), ("psv", "|")])
def test_delimited_formats_map_rows_to_header_keyed_string_objects(fmt: str, sep: str) -> None:
    body = sep.join(["id", "name"]) + "\n" + sep.join(["1", "Ann"]) + "\n"
    assert convert(body.encode(), fmt) == [{"id": "1", "name": "Ann"}]


def test_csv_handles_quotes_crlf_blank_lines_short_and_long_rows() -> None:
    body = b'id,name,note\r\n1,"Smith, J","say ""hi"""\r\n\r\n2,Bo\r\n3,Cy,n,extra\r\n'
    assert convert(body, "csv") == [
        {"id": "1", "name": "Smith, J", "note": 'say "hi"'},
        {"id": "2", "name": "Bo", "note": ""},
        {"id": "3", "name": "Cy", "note": "n"},
    ]


def test_csv_values_stay_strings_and_an_empty_header_gets_a_column_name() -> None:
    assert convert(b"a,,c\n1,2,3\n", "csv") == [{"a": "1", "column2": "2", "c": "3"}]


@pytest.mark.parametrize("body", [b"", b"\n\n", b"id,name\n"])
def test_csv_without_data_rows_is_an_empty_array(body: bytes) -> None:
    assert convert(body, "csv") == []


@pytest.mark.parametrize("body", [b'id,name\n1,"unterminated\n2,b\n', b'id,name\n1,"a"b\n'])
def test_csv_with_broken_quoting_raises_a_decode_error_with_the_line(body: bytes) -> None:
    message = decode_error(body, "csv")
    assert "csv" in message and "line" in message


@pytest.mark.parametrize(("name", "fmt"), [("sample-users.csv", "csv"), ("sample-users.tsv", "tsv")])
def test_corpus_delimited_users(name: str, fmt: str) -> None:
    assert convert(fixture(name), fmt) == USERS


def test_corpus_pipe_separated_users() -> None:
    assert convert(fixture("sample-users.psv"), "psv") == USERS
