"""What an upstream says when it fails: its own message, shortened, with secrets masked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from naftiko_runtime.secrets import Redactor

__all__ = ["parse_json", "upstream_message"]

_MAX_MESSAGE = 300
_MAX_TEXT = 200
_SPACES = re.compile(r"\s+")


def parse_json(content: bytes) -> Any:
    """The body as JSON, or None when it is not JSON."""
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _short(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first_message(body: Mapping[str, Any]) -> str | None:
    error = body.get("error")
    candidates: list[Any] = [body.get("message")]
    if isinstance(error, Mapping):
        candidates.append(error.get("message"))
    elif _short(error):
        description = _short(body.get("error_description"))  # OAuth2 error responses
        candidates.append(f"{error}: {description}" if description else error)
    candidates += [body.get("detail"), body.get("title")]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        candidates.append(first.get("message") if isinstance(first, Mapping) else first)
    return next((c.strip() for c in candidates if _short(c)), None)


def _details(body: Mapping[str, Any]) -> str | None:
    details = body.get("details")
    if isinstance(details, str) and len(details) <= 100:
        return details.strip() or None
    if isinstance(details, list) and details and all(isinstance(d, str) for d in details):
        return "; ".join(d.strip() for d in details)
    return None


def upstream_message(parsed: Any, content: bytes, secrets: Iterable[str] = ()) -> str:
    """The upstream's own explanation: a known field of a JSON error body, else the start of the text.

    ``secrets`` are redacted before the text is shortened, so no cut can leave part of one behind.
    """
    redactor = Redactor(forms=set(secrets))
    message: str | None = None
    if isinstance(parsed, Mapping):
        message = _first_message(parsed)
        details = _details(parsed)
        if message and details and details not in message:
            message = f"{message} ({details})"
    elif isinstance(parsed, str):
        message = parsed
    if message is None:  # no known field: the start of the body text
        text = content.decode("utf-8", errors="replace") if content else ""
        return _SPACES.sub(" ", redactor.text(text)).strip()[:_MAX_TEXT]
    message = _SPACES.sub(" ", redactor.text(message)).strip()
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."
