"""Every listener's connections: uvicorn's h11 protocol, held to ``limits.Limits``.

Alone, uvicorn waits for a request head or body as long as the client takes, accepts connections
until the process runs out of file descriptors, and parses a head of any size that arrives in one
read. ``Gate.protocol()`` is the protocol a listener's uvicorn serves with instead:

- each phase of a request has its timer: reading the head (``header_timeout``), reading the body
  (``body_timeout``); none while the app answers (a call takes as long as it takes);
- the head is measured as it arrives, before h11 parses it (``max_header_bytes``, ``max_headers``);
- the ``Gate`` counts the listener's connections: at ``max_connections`` a newcomer takes the place
  of a connection already answered and closing, else of the one waiting longest for a request head;
  only when every connection has a request in progress is it refused (503) and closed at once;
- a connection dropped with an answer (408, 431) is half-closed and read (and discarded) for up to
  ``LINGER`` seconds before it is closed: closing with unread input would reset the connection and
  the client might lose the answer.

Nothing here logs per connection. Drops are counted and logged at most once per ``LOG_INTERVAL``
(a ``Tally``), and so are failed ``accept()`` calls and malformed requests (``quiet_floods``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import http
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from naftiko_runtime.expose.limits import Limits
from naftiko_runtime.telemetry.logs import Tally

__all__ = ["ACCEPT_BATCH", "LINGER", "LISTEN_BACKLOG", "LOG_INTERVAL", "Gate", "GuardedH11Protocol",
           "quiet_floods"]

logger = logging.getLogger("naftiko.http")

LOG_INTERVAL = 10.0
LINGER = 2.0
LISTEN_BACKLOG = 2048
# asyncio accepts up to its ``backlog`` argument connections per wake-up, before any of them is
# counted: a small batch keeps that overshoot inside the descriptors ``limits`` reserves.
ACCEPT_BATCH = 16

HEAD, BODY, CLOSED = "head", "body", "closed"
_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a head
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@contextlib.contextmanager
def quiet_floods(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While inside, count what a flood repeats, logged once per interval: ``accept()`` failures for
    want of descriptors, buffers or memory (asyncio logs a traceback per attempt, thousands a second:
    74 MB in 75 s under 1,100 half-open sockets) and uvicorn's warning per malformed request."""
    failed = Tally(logger, "accept() failed", LOG_INTERVAL)
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES
                and str(context.get("message", "")).startswith("socket.accept()")):
            failed.add(errno.errorcode.get(exc.errno or 0, "error"))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    uvicorn_log = logging.getLogger("uvicorn.error")
    counted = _RequestWarnings()
    loop.set_exception_handler(handler)
    uvicorn_log.addFilter(counted)
    try:
        yield
    finally:
        uvicorn_log.removeFilter(counted)
        loop.set_exception_handler(previous)


