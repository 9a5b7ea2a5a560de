"""What an operator reads: `naftiko serve` as a process, its stderr parsed line by line. One line per
call (unit, upstream operations and statuses, outcome, duration, request/trace id, caller), one per
REST request that ran no call, where each consumer's calls go, uvicorn's own lines not repeated per
listener, --log-level obeyed, no secret in any form; --metrics scraped on the way."""

from __future__ import annotations

import base64
import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from processes import ROOT, SERVE, Process, child_env, free_port, start, stop, wait_for_port
from upstream import MCP_AUTH, REST_AUTH, SECRETS, running_upstream, write_shop

from naftiko_runtime.secrets import secret_forms

pytestmark = pytest.mark.timeout(90)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def mcp(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        yield client


def finish(process: Process) -> str:
    process.proc.send_signal(signal.SIGTERM)
    assert process.proc.wait(timeout=30) == 0, process.output()
    return process.output()


def every_form_of_every_secret() -> set[str]:
    basic = f"ops-agent:{SECRETS['MCP_PASSWORD']}"
    return secret_forms([*SECRETS.values(), basic, base64.b64encode(basic.encode()).decode()])


@pytest.mark.anyio
async def test_json_logs_have_one_line_per_call_and_request_and_no_secret(tmp_path: Path) -> None:
    mcp_port, rest_port, hms_port = free_port(), free_port(), free_port()
    shop = write_shop(tmp_path, mcp_port, rest_port)
    hms = tmp_path / "hms.yaml"
    hms.write_text((ROOT / "capabilities" / "hms-live-streams.yaml").read_text(encoding="utf-8")
                   .replace("port: 9090", f"port: {hms_port}"), encoding="utf-8")
    with running_upstream() as upstream:
        process = start([*SERVE, str(shop), str(hms), "--sandbox", "--upstream", f"shop={upstream.url}/api",
                         "--log-format", "json", "--metrics"], tmp_path / "serve.log", child_env(**SECRETS))
        try:
            for port in (mcp_port, rest_port, hms_port):
                wait_for_port(process, port)
            async with mcp(f"http://127.0.0.1:{mcp_port}/mcp", MCP_AUTH) as client:
                for _ in range(2):
                    assert (await client.call_tool("list-items", {})).is_error is False
                assert (await client.call_tool("fail", {})).is_error is True
                assert (await client.call_tool("count-items", {"limit": "many"})).is_error is True
            async with mcp(f"http://127.0.0.1:{hms_port}/mcp") as client:
                assert (await client.call_tool("hms-list-live-streams", {})).is_error is False
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{rest_port}", timeout=10) as http:
                traced = {**REST_AUTH, "x-request-id": "req-42", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
                assert (await http.get("/items", headers=traced)).status_code == 200
                assert (await http.get("/items")).status_code == 401
                ready = (await http.get("/health/ready")).json()
                metrics = (await http.get("/metrics")).text
        finally:
            output = finish(process) if process.proc.poll() is None else process.output()
            stop(process)
    sent = [r.headers.get("authorization") for r in upstream.requests]
    assert sent and set(sent) == {f"Bearer {SECRETS['SHOP_TOKEN']}"}  # the secret did travel, where it should

    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is a JSON object
    calls = [line for line in lines if line.get("event") == "call"]
    assert sorted((c["transport"], c["unit"], c["outcome"]) for c in calls) == [
        ("mcp", "count-items", "invalid-arguments"), ("mcp", "fail", "upstream-error"),
        ("mcp", "hms-list-live-streams", "ok"), ("mcp", "list-items", "ok"), ("mcp", "list-items", "ok"),
        ("rest", "list-items", "ok")]
    for call in calls:
        assert call["logger"] == "naftiko.call" and isinstance(call["duration_ms"], float)
        assert call["level"] == ("warning" if call["unit"] == "fail" else "info")  # an upstream 500 is a warning
        assert call["message"].startswith(f"{call['kind']} {call['unit']} ")
    by_unit: dict[str, Any] = {c["unit"] + ("/rest" if c["transport"] == "rest" else ""): c for c in calls}
    assert [(u["operation"], u["status"]) for u in by_unit["fail"]["upstream"]] == [("shop.fail", 500)]
    assert by_unit["count-items"]["upstream"] == []
    assert [(u["operation"], u["status"]) for u in by_unit["hms-list-live-streams"]["upstream"]] == [
        ("live-streams.listlivestreams", 200)]
    assert "caller" not in by_unit["hms-list-live-streams"]  # that exposure has no authentication
    for call in calls:
        if call["transport"] == "mcp":
            assert call["request_id"]
            assert call.get("caller") == ("ops-agent" if call["unit"] != "hms-list-live-streams" else None)
    rest = by_unit["list-items/rest"]
    assert (rest["request_id"], rest["caller"], rest["trace_id"]) == ("req-42", "apikey:X-Api-Key", TRACE_ID)
    assert upstream.requests[-1].headers["traceparent"].split("-")[1] == TRACE_ID

    requests = [line for line in lines if line.get("event") == "request"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [("GET", "/items", 401)]

    assert sorted((u["namespace"], u["target"], u["url"]) for u in lines if u.get("event") == "upstream") == [
        ("live-streams", "sandbox", "https://api.100ms.live/v2"), ("shop", "upstream", f"{upstream.url}/api")]
    assert sorted((c["namespace"], c["target"]) for c in ready["consumers"]) == [
        ("live-streams", "sandbox"), ("shop", "upstream")]
    assert len([u for u in lines if u.get("event") == "listening"]) == 3
    assert not [line for line in lines if str(line.get("logger", "")).startswith("uvicorn")]
    assert not re.search(r"Uvicorn running|Started server process|Application startup|Waiting for", output)
    assert "# TYPE mcp_server_operation_duration_seconds histogram" in metrics
    assert "Traceback" not in output
    leaked = [form for form in every_form_of_every_secret() if form in output]
    assert not leaked


@pytest.mark.anyio
async def test_text_logs_at_warning_level_show_failures_and_refusals_only(tmp_path: Path) -> None:
    mcp_port, rest_port = free_port(), free_port()
    shop = write_shop(tmp_path, mcp_port, rest_port)
    closed = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there: the upstream is unreachable
    process = start([*SERVE, str(shop), "--upstream", f"shop={closed}", "--log-level", "warning",
                     "--address", "0.0.0.0"], tmp_path / "serve.log",
                    child_env(**SECRETS, NAFTIKO_ALLOWED_HOSTS="agents.example.com"))
    try:
        wait_for_port(process, mcp_port)
        async with mcp(f"http://127.0.0.1:{mcp_port}/mcp", MCP_AUTH) as client:
            assert (await client.call_tool("ping", {})).is_error is False  # an info line: not shown
            assert (await client.call_tool("list-items", {})).is_error is True  # a warning line
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{mcp_port}", timeout=10) as http:
            assert (await http.get("/health/live", headers={"Host": "evil.example"})).status_code == 421
            assert (await http.get("/health/live", headers={"Host": "agents.example.com"})).status_code == 200
        output = finish(process)
    finally:
        stop(process)
    logged = [line for line in output.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line)]
    assert logged and all(" INFO " not in line and " DEBUG " not in line for line in logged)
    (call,) = [line for line in logged if " naftiko.call: " in line]
    assert re.fullmatch(r"\S+ \S+ WARNING naftiko\.call: tool list-items upstream-unavailable [0-9.]+ms "
                        r"shop\.list-items=- request_id=\S+ caller=ops-agent( trace_id=[0-9a-f]{32})?", call), call
    (refused,) = [line for line in logged if "refused a request" in line]
    assert "WARNING naftiko.serve:" in refused and "`evil.example`" in refused and "--allowed-host" in refused
    assert "agents.example.com" in output  # start-up says which Host names are accepted
    assert not [form for form in every_form_of_every_secret() if form in output]
