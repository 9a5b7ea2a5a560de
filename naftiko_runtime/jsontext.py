"""JSON text from outside (request bodies, arguments, config files, continuation tokens), read one way.

``json.loads`` raises ``RecursionError`` for text nested deeper than the interpreter's stack allows
(about a thousand levels): an internal error, where whoever sent it should hear "not valid JSON".
``loads`` turns it into the ``ValueError`` that every reader already handles.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads"]


def loads(text: str | bytes | bytearray) -> Any:
    """JSON ``text`` -> its value; ``ValueError`` for anything else, nesting too deep to read included."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
