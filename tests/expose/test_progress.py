"""MCP progress while an upstream call runs long, only for clients that asked; non-finite arguments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, types

from naftiko_runtime import app
from naftiko_runtime.errors import InputError, UpstreamError
from naftiko_runtime.expose.mcp import build_server
from naftiko_runtime.runtime import Heartbeat, Runtime
from naftiko_runtime.telemetry import CallContext

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info:
  label: Slow
  description: A slow API.
capability:
  consumes:
    - type: http
      namespace: slow
      baseUri: https://slow.example/api
      resources:
        - name: report
          path: /report
          operations:
            - name: build-report
              method: GET
              inputParameters:
                - {name: ratio, in: query, type: number}
  exposes:
    - type: mcp
      namespace: slow-mcp
      port: 9100
      description: Slow tools.
      tools:
        - name: build-report
          description: Build the report (takes a while).
          inputParameters:
            - {name: ratio, type: number, required: false, description: A ratio.}
            - {name: weights, type: array, required: false, description: Weights.}
          call: slow.build-report
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SlowUpstream:
    """Answers (with ``status``) once ``release`` is set; keeps the requests."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.requests: list[httpx2.Request] = []
        self.status = 200

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        await self.release.wait()
        if self.status != 200:
            return httpx2.Response(self.status, json={"message": "no such report"})
        return httpx2.Response(200, json={"rows": 3})


class Beats:
    """The heartbeat's injected sleep: returns at once (a checkpoint), recording each wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await anyio.lowlevel.checkpoint()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[Runtime, SlowUpstream, Beats]]:
    path = tmp_path / "slow.yaml"
    path.write_text(CAPABILITY, encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    upstream, beats = SlowUpstream(), Beats()
    async with app.runtime(loaded.capabilities, {}, transports={"slow": httpx2.MockTransport(upstream)}) as rt:
        rt.heartbeat = Heartbeat(after=1.0, every=2.0, limit=5, sleep=beats)
        yield rt, upstream, beats


def server_of(runtime: Runtime) -> Any:
    ((exposure,),) = [capability.mcp for capability in runtime.capabilities]
    return build_server([(exposure, runtime)], name=exposure.namespace)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_client_that_asked_gets_progress_while_the_upstream_runs(runtime: Any, mode: str) -> None:
    rt, upstream, beats = runtime
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))
        if message and message.startswith("still waiting") and len(seen) >= 3:
            upstream.release.set()  # two heartbeats seen: let the upstream answer

    async with Client(server_of(rt), mode=mode) as client:
        result = await client.call_tool("build-report", {}, progress_callback=on_progress)
    assert result.is_error is False
    values = [value for value, _ in seen]
    assert values[0] == 0 and values[-1] == 1
    assert values == sorted(values) and len(set(values)) == len(values)  # rising, as MCP requires
    assert seen[1] == (0.5, "still waiting for slow.build-report after 1 s")
    assert seen[2] == (2 / 3, "still waiting for slow.build-report after 3 s")
    assert beats.waits[:2] == [1.0, 2.0]
    assert len(seen) <= 2 + 5  # bounded


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_client_that_did_not_ask_gets_no_progress(runtime: Any, mode: str, monkeypatch: Any) -> None:
    rt, upstream, beats = runtime
    upstream.release.set()
    contexts: list[Any] = []
    invoke = rt.invoke

    async def spy(unit: Any, arguments: Any = None, context: Any = None) -> Any:
        contexts.append(context)
        return await invoke(unit, arguments, context)

    monkeypatch.setattr(rt, "invoke", spy)
    received: list[Any] = []

    async def on_message(message: Any) -> None:
        received.append(message)

    async with Client(server_of(rt), mode=mode, message_handler=on_message) as client:
        result = await client.call_tool("build-report", {})
    assert result.is_error is False
    assert [c.progress for c in contexts] == [None]
    assert beats.waits == []
    assert not [m for m in received if isinstance(m, types.ProgressNotification)]


@pytest.mark.anyio
@pytest.mark.parametrize(("arguments", "pointer"), [
    ({"ratio": float("nan")}, "/ratio"),
    ({"ratio": float("inf")}, "/ratio"),
    ({"weights": [1.0, float("-inf")]}, "/weights/1"),
])
async def test_non_finite_numbers_are_refused_before_any_upstream_call(
    runtime: Any, arguments: dict[str, Any], pointer: str
) -> None:
    rt, upstream, _ = runtime
    (tool,) = [t for capability in rt.capabilities for t in capability.mcp[0].tools]
    with pytest.raises(InputError) as caught:
        await rt.invoke(tool, arguments)
    assert {"pointer": pointer, "message": "is not a finite number (NaN and Infinity are not JSON)"} \
        in caught.value.problems
    assert upstream.requests == []



def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.anyio
@pytest.mark.parametrize("depth", [65, 500, 2000])
async def test_arguments_nested_too_deeply_are_refused_before_any_upstream_call(runtime: Any, depth: int) -> None:
    rt, upstream, _ = runtime
    (tool,) = [t for capability in rt.capabilities for t in capability.mcp[0].tools]
    with pytest.raises(InputError) as caught:
        await rt.invoke(tool, {"weights": _nested(depth)})
    too_deep = {"pointer": "/weights" + "/a" * 64, "message": "is nested more than 64 levels deep"}
    assert caught.value.problems == [too_deep]
    assert upstream.requests == []

@pytest.mark.anyio
async def test_a_failing_call_with_progress_reports_its_own_error(runtime: Any) -> None:
    rt, upstream, _ = runtime
    upstream.status = 404
    upstream.release.set()
    (tool,) = [t for capability in rt.capabilities for t in capability.mcp[0].tools]

    async def report(value: float, message: str) -> None:
        pass

    with pytest.raises(UpstreamError) as caught:  # itself, not wrapped in an exception group
        await rt.invoke(tool, {}, CallContext(progress=report))
    assert caught.value.status == 404
    assert caught.value.upstream_message == "no such report"


@pytest.mark.anyio
async def test_the_runtime_reports_each_consumers_circuit_for_readiness(runtime: Any) -> None:
    rt, upstream, _ = runtime
    upstream.status = 500  # not retried: each call is one failed attempt
    upstream.release.set()
    (tool,) = [t for capability in rt.capabilities for t in capability.mcp[0].tools]
    assert rt.circuits() == {"slow": "closed"}
    for _ in range(5):
        with pytest.raises(UpstreamError):
            await rt.invoke(tool, {})
    assert rt.circuits() == {"slow": "open"}
    assert len(upstream.requests) == 5
