"""Sessions of the older, session-based MCP era (2025-11-25) against a real ``naftiko serve``: idle
expiry, the session cap making room, and inbound auth before any session (``expose.mcp``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from served import BEARER, TOKEN, Served, greeter, metric, poll, post, served

pytestmark = pytest.mark.timeout(60)

LEGACY = "2025-11-25"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": LEGACY, "capabilities": {},
                         "clientInfo": {"name": "flood", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(who: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "greet", "arguments": {"who": who}}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def flood(server: Served, count: int, headers: dict[str, str] | None = None) -> Counter[int]:
    """``count`` initialize requests, each opening a session it never uses: their statuses."""
    return Counter(post(server.url("/mcp"), INITIALIZE, headers)[0] for _ in range(count))


def open_session(server: Served) -> dict[str, str]:
    """A hand-driven legacy session (no GET stream): the headers of its later requests."""
    status, headers, _ = post(server.url("/mcp"), INITIALIZE)
    assert status == 200
    session = {"mcp-session-id": headers["mcp-session-id"], "mcp-protocol-version": LEGACY}
    assert post(server.url("/mcp"), INITIALIZED, session)[0] == 202
    return session


@pytest.mark.anyio
async def test_an_initialize_flood_does_not_lock_out_a_legacy_client(tmp_path: Path) -> None:
    with served(greeter(tmp_path), {"NAFTIKO_MAX_SESSIONS": "20", "NAFTIKO_METRICS": "1"}) as server:
        first = flood(server, 60)
        open_after_flood = metric(server, "mcp_server_sessions")
        async with Client(server.url("/mcp"), mode="legacy") as client:
            result = await client.call_tool("greet", {"who": "legacy"})
            second = flood(server, 60)
            again = await client.call_tool("greet", {"who": "still here"})
        open_at_end = metric(server, "mcp_server_sessions")
    assert first == {200: 60} and open_after_flood == 20  # never more than the cap
    assert result.structured_content == {"text": "Hello, legacy!"}
    assert second == {200: 60} and again.structured_content == {"text": "Hello, still here!"}
    assert open_at_end <= 20


def test_sessions_that_never_completed_a_call_make_room_first(tmp_path: Path) -> None:
    with served(greeter(tmp_path), {"NAFTIKO_MAX_SESSIONS": "5"}) as server:
        used = open_session(server)
        status, _, reply = post(server.url("/mcp"), call("used"), used)
        # 20 sessions more than the cap allows: the used one, idle longest, is still kept
        opened = flood(server, 20)
        status_after, _, reply_after = post(server.url("/mcp"), call("again"), used)
        unused = open_session(server)
        flood(server, 5)
        gone = post(server.url("/mcp"), call("late"), unused)[0]
    assert status == 200 and reply["result"]["structuredContent"] == {"text": "Hello, used!"}
    assert opened == {200: 20}
    assert status_after == 200 and reply_after["result"]["structuredContent"] == {"text": "Hello, again!"}
    assert gone == 404  # never used: closed to make room


def test_idle_sessions_expire(tmp_path: Path) -> None:
    env = {"NAFTIKO_SESSION_IDLE_TIMEOUT": "1", "NAFTIKO_METRICS": "1"}
    with served(greeter(tmp_path), env) as server:
        opened = flood(server, 5)
        counted = metric(server, "mcp_server_sessions")
        expired = poll(lambda: metric(server, "mcp_server_sessions") == 0)
    assert opened == {200: 5} and counted == 5
    assert expired


def test_unauthenticated_initialize_requests_open_no_session(tmp_path: Path) -> None:
    env = {"GREETER_TOKEN": TOKEN, "NAFTIKO_METRICS": "1"}
    with served(greeter(tmp_path, BEARER), env) as server:
        anonymous = flood(server, 30)
        wrong = flood(server, 10, {"Authorization": "Bearer not-the-token"})
        open_before = metric(server, "mcp_server_sessions")
        accepted = flood(server, 1, {"Authorization": f"Bearer {TOKEN}"})
        open_after = metric(server, "mcp_server_sessions")
    assert anonymous == {401: 30} and 200 not in wrong
    assert open_before == 0
    assert accepted == {200: 1} and open_after == 1
