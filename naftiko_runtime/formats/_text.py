"""What every format shares: bytes to text by charset, and short error messages.

Errors name the format and never echo the body beyond a tiny excerpt.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from naftiko_runtime.errors import DecodeError

# A format's converter: (body, outputSchema, Content-Type) -> JSON tree.
Converter = Callable[[bytes, str | None, str | None], Any]

_EXCERPT = 60

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def fail(fmt: str, reason: str) -> DecodeError:
    return DecodeError(f"could not decode the response as {fmt}: {reason}")


def excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def decode(body: bytes | str, fmt: str, content_type: str | None, fallback: str | None = None) -> str:
    """Text of ``body``: the Content-Type charset wins, then a BOM, then ``fallback``, then utf-8."""
    if isinstance(body, str):
        return body.removeprefix("\ufeff")
    data = bytes(body)
    encoding = _charset(content_type)
    if encoding is None:
        encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None) or fallback or "utf-8"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise fail(fmt, f"unknown charset {excerpt(encoding)!r}") from None
    except UnicodeDecodeError as exc:
        raise fail(fmt, f"bytes are not valid {encoding} (at byte {exc.start})") from None
    return text.removeprefix("\ufeff")
