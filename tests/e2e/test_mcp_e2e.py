"""End to end: a real server process on a loopback port, driven by the MCP SDK's own clients.

The upstream is the bundled 100ms simulator, run as its own process on another free port and
reached through ``--upstream``. The server is ``naftiko serve`` itself. Streamable HTTP is exercised
in both protocol eras (2026-07-28 sessionless, 2025-11-25 handshake), stdio through a subprocess.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from processes import SERVE, Process, child_env, free_port, start, stop, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
HMS_CAPABILITY = ROOT / "capabilities" / "hms-live-streams.yaml"  # bundled with the project
PUBLISHED_HINTS = {  # tool -> (readOnly, destructive, idempotent), as published on APIs.io
    "hms-start-live-stream": (False, False, False),
    "hms-stop-live-stream": (False, False, True),
    "hms-send-timed-metadata": (False, False, False),
    "hms-list-live-streams": (True, False, True),
}
MCP_TOKEN = "e2e-inbound-token"
ROOM = "64b7c1a2e3f4a5b6c7d8e9f0"

SECURE_CAPABILITY = """\
naftiko: 1.0.0-alpha2
info:
  label: Secured live streams
  description: The live-stream list behind inbound bearer authentication.
binds:
  - namespace: env
    keys:
      HMS_MANAGEMENT_TOKEN: HMS_MANAGEMENT_TOKEN
      MCP_TOKEN: MCP_TOKEN
capability:
  consumes:
    - type: http
      namespace: live-streams
      baseUri: https://api.100ms.live/v2
      authentication: {type: bearer, token: "{{HMS_MANAGEMENT_TOKEN}}"}
      resources:
        - name: live-streams
          path: /live-streams
          operations:
            - {name: list, method: GET}
  exposes:
    - type: mcp
      namespace: secure-mcp
      port: 9999
      authentication: {type: bearer, token: "{{MCP_TOKEN}}"}
      tools:
        - name: secure-list-live-streams
          description: List live streams (authenticated).
          call: live-streams.list