class _RequestWarnings(logging.Filter):
    """uvicorn's HTTP protocol warns once per bad request (invalid, an unsupported upgrade): counted."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = Tally(logger, "requests refused by uvicorn", LOG_INTERVAL)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and record.module == "h11_impl":
            self.tally.add(repr(record.getMessage()[:60]))
            return False
        return True


def _answer(status: int) -> bytes:
    """A complete response that closes the connection, written outside h11 (no request may be parsed)."""
    reason = http.HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": reason, "status": status}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class _Head:
    """A request head as it arrives: its size and line count up to the blank line that ends it."""

    __slots__ = ("lines", "size", "tail")

    def __init__(self) -> None:
        self.size = 0
        self.lines = 0
        self.tail = b""  # the last bytes seen: the end of a head may straddle two reads

    def fits(self, data: bytes, limits: Limits) -> bool:
        """Count ``data`` up to the end of the head; False once the head is over a limit."""
        window = self.tail + data
        end = _HEAD_END.search(window)
        part = data if end is None else data[: max(0, end.end() - len(self.tail))]
        self.size += len(part)
        self.lines += part.count(b"\n")
        self.tail = window[-2:]
        headers = self.lines - (2 if end is not None else 1)  # not the request line, nor the blank one
        return self.size <= limits.max_header_bytes and headers <= limits.max_headers


class Gate:
    """One listener's connections: how many, which can make room for a newcomer, what was dropped."""

    def __init__(self, limits: Limits, max_connections: int, name: str) -> None:
        self.limits = limits
        self.max_connections = max_connections
        self.waiting: dict[GuardedH11Protocol, None] = {}  # waiting for a request head, longest first
        self.closing: dict[GuardedH11Protocol, None] = {}  # answered, reading what is left before the close
        self.tally = Tally(logger, f"connections to {name}", LOG_INTERVAL)

    def protocol(self) -> type[GuardedH11Protocol]:
        """The protocol class for uvicorn's ``Config(http=...)``, bound to this gate."""
        return type("GuardedH11Protocol", (GuardedH11Protocol,), {"gate": self})

    def make_room(self) -> bool:
        """Close one connection that serves nobody now; False when every one has a request in progress."""
        for pool in (self.closing, self.waiting):
            if pool:
                next(iter(pool)).evict()
                return True
        return False


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the phase timers, the head limits and the connection cap."""

    gate: ClassVar[Gate]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase: str | None = None  # HEAD, BODY, CLOSED, or None while the app answers
        self.timer: asyncio.TimerHandle | None = None
        self.deadline: float | None = None  # loop time when the current phase times out
        self.expire: Callable[[], object] | None = None  # what happens then
        self.head = _Head()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.gate.max_connections and not self.gate.make_room():
            self.transport, self.phase = transport, CLOSED
            self.gate.tally.add("refused (503)")
            transport.write(_answer(503))
            transport.close()
            return
        super().connection_made(transport)
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_timer(None)
        if self.timer is not None:  # it would keep this connection alive until it fires
            self.timer.cancel()
            self.timer = None
        self.gate.waiting.pop(self, None)
        self.gate.closing.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.phase == CLOSED:
            return  # answered already: what the client still sends is dropped
        if self.phase == HEAD and not self.head.fits(data, self.gate.limits):
            self._drop(431, "head too large (431)")
            return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        if self.phase != CLOSED and self.conn.their_state is h11.DONE:
            self.head = _Head()
            pending, _ = self.conn.trailing_data  # a pipelined request, which h11 parses next
            if pending and not self.head.fits(pending, self.gate.limits):
                self._drop(431, "head too large (431)")
                return
        super().on_response_complete()
        self._follow()

    def shutdown(self) -> None:
        if self.phase == CLOSED:
            self.transport.close()
        else:
            super().shutdown()

    def evict(self) -> None:
        """Close now to make room for a newcomer (408 first if a request head had begun)."""
        if self.phase == CLOSED:
            self.gate.closing.pop(self, None)
            self._set_timer(None)
            self.transport.close()
        else:
            self._drop(408, "closed to make room", linger=False)

    def _follow(self) -> None:
        """Follow h11 into the request's next phase and arm that phase's timer."""
        if self.phase == CLOSED:
            return
        state = self.conn.their_state
        phase = HEAD if state is h11.IDLE else BODY if state is h11.SEND_BODY else None
        if phase == self.phase:
            return
        self.phase = phase
        limits = self.gate.limits
        if phase == HEAD:
            self.gate.waiting[self] = None
            self._set_timer(limits.header_timeout, functools.partial(self._drop, 408, "head timeout (408)"))
            return
        self.gate.waiting.pop(self, None)
        self.head = _Head()
        if phase == BODY:
            self._set_timer(limits.body_timeout, functools.partial(self._drop, 408, "body timeout (408)"))
        else:
            self._set_timer(None)

    def _set_timer(self, seconds: float | None, callback: Callable[[], object] | None = None) -> None:
        """Move the phase deadline. Every request moves it twice; the loop's timer is re-armed only
        when it would fire late, so a busy keep-alive connection costs no timer per request (each
        cancelled timer stays in asyncio's heap, and those comparisons were a tenth of a REST call)."""
        if seconds is None or callback is None:
            self.deadline = self.expire = None
            return
        self.deadline, self.expire = self.loop.time() + seconds, callback
        if self.timer is None or self.timer.when() > self.deadline:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(self.deadline, self._expired)

    def _expired(self) -> None:
        fired, self.timer = self.timer, None
        if self.deadline is None or self.expire is None:
            return
        if fired is not None and fired.when() < self.deadline:  # the deadline moved on since it was set
            self.timer = self.loop.call_at(self.deadline, self._expired)
            return
        expire, self.deadline, self.expire = self.expire, None, None
        expire()

    def _drop(self, status: int, reason: str, linger: bool = True) -> None:
        """Answer ``status`` unless a response has begun or the client sent nothing yet, then close.
        A running app reads a disconnect; whatever it still sends is discarded."""
        if self.phase == CLOSED:
            return
        silent = self.phase == HEAD and not self.head.size
        self.phase = CLOSED
        self.gate.waiting.pop(self, None)
        self.gate.tally.add(reason)
        if self.transport.is_closing():  # closed already (uvicorn's keep-alive timeout): no one to answer
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            silent = silent or cycle.response_started
            cycle.disconnected = True
            cycle.message_event.set()
        if not silent:
            self.transport.write(_answer(status))
        if linger and self.transport.can_write_eof():
            self.gate.closing[self] = None
            self.transport.write_eof()
            if self.flow is not None:
                self.flow.resume_reading()
            self._set_timer(LINGER, self.transport.close)
        else:
            self._set_timer(None)
            self.transport.close()
