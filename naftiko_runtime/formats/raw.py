"""Formats that keep the body whole, and the text of a body passed through unmapped."""

from __future__ import annotations

from naftiko_runtime.formats._text import decode


def convert_text(body: bytes, _schema: str | None, content_type: str | None) -> str:
    """text: the decoded body as one JSON string, so the output mapping's ``$`` is the text."""
    return decode(body, "text", content_type)


class BinaryBody(bytes):
    """binary: the upstream bytes as they came, with their media type. Not a JSON tree, so callers
    pass it through unmapped."""

    media_type: str

    def __new__(cls, data: bytes, media_type: str | None) -> BinaryBody:
        body = super().__new__(cls, data)
        body.media_type = media_type or "application/octet-stream"
        return body


def convert_binary(body: bytes, _schema: str | None, content_type: str | None) -> BinaryBody:
    return BinaryBody(body, content_type)


class RawBody(str):
    """An upstream body passed through untouched (nothing mapped from a non-JSON format), with its
    media type so REST can answer with it and MCP can show the text as is."""

    media_type: str

    def __new__(cls, text: str, media_type: str | None) -> RawBody:
        body = super().__new__(cls, text)
        body.media_type = media_type or "text/plain; charset=utf-8"
        return body


def raw_body(body: bytes, fmt: str, content_type: str | None) -> RawBody:
    """The upstream's bytes as text, decoded like ``convert`` decodes them."""
    return RawBody(decode(body, fmt, content_type), content_type)
