"""Stage 7, consume: a consumed operation + arguments -> HTTP request -> response -> JSON tree.

The only package that imports the HTTP client. ``HttpConsumer`` is the entry point; ``request``
builds requests (pure), ``auth`` authenticates them, ``limits`` reads bodies within a size limit,
``resilience`` holds each consumer's circuit breaker, bulkhead and rate limit, ``cache`` its HTTP
cache, and ``messages`` explains failures without leaking secrets.
"""

from typing import Any

from naftiko_runtime.consume.http import HttpConsumer, UpstreamResponse

__all__ = ["HttpConsumer", "UpstreamResponse", "in_process"]


def in_process(app: Any) -> Any:
    """A transport that sends a consumer's requests to an ASGI app in this process (a simulator)."""
    import httpx2

    return httpx2.ASGITransport(app=app)
