"""Secrets and their redaction: the one place that knows how a secret can show up in text.

A secret (a bound value, a rendered credential, a fetched token) must never reach a result, an error
or a log line. ``Redactor`` masks every form of each secret it knows as ``***``, in any letter case
(a host name comes back lower-cased, an echo may shout):

* as written, trimmed of surrounding whitespace;
* percent-encoded (``quote``/``quote_plus``, and every byte encoded), as query strings and form
  bodies carry it;
* escaped the way JSON and Python ``repr`` print it (library error texts quote header values);
* base64 and base64url, at each of the three byte alignments the secret can have inside a longer
  encoded text (``Basic base64(user:pass)``, ``base64("Bearer <token>")`` in an echoed header), so
  any encoded text that contains the secret contains one of these fragments.

Masking applies to mapping keys as well as values. What is not covered: a secret shorter than
``MIN_SECRET_LENGTH``; a change of case that changes the length (``ß`` upper-cased is ``SS``); other
encodings (hex, gzip, encryption); base64 of a secret shorter than 6 characters (its fragments are
too short to tell apart from ordinary text); and an encoded text whose fragment is split across two
separate strings.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SECRET_LENGTH", "Redactor", "Secret", "redact", "secret_forms"]

# Shorter values (flags, "v1", "eu") cannot be meaningful secrets and would garble every message.
MIN_SECRET_LENGTH = 3
_MIN_ENCODED = 6  # an encoded fragment shorter than this would match ordinary text


class Secret(str):
    """A string holding a secret: renders as its value, never shows it in ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"


def _base64_fragments(raw: bytes) -> set[str]:
    """The part of base64(prefix + raw + suffix) that depends on ``raw`` alone, for each alignment of
    ``raw`` in 3-byte groups; in standard and URL-safe alphabets."""
    found: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start = -(-8 * offset // 6)  # characters that still carry prefix bits
        end = (8 * (offset + len(raw))) // 6  # characters whose bits all come from raw
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_ENCODED:
            found.update({fragment, fragment.replace("+", "-").replace("/", "_")})
    return found


def _forms_of(text: str) -> set[str]:
    forms: set[str] = set()
    for base in {text, text.strip()}:
        every_byte = "".join(f"%{byte:02X}" for byte in base.encode("utf-8", errors="replace"))
        forms.update({base, quote(base, safe=""), quote_plus(base, safe=""), quote(base), every_byte})
    forms.update({
        repr(text)[1:-1],
        repr(text.encode("utf-8", errors="replace"))[2:-1],
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    })
    forms.update(_base64_fragments(text.encode("utf-8", errors="replace")))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def secret_forms(values: Iterable[Any]) -> set[str]:
    """Every form of each secret value long enough to be one (see the module docstring)."""
    forms: set[str] = set()
    for value in values:
        if value is None or isinstance(value, bool | Mapping | list | tuple):
            continue
        text = str.__str__(value) if isinstance(value, str) else str(value)
        if len(text) >= MIN_SECRET_LENGTH:
            forms |= _forms_of(text)
    return forms


class Redactor:
    """Masks a fixed set of secrets; the patterns are compiled once, on first use.

    A case-insensitive pattern loses the regex engine's fast literal scan (several times slower on
    every result), so each text is first searched case-folded with a plain pattern of the case-folded
    forms, and only a text that holds one is rewritten with the case-insensitive pattern."""

    __slots__ = ("_forms", "_patterns")

    def __init__(self, secrets: Iterable[Any] = (), *, forms: Iterable[str] = ()) -> None:
        self._forms = frozenset(secret_forms(secrets)) | frozenset(forms)
        self._patterns: _Patterns | None = None

    def __bool__(self) -> bool:
        return bool(self._forms)

    @property
    def forms(self) -> frozenset[str]:
        return self._forms

    def extended(self, secrets: Iterable[Any]) -> Redactor:
        """This redactor plus ``secrets`` (a call's own rendered credentials, say)."""
        extra = secret_forms(secrets)
        return self if extra <= self._forms else Redactor(forms=self._forms | extra)

    def _compiled(self) -> _Patterns | None:
        if self._patterns is None and self._forms:
            ordered = sorted(self._forms, key=len, reverse=True)  # longest first: no partial leftovers
            folded = sorted({form.casefold() for form in self._forms}, key=len, reverse=True)
            self._patterns = (re.compile("|".join(re.escape(form) for form in folded)),
                              re.compile("|".join(re.escape(form) for form in ordered), re.IGNORECASE))
        return self._patterns

    def text(self, text: str) -> str:
        patterns = self._compiled()
        if patterns is None or not text:
            return text
        return _masked(text, patterns)

    def tree(self, value: Any) -> Any:
        """A copy of a JSON tree with every secret masked in keys and string values. A ``str``
        subclass that carries a media type (an unmapped upstream body) keeps its class."""
        patterns = self._compiled()
        if patterns is None:
            return value
        return _tree(value, patterns)


_Patterns = tuple[re.Pattern[str], re.Pattern[str]]  # (finder over case-folded text, masker in any case)


def _masked(text: str, patterns: _Patterns) -> str:
    finder, masker = patterns
    return masker.sub("***", text) if finder.search(text.casefold()) else text


def _tree(value: Any, patterns: _Patterns) -> Any:
    return _walk(value, patterns[0].search, patterns[1].sub)


def _walk(value: Any, find: Callable[[str], object], sub: Callable[[str, str], str]) -> Any:
    if isinstance(value, str):
        if not find(value.casefold()):  # the usual case, on every string of every result: kept lean
            return value
        masked = sub("***", value)
        media_type = getattr(value, "media_type", None)
        return cast(Any, type(value))(masked, media_type) if media_type is not None else masked
    if isinstance(value, Mapping):
        return {_walk(str(k), find, sub): _walk(v, find, sub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, find, sub) for v in value]
    return value


def redact(text: str, secrets: Iterable[Any]) -> str:
    """``text`` with every form of each secret masked (builds a one-off ``Redactor``)."""
    return Redactor(secrets).text(text)
