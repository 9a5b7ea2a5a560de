"""json: the default format."""

from __future__ import annotations

import json
from typing import Any

from naftiko_runtime.formats._text import decode, fail


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def convert_json(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    text = decode(body, "json", content_type)
    if not text.strip():
        return None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise fail("json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise fail("json", str(exc)) from None
    except RecursionError:
        raise fail("json", "nesting is too deep") from None
