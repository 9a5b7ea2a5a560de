"""What one client may take from the server, and how to change it (``NAFTIKO_*`` variables).

Each limit answers one way a slow, greedy or flooding client could starve the others:

``NAFTIKO_HEADER_TIMEOUT`` (10 s)
    A request head must arrive within this time of the connection opening (or of the previous
    response, on a kept-alive connection). Else 408 and the socket is closed: half-sent requests
    cannot hold connections.
``NAFTIKO_BODY_TIMEOUT`` (30 s)
    A declared body must arrive whole within this time of its head (4 MiB, the body limit, at
    140 KB/s). Else 408 and the socket is closed; the app reads a disconnect. A body declared and
    never sent, or trickled, cannot hold a call.
``NAFTIKO_MAX_HEADERS`` (100) and ``NAFTIKO_MAX_HEADER_BYTES`` (32 KiB)
    A longer request head gets 431 before it is parsed: parsing 10,000 headers takes h11 50 ms and
    the MCP SDK seconds (its header copy is quadratic), all on the event loop.
``NAFTIKO_MAX_CONNECTIONS`` (1,000 per listener, lowered to fit the open-file limit)
    At the cap the connection that has waited longest for a request head is closed to make room; if
    every connection has a request in progress, the newcomer gets 503. The process never runs out
    of file descriptors, where ``accept()`` itself fails.
``NAFTIKO_SESSION_IDLE_TIMEOUT`` (300 s)
    A session of the older, session-based MCP era with no request for this long is closed.
``NAFTIKO_MAX_SESSIONS`` (1,000 per MCP endpoint)
    At the cap the longest-idle session that never completed a call is closed to make room (then the
    longest-idle one), so a flood of ``initialize`` requests cannot lock real clients out.

Request bodies stay limited to 4 MiB (``guards.BodyLimit``). ``connections`` enforces the
connection limits, ``mcp`` the session ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from naftiko_runtime.errors import ServeError

__all__ = ["DEFAULT_MAX_CONNECTIONS", "RESERVED_FDS", "Limits", "connection_cap"]

DEFAULT_MAX_CONNECTIONS = 1000
# Descriptors kept out of the connection budget: the event loop, listening sockets, upstream
# connections, files read while serving, and connections accepted before they are counted.
RESERVED_FDS = 192


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit above; ``max_connections`` None means the default, fitted to the open-file limit."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_headers: int = 100
    max_header_bytes: int = 32 * 1024
    max_connections: int | None = None
    session_idle_timeout: float = 300.0
    max_sessions: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Limits:
        """The defaults, overridden by any ``NAFTIKO_<FIELD>`` variable set. Raises ``ServeError``."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = f"NAFTIKO_{field.name.upper()}"
            text = environ.get(name, "").strip()
            if text:
                parse: Callable[[str], float] = float if field.name.endswith("timeout") else int
                values[field.name] = _positive(name, text, parse)
        return cls(**values)


def _positive(name: str, text: str, parse: Callable[[str], float]) -> float:
    try:
        value = parse(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        what = "number of seconds" if parse is float else "whole number"
        raise ServeError(f"{name} must be a positive {what}, not {text!r}")
    return value


def connection_cap(limits: Limits, listeners: int) -> tuple[int, str | None]:
    """Connections each of ``listeners`` may hold, and a warning when the configured cap had to be
    lowered: every listener at its cap must still leave ``RESERVED_FDS`` descriptors free."""
    wanted = limits.max_connections or DEFAULT_MAX_CONNECTIONS
    try:
        import resource
    except ImportError:  # not a Unix: no descriptor limit to fit
        return wanted, None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted, None
    budget = max(1, (soft - RESERVED_FDS) // max(1, listeners))
    if wanted <= budget:
        return wanted, None
    warning = None
    if limits.max_connections is not None:
        warning = (f"NAFTIKO_MAX_CONNECTIONS={wanted} does not fit the open-file limit ({soft}) with "
                   f"{listeners} listener(s): each holds at most {budget} connections; raise `ulimit -n` "
                   "to allow more")
    return budget, warning
