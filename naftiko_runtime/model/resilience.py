"""Reading ``resilience`` blocks (and the older consumer-level ``timeout`` and ``retry``) into ``Resilience``.

Each value is read over a base: the defaults for a consumer, the consumer's policy for one of its
operations. A field that is absent, of the wrong type or out of its range keeps the base's value, so
an operation overrides its consumer field by field and a bad value never breaks a capability (the
schema reports it). The ranges are ``spec.resilience.RANGES``, the table the schema is built from.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from naftiko_runtime.model.nodes import (
    CachePolicy,
    CircuitBreakerPolicy,
    Concurrency,
    RateLimit,
    Resilience,
    RetryPolicy,
    Timeouts,
)
from naftiko_runtime.model.read import Reader
from naftiko_runtime.spec.resilience import HTTP_METHODS, POSITIVE, RANGES, RETRY_STATUSES

__all__ = ["consumer_resilience", "operation_resilience"]


class _Block:
    """One mapping of a ``resilience`` block: typed, range-checked reads with a fallback."""

    def __init__(self, r: Reader, node: Any, pointer: str, name: str) -> None:
        self.r = r
        self.node = r.mapping(node, pointer)
        self.pointer = pointer
        self.name = name

    def __bool__(self) -> bool:
        return self.node is not None

    def child(self, key: str) -> _Block:
        raw, ptr = self.r.child(self.node, key, self.pointer) if self.node is not None else (None, "")
        return _Block(self.r, raw, ptr, key)

    def _in_range(self, key: str, value: float) -> bool:
        low, high = RANGES[(self.name, key)]
        positive = (self.name, key) in POSITIVE
        return math.isfinite(value) and low <= value <= high and (value > 0 or not positive)

    def number(self, key: str, default: float) -> float:
        value = self.r.number(self.node, key, self.pointer)
        return value if value is not None and self._in_range(key, value) else default

    def integer(self, key: str, default: int) -> int:
        value = self.r.integer(self.node, key, self.pointer)
        return value if value is not None and self._in_range(key, value) else default

    def flag(self, key: str, default: bool) -> bool:
        return self.r.flag(self.node, key, self.pointer, default)

    def raw(self, key: str) -> Any:
        return self.r.child(self.node, key, self.pointer)[0] if self.node is not None else None


def consumer_resilience(r: Reader, spec: dict[str, Any], pointer: str) -> Resilience:
    """A consumer's policy: the defaults, then its older ``timeout`` and ``retry``, then ``resilience``."""
    base = Resilience()
    legacy = _Block(r, spec, pointer, "")
    base = dataclasses.replace(base, timeouts=_timeouts(legacy.child("timeout"), base.timeouts),
                               retry=_retry(legacy.child("retry"), base.retry))
    block = _Block(r, spec, pointer, "").child("resilience")
    return _resilience(block, base) if block else base


def operation_resilience(r: Reader, spec: dict[str, Any], pointer: str, consumer: Resilience) -> Resilience | None:
    """An operation's own policy over its consumer's, or None when it declares none."""
    block = _Block(r, spec, pointer, "").child("resilience")
    return _resilience(block, consumer) if block else None


def _resilience(block: _Block, base: Resilience) -> Resilience:
    return Resilience(
        max_response_bytes=block.integer("maxResponseBytes", base.max_response_bytes),
        timeouts=_timeouts(block.child("timeout"), base.timeouts),
        retry=_retry(block.child("retry"), base.retry),
        concurrency=_concurrency(block, base.concurrency),
        rate_limit=_rate_limit(block.child("rateLimit"), base.rate_limit),
        circuit_breaker=_breaker(block.child("circuitBreaker"), base.circuit_breaker),
        cache=_cache(block.child("cache"), base.cache),
    )


def _timeouts(block: _Block, base: Timeouts) -> Timeouts:
    if not block:
        return base
    total = block.number("total", base.total)
    # read follows the total unless set apart from it (a longer total alone lengthens reads too)
    read = block.number("read", total if base.read == base.total else base.read)
    return Timeouts(connect=min(block.number("connect", base.connect), total), read=min(read, total), total=total)


def _retry(block: _Block, base: RetryPolicy) -> RetryPolicy:
    if not block:
        return base
    statuses = block.raw("statuses")
    methods = block.raw("methods")
    return RetryPolicy(
        attempts=block.integer("attempts", base.attempts),
        backoff=block.number("backoff", base.backoff),
        max_backoff=block.number("maxBackoff", base.max_backoff),
        statuses=frozenset(s for s in statuses if _status(s))
        if isinstance(statuses, list) else base.statuses,
        retry_after_cap=block.number("retryAfterCap", base.retry_after_cap),
        methods=frozenset(m.upper() for m in methods if isinstance(m, str) and m.upper() in HTTP_METHODS)
        if isinstance(methods, list) else base.methods,
    )


def _status(value: Any) -> bool:
    low, high = RETRY_STATUSES
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _concurrency(parent: _Block, base: Concurrency) -> Concurrency:
    """``concurrency: 32`` or ``concurrency: {limit: 32, maxWait: 10}``."""
    block = parent.child("concurrency")
    if block:
        return Concurrency(limit=block.integer("limit", base.limit), max_wait=block.number("maxWait", base.max_wait))
    limit = parent.r.integer(parent.node, "concurrency", parent.pointer)
    low, high = RANGES[("concurrency", "limit")]
    return Concurrency(limit, base.max_wait) if limit is not None and low <= limit <= high else base


def _rate_limit(block: _Block, base: RateLimit | None) -> RateLimit | None:
    if not block:
        return base
    if block.raw("enabled") is False:
        return None
    requests = block.integer("requests", base.requests if base is not None else 0)
    if requests == 0:  # no usable rate: none
        return base
    fallback = base or RateLimit(requests)
    return RateLimit(requests=requests, per=block.number("per", fallback.per),
                     max_wait=block.number("maxWait", fallback.max_wait))


def _breaker(block: _Block, base: CircuitBreakerPolicy) -> CircuitBreakerPolicy:
    if not block:
        return base
    return CircuitBreakerPolicy(enabled=block.flag("enabled", base.enabled),
                                failures=block.integer("failures", base.failures),
                                reset_after=block.number("resetAfter", base.reset_after))


def _cache(block: _Block, base: CachePolicy) -> CachePolicy:
    if not block:
        return base
    # writing a cache block turns caching on unless it says `enabled: false`
    return CachePolicy(enabled=block.flag("enabled", True), max_entries=block.integer("maxEntries", base.max_entries),
                       max_bytes=block.integer("maxBytes", base.max_bytes), ttl=block.number("ttl", base.ttl))
