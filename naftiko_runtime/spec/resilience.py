"""The ``resilience`` block (naftiko-runtime extension) of a consumed API or of one operation.

It bounds what a call may cost: the answer's size, time limits, retries, concurrency, a rate
limit, a circuit breaker and an HTTP cache. ``RANGES`` bounds every number; the model reads the
same table, so the validator and the runtime agree on what a value means.
"""

from __future__ import annotations

from naftiko_runtime.spec._dsl import Schema, array, boolean, either, integer, number, obj, ref, string, titled

MIB = 1024 * 1024
HTTP_METHODS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH", "TRACE")

# (block, field) -> (minimum, maximum), both inclusive.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("resilience", "maxResponseBytes"): (1, 1024 * MIB),
    ("timeout", "connect"): (0, 3600),
    ("timeout", "read"): (0, 3600),
    ("timeout", "total"): (0, 3600),
    ("retry", "attempts"): (1, 10),
    ("retry", "backoff"): (0, 60),
    ("retry", "maxBackoff"): (0, 300),
    ("retry", "retryAfterCap"): (0, 3600),
    ("concurrency", "limit"): (1, 10_000),
    ("concurrency", "maxWait"): (0, 300),
    ("rateLimit", "requests"): (1, 1_000_000),
    ("rateLimit", "per"): (0, 86_400),
    ("rateLimit", "maxWait"): (0, 300),
    ("circuitBreaker", "failures"): (1, 1000),
    ("circuitBreaker", "resetAfter"): (0, 3600),
    ("cache", "maxEntries"): (1, 100_000),
    ("cache", "maxBytes"): (1, 1024 * MIB),
    ("cache", "ttl"): (0, 86_400),
}
# Durations where 0 means nothing sensible (a zero timeout, a zero rate window): must be > 0.
POSITIVE = frozenset({("timeout", "connect"), ("timeout", "read"), ("timeout", "total"), ("rateLimit", "per"),
                      ("circuitBreaker", "resetAfter")})
RETRY_STATUSES = (400, 599)


def _count(block: str, key: str, description: str) -> Schema:
    low, high = RANGES[(block, key)]
    return integer(description, minimum=int(low), maximum=int(high))


def _seconds(block: str, key: str, description: str) -> Schema:
    low, high = RANGES[(block, key)]
    if (block, key) in POSITIVE:
        return number(description, above=0, maximum=high)
    return number(description, minimum=low, maximum=high)


DEFS: dict[str, Schema] = {}

DEFS["Timeouts"] = obj({
    "connect": _seconds("timeout", "connect", "Seconds to wait for a connection (default 5)."),
    "read": _seconds("timeout", "read", "Seconds to wait for more of the answer (default: the total)."),
    "total": _seconds("timeout", "total", "Seconds one request may take in all, retries aside (default 30)."),
}, description="naftiko-runtime extension: time limits for calls to this API, in seconds.")

DEFS["RetryPolicy"] = obj({
    "attempts": _count("retry", "attempts", "Total tries, the first one included (default 3; 1 turns retries off)."),
    "backoff": _seconds("retry", "backoff", "Seconds before the first retry (default 0.2); each wait is random "
                        "up to backoff × 2^(retry − 1)."),
    "maxBackoff": _seconds("retry", "maxBackoff", "Longest wait between tries, in seconds (default 5)."),
    "statuses": array(integer(minimum=RETRY_STATUSES[0], maximum=RETRY_STATUSES[1]),
                      "HTTP statuses that cause a retry (default 429, 502, 503, 504)."),
    "retryAfterCap": _seconds("retry", "retryAfterCap", "Longest `Retry-After` honoured, in seconds (default 30)."),
    "methods": array(string(enum=(*HTTP_METHODS, *(m.lower() for m in HTTP_METHODS))),
                     "Methods that may be retried (default GET, HEAD, PUT, DELETE, OPTIONS: the idempotent ones)."),
}, description="naftiko-runtime extension: how failed calls are retried (connection errors and the listed "
               "statuses, idempotent methods only unless `methods` says otherwise).")

DEFS["Resilience"] = obj({
    "maxResponseBytes": _count("resilience", "maxResponseBytes",
                               "Largest answer accepted, in decoded bytes (default 10485760, 10 MiB)."),
    "timeout": ref("Timeouts"),
    "retry": ref("RetryPolicy"),
    "concurrency": either(
        _count("concurrency", "limit", "Calls to this API at once (default 32)."),
        obj({"limit": _count("concurrency", "limit", "Calls to this API at once (default 32)."),
             "maxWait": _seconds("concurrency", "maxWait", "Seconds a call waits for a free slot (default 10).")}),
        description="How many calls may run against this API at once; the others wait, then are refused."),
    "rateLimit": obj({
        "requests": _count("rateLimit", "requests", "Requests allowed per window."),
        "per": _seconds("rateLimit", "per", "The window, in seconds (default 1)."),
        "maxWait": _seconds("rateLimit", "maxWait", "Seconds a call may wait for its turn (default 5)."),
        "enabled": boolean("`false` removes a rate limit set above."),
    }, rules=({"if": {"not": {"required": ["enabled"], "properties": {"enabled": {"const": False}}}},
               "then": {"required": ["requests"]}},),
       description="At most `requests` requests per `per` seconds to this API (none by default)."),
    "circuitBreaker": obj({
        "enabled": boolean("Whether the breaker runs (default true)."),
        "failures": _count("circuitBreaker", "failures", "Failures in a row that open it (default 5)."),
        "resetAfter": _seconds("circuitBreaker", "resetAfter", "Seconds before one trial call (default 30)."),
    }, description="After `failures` failed calls in a row, calls fail at once for `resetAfter` seconds."),
    "cache": obj({
        "enabled": boolean("Whether answers are cached (default true once this block is written)."),
        "maxEntries": _count("cache", "maxEntries", "Answers kept at most (default 256)."),
        "maxBytes": _count("cache", "maxBytes", "Bytes kept at most (default 8388608, 8 MiB)."),
        "ttl": _seconds("cache", "ttl", "Longest freshness in seconds, whatever the API grants (default 60)."),
    }, description="Caches GET answers as the API's Cache-Control, ETag and Last-Modified allow, per caller."),
}, description="naftiko-runtime extension: limits, time limits, retries, concurrency, rate limit, circuit "
               "breaker and cache for calls to this API. On an operation its fields override the API's; "
               "concurrency, rateLimit, circuitBreaker and the cache's sizes are kept per API.")

DEFS = titled(DEFS, {"Timeouts": "timeout", "RetryPolicy": "retry", "Resilience": "resilience"})
