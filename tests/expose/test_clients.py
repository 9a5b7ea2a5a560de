"""Slow, greedy and flooding clients against a real ``naftiko serve`` over real sockets: the
connection limits (``expose.limits``, ``expose.connections``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from served import ROOT, SERVE, exchange, get, greeter, poll, served

from naftiko_runtime.errors import ServeError
from naftiko_runtime.expose.connections import GuardedH11Protocol, quiet_floods
from naftiko_runtime.expose.limits import RESERVED_FDS, Limits, connection_cap
from naftiko_runtime.telemetry import logs

pytestmark = pytest.mark.timeout(60)

HALF_REQUEST = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"
MCP_HEAD = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\n")
TEN_THOUSAND_HEADERS = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + b"".join(b"x-h%d: v\r\n" % i for i in range(10_000)) + b"Content-Length: 0\r\n\r\n")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def room_for_sockets() -> Iterator[None]:
    """This process needs more than 1,100 descriptors (the server gets 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if wanted < 1300:
        pytest.skip(f"the open-file hard limit ({hard}) leaves no room for 1,100 sockets")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _answered_408(sock: socket.socket) -> bool:
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        return sock.recv(64).startswith(b"HTTP/1.1 408 ")
    return False


@pytest.mark.anyio
async def test_half_open_sockets_neither_starve_a_client_nor_flood_the_log(tmp_path: Path,
                                                                          room_for_sockets: None) -> None:
    attackers: list[socket.socket] = []
    pending: set[socket.socket] = set()
    over_cap = 1100 - (1024 - RESERVED_FDS)

    def enough_dropped() -> bool:
        pending.difference_update([sock for sock in pending if _answered_408(sock)])
        return 1100 - len(pending) >= over_cap

    with served(greeter(tmp_path), max_files=1024) as server:
        try:
            for _ in range(1100):
                attackers.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
                attackers[-1].sendall(HALF_REQUEST)
            started = time.monotonic()
            status = get(server.url("/health/live"))
            waited = time.monotonic() - started
            async with Client(server.url("/mcp")) as client:
                result = await client.call_tool("greet", {"who": "you"})
            pending.update(attackers)
            dropped_enough = poll(enough_dropped)  # the oldest half-sent requests made room for the client
        finally:
            for sock in attackers:
                sock.close()
    assert status == 200 and waited < 2.0
    assert result.structured_content == {"text": "Hello, you!"}
    assert dropped_enough
    log = server.output()
    assert "Traceback" not in log and "accept()" not in log
    assert len(log) < 2000, log


def test_a_head_or_body_that_does_not_arrive_in_time_is_dropped(tmp_path: Path) -> None:
    env = {"NAFTIKO_BODY_TIMEOUT": "1", "NAFTIKO_HEADER_TIMEOUT": "1"}
    with served(greeter(tmp_path), env) as server:
        body, body_held = exchange(server.port, MCP_HEAD + b'Content-Length: 1000\r\n\r\n{"jsonrpc"', deadline=5)
        head, head_held = exchange(server.port, HALF_REQUEST, deadline=5)
        nothing, nothing_held = exchange(server.port, b"", deadline=5)
        status = get(server.url("/health/live"))  # a request that arrives in time is served
    assert body.startswith(b"HTTP/1.1 408 ") and 0.9 < body_held < 5
    assert head.startswith(b"HTTP/1.1 408 ") and 0.5 < head_held < 5
    assert nothing == b"" and 0.5 < nothing_held < 5  # nothing asked, nothing answered
    assert status == 200
    log = server.output()
    assert "1 body timeout (408)" in log  # counted, once (the next ones join the next report)
    assert "Traceback" not in log and "ClientDisconnect" not in log


def test_ten_thousand_headers_get_431_at_once_and_hold_nobody_up(tmp_path: Path) -> None:
    within = (b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              + b"".join(b"x-h%d: v\r\n" % i for i in range(98)) + b"\r\n")  # 100 headers
    with served(greeter(tmp_path)) as server:
        answer, took = exchange(server.port, TEN_THOUSAND_HEADERS)
        big, _ = exchange(server.port, b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: "
                          + b"a" * 40_000 + b"\r\n\r\n")
        ok, _ = exchange(server.port, within)
        flood = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(10)]
        try:
            for sock in flood:
                sock.sendall(TEN_THOUSAND_HEADERS)
            started = time.monotonic()
            status = get(server.url("/health/live"))
            waited = time.monotonic() - started
            answers = [sock.recv(64) for sock in flood]
        finally:
            for sock in flood:
                sock.close()
    assert answer.startswith(b"HTTP/1.1 431 ") and took < 1.0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body) == {"type": "about:blank", "title": "Request Header Fields Too Large", "status": 431}
    assert big.startswith(b"HTTP/1.1 431 ")
    assert ok.startswith(b"HTTP/1.1 200 ")
    assert status == 200 and waited < 1.0
    assert all(a.startswith(b"HTTP/1.1 431 ") for a in answers)


def _statuses(sock: socket.socket, count: int) -> list[str]:
    """The status lines of the next ``count`` responses on ``sock`` ("EOF" once it is closed)."""
    buffer, found = b"", []
    while len(found) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return [*found, "EOF"]
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next((int(v) for k, _, v in (line.partition(":") for line in lines) if k.lower() == "content-length"),
                      0)
        while len(buffer) < length:
            buffer += sock.recv(65536)
        found.append(lines[0])
        buffer = buffer[length:]
    return found


