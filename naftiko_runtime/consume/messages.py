"""What an upstream says when it fails: its own message, shortened, with secrets masked; and the HTTP
client's own log lines, masked the same way."""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx2

from naftiko_runtime import jsontext
from naftiko_runtime.errors import DecodeError, InvocationError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from naftiko_runtime.secrets import Redactor

__all__ = ["CLIENT_LOG", "decode_message", "parse_json", "redacted", "safe_reason", "upstream_message"]

_MAX_MESSAGE = 300
_MAX_TEXT = 200
_SPACES = re.compile(r"\s+")


def parse_json(content: bytes) -> Any:
    """The body as JSON, or None when it is not JSON."""
    if not content:
        return None
    try:
        return jsontext.loads(content)
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


# (substring of the lower-cased exception text, what to say instead): the first match wins
_REASONS: tuple[tuple[str, str], ...] = (
    ("refused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("no address associated", "host name not found"),
    ("name resolution", "host name not found"),
    ("getaddrinfo", "host name not found"),
    ("certificate", "TLS certificate rejected"),
    ("ssl", "TLS handshake failed"),
    ("unreachable", "network unreachable"),
    ("reset by peer", "connection reset"),
    ("header", "invalid header value"),
    ("disconnected", "connection closed without a response"),
)
_DEFAULT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (httpx2.UnsupportedProtocol, "unsupported URL scheme"),
    (httpx2.ProxyError, "proxy failed"),
    (httpx2.ConnectError, "connection failed"),
    (httpx2.LocalProtocolError, "invalid request"),
    (httpx2.RemoteProtocolError, "invalid response"),
    (httpx2.ReadError, "connection lost while reading"),
    (httpx2.WriteError, "connection lost while writing"),
)


def safe_reason(exc: Exception) -> str:
    """A short reason for a transport failure chosen from fixed texts, never the exception's own text."""
    text = str(exc).lower()
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return next((reason for kind, reason in _DEFAULT_REASONS if isinstance(exc, kind)), "request failed")


def decode_message(message: str, content: bytes, secrets: set[str]) -> str:
    """A decoder's message quotes at most a cut excerpt of the body, which redaction cannot catch
    once a secret is cut in half: when the body holds a secret, keep only the message's first part."""
    if any(secret.encode("utf-8", errors="ignore") in content for secret in secrets):
        return message.partition(": ")[0]
    return Redactor(forms=secrets).text(message)


def redacted(exc: InvocationError, ref: str, secrets: set[str]) -> InvocationError:
    if isinstance(exc, UpstreamError):
        body = Redactor(forms=secrets).tree(exc.body) if exc.body is not None else None
        return UpstreamError(exc.status, Redactor(forms=secrets).text(exc.upstream_message),
                             operation=exc.operation or ref, body=body)
    if type(exc) in (UpstreamTimeout, UpstreamUnavailable, DecodeError, InvocationError):
        return type(exc)(Redactor(forms=secrets).text(exc.message), operation=exc.operation or ref)
    return exc


# ----------------------------------------------------------------------------- the client's log


class _Secretive(Protocol):
    def log_secrets(self) -> tuple[set[str], list[str]]: ...


class _ClientLogRedactor(logging.Filter):
    """httpx2 logs every request URL at INFO: redact the secrets of live consumers from those lines
    (an API key placed in the query would otherwise be written to the log)."""

    def __init__(self) -> None:
        super().__init__()
        self.consumers: weakref.WeakSet[_Secretive] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        consumers = list(self.consumers)
        if consumers and isinstance(record.args, tuple):
            secrets: set[str] = set()
            names: set[str] = set()
            for consumer in consumers:
                forms, query_names = consumer.log_secrets()
                secrets |= forms
                names.update(query_names)
            record.args = tuple(_clean_url_arg(a, secrets, names) for a in record.args)
        return True


def _clean_url_arg(arg: Any, secrets: set[str], names: set[str]) -> Any:
    if not isinstance(arg, httpx2.URL | str):
        return arg
    text = str(arg)
    for name in names:
        text = re.sub(rf"([?&]{re.escape(quote_plus(name))}=)[^&#]*", r"\1***", text)
    return Redactor(forms=secrets).text(text)


CLIENT_LOG = _ClientLogRedactor()  # live consumers register here while their client is open
logging.getLogger("httpx2").addFilter(CLIENT_LOG)
