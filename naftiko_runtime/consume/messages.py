"""Upstream error messages and secret redaction for everything the consumer reports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SECRET_LENGTH", "parse_json", "redact_text", "redact_tree", "secret_forms", "upstream_message"]

# Shorter values (flags, "v1", "eu") cannot be meaningful secrets and would garble every message.
MIN_SECRET_LENGTH = 3
_MAX_MESSAGE = 300
_MAX_TEXT = 200
_SPACES = re.compile(r"\s+")


def _forms_of(text: str) -> set[str]:
    """How one secret can show up in text: as written, without surrounding whitespace, URL-encoded
    (query strings, form bodies) and escaped the way ``repr``/JSON print it (library error texts
    such as ``Illegal header value b'Bearer tok\\n'``)."""
    forms: set[str] = set()
    for base in {text, text.strip()}:
        forms.update({base, quote(base, safe=""), quote_plus(base, safe=""), quote(base)})
    forms.update({
        repr(text)[1:-1],
        repr(text.encode("utf-8", errors="replace"))[2:-1],
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    })
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def secret_forms(values: Iterable[Any]) -> set[str]:
    """Every form (see ``_forms_of``) of each secret value long enough to be one."""
    forms: set[str] = set()
    for value in values:
        if value is None or isinstance(value, bool | Mapping | list | tuple):
            continue
        text = str.__str__(value) if isinstance(value, str) else str(value)
        if len(text) >= MIN_SECRET_LENGTH:
            forms |= _forms_of(text)
    return forms


def redact_text(text: str, secrets: Iterable[str]) -> str:
    from naftiko_runtime.templates import redact

    return redact(text, secrets)


def redact_tree(value: Any, secrets: set[str]) -> Any:
    """A copy of a JSON tree with every secret replaced in keys and string values."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {redact_text(str(k), secrets): redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, secrets) for v in value]
    return value


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
    secrets = set(secrets)
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
        return _SPACES.sub(" ", redact_text(text, secrets)).strip()[:_MAX_TEXT]
    message = _SPACES.sub(" ", redact_text(message, secrets)).strip()
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."
