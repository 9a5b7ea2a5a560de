"""SIGTERM while calls wait on a slow upstream: past the grace period (NAFTIKO_GRACE_PERIOD) they end
with protocol answers (a JSON-RPC error in both MCP eras, a REST 503 problem with Retry-After), no
traceback is printed and the process exits 0; a second SIGTERM stops at once, as cleanly."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client
from processes import SERVE, Process, child_env, free_port, start, stop, wait_for_port
from test_reload_e2e import wait_for_log
from upstream import MCP_AUTH, REST_AUTH, SECRETS, Upstream, running_upstream, write_shop

pytestmark = pytest.mark.timeout(90)
CUT = "the server shut down before this call finished; call it again"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def mcp_call(url: str, mode: str, results: dict[str, Any]) -> None:
    async with httpx2.AsyncClient(headers=MCP_AUTH, timeout=60) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        try:
            results[mode] = await client.call_tool("slow", {})
        except MCPError as exc:  # the answer arrived, as a JSON-RPC error
            results[mode] = exc


async def rest_call(url: str, results: dict[str, Any]) -> None:
    async with httpx2.AsyncClient(timeout=60) as http:
        results["rest"] = await http.get(url, headers=REST_AUTH)


def serving(tmp_path: Path, upstream: Upstream, grace: str) -> tuple[Process, int, int]:
    mcp_port, rest_port = free_port(), free_port()
    shop = write_shop(tmp_path, mcp_port, rest_port)
    process = start([*SERVE, str(shop), "--upstream", f"shop={upstream.url}/api"], tmp_path / "serve.log",
                    child_env(**SECRETS, NAFTIKO_GRACE_PERIOD=grace))
    wait_for_port(process, mcp_port)
    wait_for_port(process, rest_port)
    return process, mcp_port, rest_port


@pytest.mark.anyio
async def test_calls_cut_at_the_grace_limit_get_protocol_errors_and_the_process_exits_0(tmp_path: Path) -> None:
    results: dict[str, Any] = {}
    with running_upstream() as upstream:
        process, mcp_port, rest_port = serving(tmp_path, upstream, grace="1")
        try:
            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    for mode in ("auto", "legacy"):  # 2026-07-28 (sessionless) and the 2025-11-25 handshake
                        group.start_soon(mcp_call, f"http://127.0.0.1:{mcp_port}/mcp", mode, results)
                    group.start_soon(rest_call, f"http://127.0.0.1:{rest_port}/slow", results)
                    await anyio.to_thread.run_sync(upstream.wait_holding, 3)  # all three wait upstream
                    process.proc.send_signal(signal.SIGTERM)
            code = process.proc.wait(timeout=30)
        finally:
            stop(process)
    output = process.output()
    assert code == 0, output
    for mode in ("auto", "legacy"):
        cut = results[mode]
        assert isinstance(cut, MCPError), cut
        assert cut.code == types.INTERNAL_ERROR and cut.message == CUT
        assert cut.data == {"error": "unavailable", "retryAfter": 1}
    rest = results["rest"]
    assert rest.status_code == 503 and rest.headers["content-type"] == "application/problem+json"
    assert rest.json()["detail"] == CUT and rest.headers["retry-after"] == "1"
    assert "3 call(s) still running after 1 s: ending them" in output
    assert "Traceback" not in output and "CancelledError" not in output and "Internal Server Error" not in output


@pytest.mark.anyio
async def test_a_second_sigterm_stops_at_once_as_cleanly(tmp_path: Path) -> None:
    results: dict[str, Any] = {}
    with running_upstream() as upstream:
        process, mcp_port, _ = serving(tmp_path, upstream, grace="60")
        try:
            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    group.start_soon(mcp_call, f"http://127.0.0.1:{mcp_port}/mcp", "auto", results)
                    await anyio.to_thread.run_sync(upstream.wait_holding, 1)
                    process.proc.send_signal(signal.SIGTERM)
                    await anyio.to_thread.run_sync(wait_for_log, process, "received SIGTERM, stopping", 0)
                    process.proc.send_signal(signal.SIGTERM)
                    try:  # well inside the 60 s grace the first signal granted
                        code = await anyio.to_thread.run_sync(lambda: process.proc.wait(timeout=15))
                    except subprocess.TimeoutExpired:
                        pytest.fail(f"a second SIGTERM did not stop the server:\n{process.output()}")
        finally:
            stop(process)
    output = process.output()
    assert code == 0, output
    assert "received SIGTERM, stopping now" in output
    assert isinstance(results["auto"], MCPError) and results["auto"].message == CUT
    assert "Traceback" not in output and "CancelledError" not in output
