"""Convert an upstream response body into a JSON tree, per ``outputRawFormat``.

Every format but binary ends up as plain JSON values (dict, list, str, int,
float, bool, None) so the output mapping can run JSONPath over it; binary stays
bytes, a ``BinaryBody`` carrying its media type. Any failure raises
``DecodeError`` with a short message naming the format; the body itself is
never echoed back beyond a tiny excerpt. One module per format; ``_text``
holds the charset decoding and error helpers they share.
"""

from __future__ import annotations

import importlib
from typing import Any

from naftiko_runtime.errors import DecodeError
from naftiko_runtime.formats._text import Converter, excerpt
from naftiko_runtime.formats.css import check_css_selector
from naftiko_runtime.formats.raw import BinaryBody, RawBody, raw_body

__all__ = ["SUPPORTED", "UNSUPPORTED", "BinaryBody", "RawBody", "check_css_selector", "convert", "raw_body"]

# format -> (module, converter): a format's module (and its parser library) loads on its first answer
_CONVERTERS: dict[str, tuple[str, str]] = {
    "json": ("json", "convert_json"),
    "xml": ("xml", "convert_xml"),
    "csv": ("delimited", "convert_csv"),
    "tsv": ("delimited", "convert_tsv"),
    "psv": ("delimited", "convert_psv"),
    "yaml": ("yaml", "convert_yaml"),
    "html": ("html", "convert_html"),
    "markdown": ("markdown", "convert_markdown"),
    "text": ("raw", "convert_text"),
    "binary": ("raw", "convert_binary"),
}
_LOADED: dict[str, Converter] = {}

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
    converter = _LOADED.get(name)
    if converter is None:
        if name not in _CONVERTERS:
            raise DecodeError(f"unknown response format {excerpt(fmt or '')!r}")
        module, attribute = _CONVERTERS[name]
        converter = _LOADED[name] = getattr(importlib.import_module(f"naftiko_runtime.formats.{module}"), attribute)
    return converter(body, schema, content_type)