"""

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def hms_capability() -> Path:
    assert HMS_CAPABILITY.is_file(), f"the bundled 100ms capability is missing: {HMS_CAPABILITY}"
    return HMS_CAPABILITY


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = start(
        ["-m", "naftiko_runtime.sandbox", "hms", "--port", str(port)],
        tmp_path_factory.mktemp("upstream") / "sandbox.log",
        child_env(),
    )
    try:
        wait_for_port(process, port)
        yield f"http://127.0.0.1:{port}/v2"
    finally:
        stop(process)


@dataclass
class Server:
    base: str
    process: Process


@pytest.fixture(scope="module")
def server(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    secure = folder / "secure.yaml"
    secure.write_text(SECURE_CAPABILITY, encoding="utf-8")
    port = free_port()
    process = start(
        [
            *SERVE,
            str(hms_capability()),
            str(secure),
            "--port",
            str(port),
            "--upstream",
            f"live-streams={upstream}",
        ],
        folder / "server.log",
        child_env(HMS_MANAGEMENT_TOKEN="e2e-upstream-token", MCP_TOKEN=MCP_TOKEN),
    )
    try:
        wait_for_port(process, port)
        yield Server(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)


def authorized(base: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {MCP_TOKEN}"}, timeout=httpx2.Timeout(20.0)
    )


# ------------------------------------------------------------------------------ Streamable HTTP


@pytest.mark.anyio
@pytest.mark.parametrize("mode, version", [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_http_clients_of_both_eras_list_and_call_the_published_tools(
    server: Server, mode: str, version: str
) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with Client(f"{server.base}/mcp/live-streams-mcp", mode=mode) as client:
        assert client.protocol_version == version
        tools = {t.name: t for t in (await client.list_tools()).tools}
        started = await client.call_tool(
            "hms-start-live-stream", {"room_id": ROOM, "body": {}}, progress_callback=on_progress
        )
        listed = await client.call_tool("hms-list-live-streams", {})
        unknown = await client.call_tool(
            "hms-send-timed-metadata",
            {"stream_id": "000000000000000000000000", "body": {"payload": "cue", "duration": 5}},
        )
        bad_args = await client.call_tool("hms-stop-live-stream", {"room_id": 7})
        stopped = await client.call_tool("hms-stop-live-stream", {"room_id": ROOM})
    assert set(PUBLISHED_HINTS) <= set(tools)  # the project's file adds tools to the published four
    for name, (read_only, destructive, idempotent) in PUBLISHED_HINTS.items():
        hints = tools[name].annotations
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
            read_only,
            destructive,
            idempotent,
        )
    assert tools["hms-stop-live-stream"].input_schema["required"] == ["room_id"]
    assert started.is_error is False and started.structured_content["room_id"] == ROOM
    assert progress == [0, 1]  # SSE responses carry progress notifications
    assert started.structured_content["id"] in {s["id"] for s in listed.structured_content["data"]}
    assert unknown.is_error is True and "HTTP 404" in unknown.content[0].text
    assert bad_args.is_error is True and "/room_id" in bad_args.content[0].text
    assert stopped.is_error is False


@pytest.mark.anyio
async def test_inbound_auth_rejects_missing_and_wrong_tokens_with_401(server: Server) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}
    async with httpx2.AsyncClient(base_url=server.base) as http:
        missing = await http.post("/mcp/secure-mcp", json=body, headers=headers)
        wrong = await http.post("/mcp/secure-mcp", json=body, headers={**headers, "authorization": "Bearer nope"})
        union = await http.post("/mcp", json=body, headers=headers)
    for response in (missing, wrong, union):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert MCP_TOKEN not in response.text


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_inbound_auth_accepts_the_token_on_the_exposure_and_on_the_union(server: Server, mode: str) -> None:
    async with authorized(server.base) as http:
        async with Client(
            streamable_http_client(f"{server.base}/mcp/secure-mcp", http_client=http), mode=mode
        ) as client:
            secure = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool("secure-list-live-streams", {})
        async with Client(streamable_http_client(f"{server.base}/mcp", http_client=http), mode=mode) as client:
            union = {t.name for t in (await client.list_tools()).tools}
    assert secure == ["secure-list-live-streams"]
    assert result.is_error is False and "data" in result.structured_content
    assert {*PUBLISHED_HINTS, "secure-list-live-streams"} <= union
    assert not any(name.startswith("secure-") for name in union - {"secure-list-live-streams"})


@pytest.mark.anyio
async def test_foreign_host_headers_are_refused(server: Server) -> None:
    async with httpx2.AsyncClient(base_url=server.base) as http:
        response = await http.post(
            "/mcp/live-streams-mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"host": "rebind.attacker.example", "accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 421


def test_the_server_announced_every_endpoint(server: Server) -> None:
    output = server.process.output()
    assert f"MCP live-streams-mcp  {server.base}/mcp/live-streams-mcp" in output
    assert f"MCP secure-mcp  {server.base}/mcp/secure-mcp" in output
    assert f"MCP (all)  {server.base}/mcp" in output


# ------------------------------------------------------------------------------------------ stdio


@pytest.mark.anyio
@pytest.mark.parametrize("mode, version", [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_stdio_clients_list_and_call_tools(upstream: str, mode: str, version: str) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=[*SERVE, str(hms_capability()), "--transport", "stdio", "--upstream", f"live-streams={upstream}"],
        env=child_env(HMS_MANAGEMENT_TOKEN="e2e-upstream-token"),
        cwd=str(ROOT),
    )
    async with Client(params, mode=mode) as client:
        negotiated = client.protocol_version
        tools = {t.name for t in (await client.list_tools()).tools}
        listed = await client.call_tool("hms-list-live-streams", {})
        failed = await client.call_tool(
            "hms-send-timed-metadata", {"stream_id": "0" * 24, "body": {"payload": "x", "duration": 1}}
        )
    assert negotiated == version
    assert set(PUBLISHED_HINTS) <= tools
    assert listed.is_error is False and isinstance(listed.structured_content["data"], list)
    assert failed.is_error is True and "HTTP 404" in failed.content[0].text


# -------------------------------------------------------------------------------------- lifecycle


def test_a_missing_bind_variable_stops_startup_naming_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, *SERVE, str(hms_capability()), "--port", str(free_port())],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "HMS_MANAGEMENT_TOKEN" in done.stderr


def test_sigterm_stops_the_server_cleanly(upstream: str, tmp_path: Path) -> None:
    port = free_port()
    process = start(
        [*SERVE, str(hms_capability()), "--port", str(port), "--upstream", f"live-streams={upstream}"],
        tmp_path / "server.log",
        child_env(HMS_MANAGEMENT_TOKEN="e2e-upstream-token"),
    )
    try:
        wait_for_port(process, port)
        process.proc.send_signal(signal.SIGTERM)
        assert process.proc.wait(timeout=15) == 0
        assert "received SIGTERM, stopping" in process.output()
        assert "Traceback" not in process.output()
    finally:
        stop(process)
