"""Shared by the format tests: the corpus fixtures and a DecodeError catcher."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import corpus_path

from naftiko_runtime.errors import DecodeError
from naftiko_runtime.formats import convert

USERS = [
    {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
    {"id": "2", "name": "Bob Johnson", "email": "bob@example.com"},
    {"id": "3", "name": "Carol White", "email": "carol@example.com"},
]


def fixture(name: str) -> bytes:
    return corpus_path("naftiko", "fixtures", name).read_bytes()


def decode_error(body: bytes, fmt: str | None, schema: str | None = None, **kwargs: Any) -> str:
    with pytest.raises(DecodeError) as info:
        convert(body, fmt, schema, **kwargs)
    return str(info.value)