def test_kept_alive_and_pipelined_requests_are_held_to_the_same_limits(tmp_path: Path) -> None:
    get_ = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    long_head = get_[:-2] + b"".join(b"x-h%d: v\r\n" % i for i in range(500)) + b"\r\n"
    ok = "HTTP/1.1 200 OK"
    with served(greeter(tmp_path)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            kept_alive = []
            for _ in range(3):
                sock.sendall(get_)
                kept_alive += _statuses(sock, 1)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(get_ * 3)
            pipelined = _statuses(sock, 3)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(get_ + long_head)  # the second head waits in h11's buffer while the first is answered
            too_long = _statuses(sock, 3)
    assert kept_alive == [ok] * 3 and pipelined == [ok] * 3
    assert too_long == [ok, "HTTP/1.1 431 Request Header Fields Too Large", "EOF"]


def test_limits_come_from_the_environment() -> None:
    assert Limits.from_env({}) == Limits()
    limits = Limits.from_env({"NAFTIKO_HEADER_TIMEOUT": "2.5", "NAFTIKO_MAX_CONNECTIONS": " 50 ",
                              "NAFTIKO_SESSION_IDLE_TIMEOUT": "60", "NAFTIKO_MAX_SESSIONS": "7"})
    assert limits == Limits(header_timeout=2.5, max_connections=50, session_idle_timeout=60, max_sessions=7)


@pytest.mark.parametrize(("name", "value"), [("NAFTIKO_MAX_CONNECTIONS", "0"), ("NAFTIKO_MAX_HEADERS", "1.5"),
                                             ("NAFTIKO_BODY_TIMEOUT", "-1"), ("NAFTIKO_HEADER_TIMEOUT", "inf"),
                                             ("NAFTIKO_MAX_SESSIONS", "many")])
def test_a_limit_that_is_not_a_positive_number_is_refused(name: str, value: str) -> None:
    with pytest.raises(ServeError, match=name):
        Limits.from_env({name: value})


def test_naftiko_serve_names_a_bad_limit_and_exits(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "NAFTIKO_BODY_TIMEOUT": "soon"}
    done = subprocess.run([sys.executable, *SERVE, str(greeter(tmp_path)), "--port", "0"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "NAFTIKO_BODY_TIMEOUT must be a positive number of seconds, not 'soon'" in done.stderr


def test_the_connection_cap_fits_the_open_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    assert connection_cap(Limits(), 1) == (1024 - RESERVED_FDS, None)
    assert connection_cap(Limits(max_connections=100), 2) == (100, None)
    cap, warning = connection_cap(Limits(max_connections=5000), 2)
    assert cap == (1024 - RESERVED_FDS) // 2
    assert warning is not None and "NAFTIKO_MAX_CONNECTIONS=5000" in warning and "ulimit -n" in warning


def test_accept_failures_are_counted_not_logged_each(caplog: pytest.LogCaptureFixture) -> None:
    emfile = {"message": "socket.accept() out of system resource", "exception": OSError(errno.EMFILE, "no")}
    other = {"message": "something else broke", "exception": RuntimeError("boom")}
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING), quiet_floods(loop):
            for _ in range(1000):
                loop.call_exception_handler(emfile)
            loop.call_exception_handler(other)  # anything else is still asyncio's to log
        restored = loop.get_exception_handler() is None
    finally:
        loop.close()
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["accept() failed: 1 EMFILE (reported at most every 10 s)", "something else broke"]
    assert restored


def test_a_tally_reports_once_per_interval_with_the_count(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    tally = logs.Tally(logging.getLogger("naftiko.test"), "dropped", interval=10)
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            tally.add("head timeout")
        tally.add("refused")
        now[0] += 10
        tally.add("head timeout")
    assert [record.getMessage() for record in caplog.records] == [
        "dropped: 1 head timeout (reported at most every 10 s)",
        "dropped: 500 head timeout, 1 refused (reported at most every 10 s)"]


class _Clock:
    """A loop's timers without a loop: ``advance`` runs what is due, in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.armed: list[asyncio.TimerHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, (), loop=asyncio.new_event_loop())
        handle._loop.close()  # only its when() and cancel() are used
        self.armed.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := sorted((h for h in self.armed if not h.cancelled() and h.when() <= self.now),
                            key=lambda h: h.when()):
            self.armed.remove(due[0])
            due[0]._run()


def test_a_phase_deadline_moves_without_a_timer_per_request_and_still_fires() -> None:
    clock, fired = _Clock(), []
    conn = GuardedH11Protocol.__new__(GuardedH11Protocol)
    conn.loop, conn.timer, conn.deadline, conn.expire = clock, None, None, None  # type: ignore[assignment]
    for _ in range(100):  # a busy keep-alive connection: waiting for a head, then answering, 100 times
        conn._set_timer(10.0, lambda: fired.append("head"))
        clock.advance(0.5)
        conn._set_timer(None)
    assert len(clock.armed) <= 6 and fired == []  # about one timer per 10 s, not one per request
    conn._set_timer(10.0, lambda: fired.append("head"))
    clock.advance(9.9)
    assert fired == []
    clock.advance(0.2)
    assert fired == ["head"]
    conn._set_timer(30.0, lambda: fired.append("body"))
    conn._set_timer(1.0, lambda: fired.append("sooner"))  # an earlier deadline re-arms at once
    clock.advance(1.01)
    assert fired == ["head", "sooner"]
    conn._set_timer(5.0, lambda: fired.append("gone"))
    conn._set_timer(None)  # the app is answering: no deadline
    clock.advance(60)
    assert fired == ["head", "sooner"]
