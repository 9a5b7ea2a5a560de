"""Convert an upstream response body into a JSON tree, per ``outputRawFormat``.

Every format but binary ends up as plain JSON values (dict, list, str, int,
float, bool, None) so the output mapping can run JSONPath over it; binary stays
bytes, a ``BinaryBody`` carrying its media type. Any failure raises
``DecodeError`` with a short message naming the format; the body itself is
never echoed back beyond a tiny excerpt. One module per format; ``_text``
holds the charset decoding and error helpers they share.
"""

from __future__ import annotations

from typing import Any

from naftiko_runtime.errors import DecodeError
from naftiko_runtime.formats._text import Converter, excerpt
from naftiko_runtime.formats.css import check_css_selector
from naftiko_runtime.formats.delimited import delimited
from naftiko_runtime.formats.html import convert_html
from naftiko_runtime.formats.json import convert_json
from naftiko_runtime.formats.markdown import convert_markdown
from naftiko_runtime.formats.raw import BinaryBody, RawBody, convert_binary, convert_text, raw_body
from naftiko_runtime.formats.xml import convert_xml
from naftiko_runtime.formats.yaml import convert_yaml

__all__ = ["SUPPORTED", "UNSUPPORTED", "BinaryBody", "RawBody", "check_css_selector", "convert", "raw_body"]

_CONVERTERS: dict[str, Converter] = {
    "json": convert_json,
    "xml": convert_xml,
    "csv": delimited("csv", ","),
    "tsv": delimited("tsv", "\t"),
    "psv": delimited("psv", "|"),
    "yaml": convert_yaml,
    "html": convert_html,
    "markdown": convert_markdown,
    "text": convert_text,
    "binary": convert_binary,
}

SUPPORTED: frozenset[str] = frozenset(_CONVERTERS)
UNSUPPORTED: frozenset[str] = frozenset({"avro", "protobuf"})


def convert(
    body: bytes, fmt: str | None, schema: str | None = None, *, content_type: str | None = None
) -> Any:
    """Decode ``body`` in format ``fmt`` (default json) into a JSON-compatible tree (a
    ``BinaryBody`` for binary).

    ``schema`` is the operation's ``outputSchema``: a CSS selector for html, a
    heading prefix for markdown, ignored otherwise.
    """
    name = (fmt or "json").strip().lower()
    if name in UNSUPPORTED:
        raise DecodeError(f"response format {name!r} is not supported by this runtime")
    converter = _CONVERTERS.get(name)
    if converter is None:
        raise DecodeError(f"unknown response format {excerpt(fmt or '')!r}")
    return converter(body, schema, content_type)
