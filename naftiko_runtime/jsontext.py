"""JSON from outside (request bodies, arguments, state and config files, continuation tokens), read
one way, and what a value read from it can hold that JSON cannot carry on.

``json.loads`` raises ``RecursionError`` for text nested deeper than the interpreter's stack allows
(about a thousand levels): an internal error, where whoever sent it should hear "not valid JSON".
``loads`` turns it into the ``ValueError`` that every reader already handles. Text that parses can
still hold what no later step copes with: ``unfit`` names it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from naftiko_runtime.source import escape

__all__ = ["MAX_DEPTH", "NON_FINITE", "TOO_DEEP", "UNENCODABLE", "loads", "unfit"]

MAX_DEPTH = 64  # levels of nesting: no argument or saved state needs more; far fewer than the stack allows
UNENCODABLE = "is not valid Unicode text (a lone surrogate)"
NON_FINITE = "is not a finite number (NaN and Infinity are not JSON)"
TOO_DEEP = f"is nested more than {MAX_DEPTH} levels deep"


def loads(text: str | bytes | bytearray) -> Any:
    """JSON ``text`` -> its value; ``ValueError`` for anything else, nesting too deep to read included."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def unfit(value: Any, max_depth: int = MAX_DEPTH) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each part of ``value`` that JSON cannot carry on: a string with a
    lone surrogate (JSON's ``"\\ud800"``; not UTF-8), NaN or an infinite number (Python's json reads
    ``NaN`` and ``Infinity``), and nesting past ``max_depth``, which would exhaust Python's stack in
    whatever walks the value next. The walk itself stops at that depth. Pointers carry a key's lone
    surrogate escaped (``\\ud800``), so they can be printed and sent."""
    found: list[tuple[str, str]] = []
    _walk(value, "", 0, max_depth, found)
    return found


def _walk(value: Any, pointer: str, depth: int, max_depth: int, found: list[tuple[str, str]]) -> None:
    if depth > max_depth:
        found.append((pointer, f"is nested more than {max_depth} levels deep"))  # TOO_DEEP by default
    elif isinstance(value, str):
        if not _encodable(value):
            found.append((pointer, UNENCODABLE))
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append((pointer, NON_FINITE))
    elif isinstance(value, Mapping):
        for key, child in value.items():
            text = str(key)
            if _encodable(text):
                where = f"{pointer}/{escape(text)}"
            else:  # a key can hold a lone surrogate too
                where = f"{pointer}/{escape(text.encode('utf-8', 'backslashreplace').decode())}"
                found.append((where, UNENCODABLE))
            _walk(child, where, depth + 1, max_depth, found)
    elif isinstance(value, list | tuple):
        for i, child in enumerate(value):
            _walk(child, f"{pointer}/{i}", depth + 1, max_depth, found)


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
