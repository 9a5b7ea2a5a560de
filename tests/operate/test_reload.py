"""Hot reload in the serving process: validation runs off the event loop (calls are answered while
it runs), a swap keeps MCP sessions open and lets a call running on the old version finish there."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from operate_support import FakeShop, mcp_client, serving, shop_runtime

from naftiko_runtime.expose.listeners import Listener
from naftiko_runtime.expose.serve import Server, serve
from naftiko_runtime.expose.versions import Counted
from naftiko_runtime.reload import serve_reloading
from naftiko_runtime.runtime import Runtime

pytestmark = pytest.mark.timeout(60)

PING = """\
        - name: ping
          description: Answers pong.
          outputParameters:
            - {name: answer, type: string, value: pong}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_calls_are_answered_while_a_slow_validation_runs(tmp_path: Path) -> None:
    shop = FakeShop()
    runtime = shop_runtime(tmp_path, shop)
    (tmp_path / "v2").mkdir()
    validating, finish = threading.Event(), threading.Event()
    validated_on: list[threading.Thread] = []

    def load() -> Runtime:  # stands for a very large file: returns only when the test says so
        validated_on.append(threading.current_thread())
        validating.set()
        assert finish.wait(30)
        return shop_runtime(tmp_path / "v2", shop, extra_tools=PING)

    stop, ready = anyio.Event(), anyio.Event()
    listeners: list[Listener] = []
    logged: list[str] = []

    def on_ready(bound: list[Listener]) -> None:
        listeners[:] = bound
        ready.set()

    async def run(current: Runtime, restart: anyio.Event, server_ready: Callable[[Server], None]) -> int:
        either = anyio.Event()

        async def relay(event: anyio.Event) -> None:
            await event.wait()
            either.set()

        async with anyio.create_task_group() as group:
            group.start_soon(relay, restart)
            group.start_soon(relay, stop)
            code = await serve(current, port=0, log=logged.append, ready=on_ready, stop_when=either,
                               server_ready=server_ready)
            group.cancel_scope.cancel()
        return code

    spec = tmp_path / "shop.yaml"
    with anyio.fail_after(40):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: serve_reloading([spec], runtime, load, run, log=logged.append, interval=0.01))
            await ready.wait()
            url = listeners[0].url("/mcp")
            spec.write_text(spec.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
            await anyio.to_thread.run_sync(validating.wait)
            async with mcp_client(url) as client:
                for _ in range(5):
                    assert (await client.call_tool("list-items", {})).is_error is False
                assert "ping" not in {t.name for t in (await client.list_tools()).tools}
            assert not finish.is_set()  # every call above was answered while the validation was running
            finish.set()
            while not any(line.startswith("reloaded") for line in logged):
                await anyio.sleep(0.01)
            async with mcp_client(url, cache=None) as client:
                assert "ping" in {t.name for t in (await client.list_tools()).tools}
            stop.set()
    assert validated_on and threading.main_thread() not in validated_on


@pytest.mark.anyio
async def test_a_swap_keeps_sessions_and_lets_a_call_on_the_old_version_finish_there(tmp_path: Path) -> None:
    shop = FakeShop()
    (tmp_path / "v2").mkdir()
    result: dict[str, object] = {}
    async with serving(shop_runtime(tmp_path, shop), grace_period=30) as served, \
            mcp_client(served.url("/mcp"), mode="legacy") as session:

        async def held() -> None:
            result["held"] = await session.call_tool("slow", {})

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(held)
                await shop.entered.wait()
                old = served.server.runtime
                assert await served.server.swap(shop_runtime(tmp_path / "v2", shop, extra_tools=PING)) is True
                assert served.server.runtime is not old and old.in_flight == 1 and not old.draining
                # the same session, on the new version
                assert (await session.call_tool("ping", {})).structured_content == {"answer": "pong"}
                shop.release.set()
    answer = result["held"]
    assert answer.is_error is False and json.loads(answer.content[0].text) == {"slow": True}  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_version_is_quiet_only_once_its_counted_requests_are_answered() -> None:
    entered, release = anyio.Event(), anyio.Event()

    async def app(scope: object, receive: object, send: object) -> None:
        entered.set()
        await release.wait()

    version = Counted(app)  # type: ignore[arg-type]
    await version.quiet()  # nothing running: at once
    async with anyio.create_task_group() as group:
        group.start_soon(version, {"type": "http", "method": "POST", "path": "/mcp"}, None, None)
        await entered.wait()
        assert version.active == 1
        with anyio.move_on_after(0.05) as waited:
            await version.quiet()
        assert waited.cancelled_caught  # a request is still being answered
        release.set()
        await version.quiet()
    assert version.active == 0
