"""yaml: a safe load turned into plain JSON values."""

from __future__ import annotations

import json

import pytest

from naftiko_runtime.formats import convert
from naftiko_runtime.formats import yaml as yaml_format

from .helpers import USERS, decode_error, fixture


def test_yaml_dates_become_iso_strings_and_the_tree_is_json_serialisable() -> None:
    body = b"when: 2024-05-01\nat: 2024-05-01T10:00:00Z\nn: 3\nf: .nan\n1: one\nnull: z\nb: !!binary aGk=\n"
    result = convert(body, "yaml")
    assert result == {
        "when": "2024-05-01",
        "at": "2024-05-01T10:00:00+00:00",
        "n": 3,
        "f": None,
        "1": "one",
        "null": "z",
        "b": "aGk=",
    }
    json.dumps(result, allow_nan=False)


def test_yaml_empty_body_is_none() -> None:
    assert convert(b"", "yaml") is None


def test_malformed_yaml_names_the_format_and_line() -> None:
    message = decode_error(b"a: [1, 2\nb: 3\n", "yaml")
    assert "yaml" in message and "line" in message


def test_yaml_refuses_python_object_tags() -> None:
    assert "yaml" in decode_error(b"!!python/object/apply:os.system ['true']", "yaml")


def test_yaml_with_several_documents_is_refused() -> None:
    assert "yaml" in decode_error(b"a: 1\n---\nb: 2\n", "yaml")


def test_yaml_alias_expansion_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_format, "_MAX_NODES", 1000)
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdef":
        prev = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n".encode()
    assert "more than 1000" in decode_error(bomb, "yaml")


def test_yaml_recursive_aliases_raise_a_decode_error() -> None:
    assert "yaml" in decode_error(b"a: &a [*a]\n", "yaml")


def test_corpus_yaml_users() -> None:
    assert convert(fixture("sample-users.yaml"), "yaml") == {"users": USERS}
