"""Health and readiness on every listener: live, ready with what is served and where each consumer's
calls go, not ready while starting, and not ready as soon as a drain starts (while running calls
still finish)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import MCPError, types
from operate_support import REST_AUTH, FakeShop, mcp_client, serving, shop_runtime

from naftiko_runtime import app
from naftiko_runtime.expose.health import Health, health_routes
from naftiko_runtime.expose.serve import Server

ROOT = Path(__file__).resolve().parents[2]
HMS = ROOT / "capabilities" / "hms-live-streams.yaml"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def get(url: str, **kwargs: object) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.get(url, **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize(("options", "target", "url"), [
    ({"sandbox": True}, "sandbox", "https://api.100ms.live/v2"),
    ({"upstreams": {"live-streams": "http://127.0.0.1:9/v2"}}, "upstream", "http://127.0.0.1:9/v2"),
    ({}, "live", "https://api.100ms.live/v2"),
])
async def test_ready_names_the_capabilities_and_where_each_consumer_sends_its_calls(
        options: dict[str, object], target: str, url: str) -> None:
    (capability,) = app.load([HMS], {}).capabilities
    runtime = app.runtime([capability], {"HMS_MANAGEMENT_TOKEN": "hms-token-1"}, **options)  # type: ignore[arg-type]
    async with serving(runtime) as served:
        assert (await get(served.url("/health/live"))).json() == {"status": "live"}
        ready = await get(served.url("/health/ready"))
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready" and body["pid"] == os.getpid()
        assert body["capabilities"] == [{"file": capability.file, "label": capability.label}]
        (consumer,) = body["consumers"]
        assert (consumer["namespace"], consumer["target"], consumer["url"]) == ("live-streams", target, url)
        assert consumer["circuit"] == "closed" and consumer["in_flight"] == 0
        assert "hms-token-1" not in ready.text


@pytest.mark.anyio
async def test_ready_is_503_starting_until_every_listener_listens(tmp_path: Path) -> None:
    runtime = shop_runtime(tmp_path, FakeShop())
    health = Health(runtime)
    probe = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=_app(health)), base_url="http://127.0.0.1")
    async with runtime, probe:
        early = await probe.get("/health/ready")
        assert (early.status_code, early.json()["status"]) == (503, "starting")
        assert (await probe.get("/health/live")).status_code == 200

        states: list[str] = []

        def before_listening(server: Server) -> None:  # called before the sockets accept connections
            states.append(server.health.report()["status"])

        async with serving(runtime, server_ready=before_listening) as served:
            states.append(served.server.health.state)
            assert (await get(served.url("/health/ready"))).status_code == 200
    assert states == ["starting", "ready"]


def _app(health: Health) -> object:
    from starlette.applications import Starlette

    return Starlette(routes=health_routes(health))


class _Logged(logging.Handler):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.event = text, anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.mark.anyio
async def test_sigterm_makes_ready_503_draining_at_once_while_the_held_call_completes(tmp_path: Path) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are only delivered to the main thread")
    shop = FakeShop()
    runtime = shop_runtime(tmp_path, shop)
    stopping = _Logged("received SIGTERM, stopping")
    serve_log = logging.getLogger("naftiko.serve")
    level = serve_log.level
    serve_log.setLevel(logging.INFO)
    serve_log.addHandler(stopping)
    results: dict[str, object] = {}
    try:
        async with serving(runtime, grace_period=30) as served:
            url = served.url("/mcp")

            async def held_call() -> None:
                async with mcp_client(url) as client:
                    results["held"] = await client.call_tool("slow", {})

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    group.start_soon(held_call)
                    await shop.entered.wait()
                    assert (await get(served.url("/health/ready"))).json()["status"] == "ready"
                    os.kill(os.getpid(), signal.SIGTERM)
                    await stopping.event.wait()
                    while (ready := await get(served.url("/health/ready"))).status_code == 200:
                        await anyio.sleep(0.01)  # the stop task is scheduled right after the signal line
                    assert ready.json()["status"] == "draining"
                    assert ready.json()["consumers"][0]["in_flight"] == 1
                    assert (await get(served.url("/health/live"))).status_code == 200
                    refused = await get(served.url("/items"), headers=REST_AUTH)  # a new call during the drain
                    assert refused.status_code == 503
                    assert refused.headers["content-type"].startswith("application/problem+json")
                    assert refused.headers["retry-after"] == "1"
                    async with mcp_client(url) as late:  # over MCP: a JSON-RPC error, not a tool failure
                        with pytest.raises(MCPError) as declined:
                            await late.call_tool("slow", {})
                    assert declined.value.code == types.INTERNAL_ERROR
                    assert declined.value.data == {"error": "unavailable", "retryAfter": 1}
                    assert "shutting down" in declined.value.message
                    assert "held" not in results and runtime.in_flight == 1  # still held, not cut
                    shop.release.set()
    finally:
        serve_log.removeHandler(stopping)
        serve_log.setLevel(level)
    assert served.outcome["code"] == 0
    held = results["held"]
    assert held.is_error is False  # type: ignore[attr-defined]
    assert json.loads(held.content[0].text) == {"slow": True}  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_the_collector_paused_for_start_up_runs_again_once_ready(tmp_path: Path) -> None:
    """`naftiko serve` pauses the cyclic GC while it starts; readiness gives it back (else the heap
    of a long-running server would never be collected) with start-up's heap frozen out of its way."""
    import gc

    runtime = shop_runtime(tmp_path, FakeShop())
    gc.disable()
    try:
        async with serving(runtime):
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
