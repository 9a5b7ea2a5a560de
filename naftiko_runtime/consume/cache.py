"""A bounded in-memory HTTP cache for one consumer's GET answers (RFC 9111, as a shared cache).

Only 200 answers the upstream marks cacheable are kept: ``no-store`` and ``Set-Cookie`` never,
``private`` only for the one authenticated caller that got it (never for an anonymous one), and only
with a freshness lifetime (``s-maxage``, ``max-age`` or ``Expires``, capped by the policy's ``ttl``) or
a validator (``ETag``, ``Last-Modified``) to revalidate with. A stale entry is revalidated with
``If-None-Match``/``If-Modified-Since``; a 304 refreshes it.

Keys are SHA-256 digests of the request as sent (method, URL, headers) plus the credentials the
consumer adds to it, so two callers with different credentials never share an entry, and no secret
in a URL or a header is kept in clear.

hishel (``hishel.httpx2.AsyncCacheTransport``) caches at the transport, below authentication: it
would key on requests without the credentials, and bounds its in-memory store by count only.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx2

__all__ = ["CacheEntry", "ResponseCache", "cache_key", "directives", "storable"]

# Headers that change on every request without changing the answer: kept out of keys.
_VOLATILE = frozenset({b"traceparent", b"tracestate", b"baggage", b"if-none-match", b"if-modified-since"})


def directives(headers: httpx2.Headers) -> dict[str, str | None]:
    """Cache-Control directives, lower-cased names; a repeated directive keeps its first value."""
    found: dict[str, str | None] = {}
    for value in headers.get_list("cache-control"):
        for part in value.split(","):
            name, eq, arg = part.strip().partition("=")
            if name:
                found.setdefault(name.lower(), arg.strip().strip('"') if eq else None)
    return found


def _seconds(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def freshness(headers: httpx2.Headers, now: float, ttl: float) -> float:
    """How long an answer stays fresh from now (seconds, 0 when it must be revalidated), capped by ``ttl``."""
    cc = directives(headers)
    if "no-cache" in cc:
        return 0.0
    lifetime = _seconds(cc.get("s-maxage")) if "s-maxage" in cc else _seconds(cc.get("max-age"))
    if lifetime is None and "max-age" not in cc and "s-maxage" not in cc:
        expires, date = _date(headers.get("expires")), _date(headers.get("date"))
        if expires is not None:
            lifetime = expires - (date if date is not None else now)
    age = _seconds(headers.get("age")) or 0.0
    return max(0.0, min(ttl, (lifetime or 0.0) - age))


def storable(response: httpx2.Response, *, authenticated_caller: bool) -> bool:
    """Whether a shared cache may keep this answer (``private`` ones only keyed to their caller)."""
    cc = directives(response.headers)
    if response.status_code != 200 or "no-store" in cc or "set-cookie" in response.headers:
        return False
    if response.headers.get("vary", "").strip() == "*":
        return False
    return authenticated_caller or "private" not in cc


def cache_key(request: httpx2.Request, credentials: Iterable[str], caller: str | None = None) -> str:
    """A digest of what identifies the answer: the request as sent, the credentials added to it and,
    for a ``private`` answer, the caller. Each part is length-prefixed so no two inputs collide."""
    digest = hashlib.sha256()

    def part(value: str | bytes) -> None:
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    part(request.method)
    part(str(request.url))
    for name, value in sorted((k.lower(), v) for k, v in request.headers.raw if k.lower() not in _VOLATILE):
        part(name)
        part(value)
    for credential in sorted(set(credentials)):
        part(credential)
    part(caller or "")
    part("private" if caller is not None else "shared")
    return digest.hexdigest()


@dataclass(slots=True)
class CacheEntry:
    status: int
    headers: httpx2.Headers
    content: bytes
    fresh_until: float  # on the cache's clock

    @property
    def size(self) -> int:
        return len(self.content) + sum(len(k) + len(v) for k, v in self.headers.raw)

    @property
    def validators(self) -> dict[str, str]:
        """The conditional headers that revalidate this entry."""
        found = {}
        if "etag" in self.headers:
            found["If-None-Match"] = self.headers["etag"]
        if "last-modified" in self.headers:
            found["If-Modified-Since"] = self.headers["last-modified"]
        return found


@dataclass(frozen=True, slots=True)
class Lookup:
    """A cacheable request: its keys (shared, and private to the caller when one is known), and the
    entry found under one of them."""

    shared: str
    private: str | None
    key: str | None
    entry: CacheEntry | None


class ResponseCache:
    """Least-recently-used entries, bounded by count and by total bytes."""

    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def fresh(self, entry: CacheEntry) -> bool:
        return self.clock() < entry.fresh_until

    def put(self, key: str, entry: CacheEntry) -> bool:
        """Keep ``entry`` (evicting the least recently used as needed); False when it is too big."""
        self.discard(key)
        if entry.size > self.max_bytes:
            return False
        self._entries[key] = entry
        self.bytes += entry.size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
        return True

    def discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def refresh(self, key: str, entry: CacheEntry, not_modified: httpx2.Headers, ttl: float,
                now: float) -> CacheEntry:
        """A 304 answer: the stored entry with the headers it updates and a new freshness lifetime."""
        headers = httpx2.Headers(entry.headers)
        for name in ("cache-control", "date", "etag", "expires", "last-modified", "age"):
            if name in not_modified:
                headers[name] = not_modified[name]
        fresh = CacheEntry(entry.status, headers, entry.content, self.clock() + freshness(headers, now, ttl))
        self.put(key, fresh)
        return fresh

    def lookup(self, request: httpx2.Request, secrets: Iterable[str], caller: str | None) -> Lookup | None:
        """Where a GET's answer would be kept, and what is kept there (None: not cacheable)."""
        if request.method != "GET" or "no-store" in request.headers.get("cache-control", ""):
            return None
        shared = cache_key(request, secrets)
        private = cache_key(request, secrets, caller) if caller is not None else None
        for key in (private, shared):
            entry = self.get(key) if key is not None else None
            if entry is not None:
                return Lookup(shared, private, key, entry)
        return Lookup(shared, private, None, None)

    def keep(self, lookup: Lookup, response: httpx2.Response, content: bytes, ttl: float) -> CacheEntry | None:
        """Keep a cacheable answer; a 304 refreshes the entry it revalidated, which is returned to
        answer with."""
        now = time.time()
        if response.status_code == 304 and lookup.entry is not None and lookup.key is not None:
            return self.refresh(lookup.key, lookup.entry, response.headers, ttl, now)
        if lookup.key is not None:
            self.discard(lookup.key)  # replaced by this answer, or no longer cacheable
        private = "private" in directives(response.headers)
        if not storable(response, authenticated_caller=lookup.private is not None):
            return None
        lifetime = freshness(response.headers, now, ttl)
        if lifetime <= 0 and not has_validator(response.headers):
            return None
        key = lookup.private if private else lookup.shared
        assert key is not None
        self.put(key, CacheEntry(response.status_code, response.headers, content, self.clock() + lifetime))
        return None


def has_validator(headers: httpx2.Headers) -> bool:
    return "etag" in headers or "last-modified" in headers
