"""The control port (``type: control``) on its own port: health without credentials; status, metrics,
traces and the management endpoints behind the exposure's authentication, and the management
endpoints only when the exposure enables them. ``/config/validate`` checks the posted document on
its own: it never reads the files that document imports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import types
from operate_support import (
    CONTROL_AUTH,
    REST_AUTH,
    FakeShop,
    control_block,
    free_port,
    mcp_client,
    serving,
    shop_runtime,
)
from prometheus_client.parser import text_string_to_metric_families

from naftiko_runtime.load import load_text
from naftiko_runtime.model import build

pytestmark = pytest.mark.timeout(60)

PING = """\
        - name: ping
          description: Answers pong.
          outputParameters:
            - {name: answer, type: string, value: pong}
"""
VALID = """\
naftiko: "1.0.0-alpha2"
info: {label: Posted, description: A capability sent to be checked.}
capability:
  consumes:
    - {location: LOCATION, import: shared, as: shared}
  exposes:
    - type: mcp
      port: 9100
      namespace: posted
      tools:
        - {name: list, description: Lists., call: shared.list-things}
"""
BROKEN_SHARED = """\
naftiko: "1.0.0-alpha2"
consumes:
  - type: http
    namespace: shared
    baseUri: https://shared.example
    resources: [{name: things, path: /things, operations: [{name: list-things, method: GET}]}]
  - type: http
    namespace: shared
    baseUri: 42
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_control_port_serves_health_open_and_everything_else_behind_its_authentication(
        tmp_path: Path) -> None:
    shop, port = FakeShop(), free_port()
    control = control_block(port)
    runtime = shop_runtime(tmp_path, shop, control=control, metrics=True)
    holder: list[Any] = []

    (tmp_path / "v2").mkdir()

    async def reload() -> str:  # what `serve` gives the control port: swap in the files as they are now
        fresh = shop_runtime(tmp_path / "v2", shop, control=control, extra_tools=PING, metrics=True)
        return "reloaded" if await holder[0].swap(fresh) else "refused"

    base = f"http://127.0.0.1:{port}"
    async with serving(runtime, reload=reload) as served, httpx2.AsyncClient(base_url=base, timeout=10) as http:
        holder.append(served.server)
        assert [kind for x in served.listeners for kind, _, _ in x.endpoints].count("CONTROL") == 1
        assert (await http.get("/health/live")).status_code == 200
        ready = await http.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"

        for method, path in (("GET", "/status"), ("GET", "/metrics"), ("GET", "/traces"),
                             ("POST", "/config/reload"), ("POST", "/config/validate")):
            assert (await http.request(method, path)).status_code == 401, path
            wrong = {"Authorization": "Bearer not-the-token"}
            assert (await http.request(method, path, headers=wrong)).status_code == 401, path

        status = (await http.get("/status", headers=CONTROL_AUTH)).json()
        assert status["status"] == "ready" and status["engine"]["name"] == "naftiko"
        assert status["metrics"] == "on" and status["tracing"] == "recording"
        assert {(e["type"], e["port"]) for e in status["exposures"]} >= {("control", port)}

        trace_id = "0af7651916cd43dd8448eb211c80319c"
        call = await http.get(served.url("/items", kind="REST"),
                              headers={**REST_AUTH, "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"})
        assert call.status_code == 200
        listing = (await http.get("/traces", headers=CONTROL_AUTH)).json()["traces"]
        assert trace_id in [t["trace_id"] for t in listing]
        spans = (await http.get(f"/traces/{trace_id}", headers=CONTROL_AUTH)).json()["spans"]
        assert {(s["name"], s["kind"]) for s in spans} >= {("GET /items", "SERVER"), ("GET", "CLIENT")}
        unknown = await http.get("/traces/" + "0" * 32, headers=CONTROL_AUTH)
        assert (unknown.status_code, unknown.headers["content-type"]) == (404, "application/problem+json")
        assert unknown.json()["detail"] == "no such trace"

        scraped = (await http.get("/metrics", headers=CONTROL_AUTH)).text
        families = {f.name for f in text_string_to_metric_families(scraped)}
        assert {"naftiko_call_duration_seconds", "http_client_request_duration_seconds"} <= families

        # reload swaps in the new version on the same sockets; a connected session hears of the new tool
        changed = anyio.Event()

        async def on_message(message: object) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                changed.set()

        async with mcp_client(served.url("/mcp"), mode="legacy", message_handler=on_message) as client:
            assert client.server_capabilities.tools is not None
            assert client.server_capabilities.tools.list_changed is True
            assert "ping" not in {t.name for t in (await client.list_tools()).tools}
            answer = await http.post("/config/reload", headers=CONTROL_AUTH)
            assert answer.json() == {"result": "reloaded"}
            with anyio.fail_after(10):
                await changed.wait()
            assert "ping" in {t.name for t in (await client.list_tools()).tools}
            assert (await client.call_tool("ping", {})).structured_content == {"answer": "pong"}
        assert (await http.get("/health/ready")).json()["status"] == "ready"  # the new version's health


@pytest.mark.anyio
async def test_management_endpoints_exist_only_when_the_exposure_enables_them(tmp_path: Path) -> None:
    port = free_port()
    runtime = shop_runtime(tmp_path, FakeShop(), control=control_block(port, management="{}", observability="{}"))

    async def reload() -> str:  # pragma: no cover - must not be reachable
        raise AssertionError("reload is not enabled")

    async with serving(runtime, reload=reload), httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/health/ready")).status_code == 200  # health is on by default
        for method, path in (("GET", "/status"), ("GET", "/metrics"), ("GET", "/traces"),
                             ("POST", "/config/reload"), ("POST", "/config/validate")):
            absent = await http.request(method, path, headers=CONTROL_AUTH)
            assert (absent.status_code, absent.headers["content-type"]) == (404, "application/problem+json"), path
            assert absent.json()["code"] == "not-found"


@pytest.mark.anyio
async def test_validate_checks_the_posted_document_without_reading_the_files_it_imports(tmp_path: Path) -> None:
    port = free_port()
    shared = tmp_path / "shared.yaml"
    shared.write_text(BROKEN_SHARED, encoding="utf-8")  # an error in it would fail the posted document
    runtime = shop_runtime(tmp_path, FakeShop(), control=control_block(port))
    async with serving(runtime), httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        posted = VALID.replace("LOCATION", str(shared))
        answer = (await http.post("/config/validate", content=posted, headers=CONTROL_AUTH)).json()
        assert answer["valid"] is True
        assert [d["code"] for d in answer["diagnostics"]] == ["import-not-followed"]
        assert "shared.example" not in str(answer)

        broken = (await http.post("/config/validate", content="naftiko: [", headers=CONTROL_AUTH)).json()
        assert broken["valid"] is False and broken["diagnostics"][0]["code"] == "yaml-syntax"

        for content, status in ((b"\xff\xfe", 400), (b"#" * (1024 * 1024 + 1), 413)):
            refused = await http.post("/config/validate", content=content, headers=CONTROL_AUTH)
            assert (refused.status_code, refused.headers["content-type"]) == (status, "application/problem+json")
            assert refused.json()["status"] == status


@pytest.mark.parametrize(("observability", "on"), [
    ({}, False),
    ({"metrics": {}}, False),
    ({"metrics": {"local": {}}}, True),  # the spec's default: a local endpoint is enabled
    ({"metrics": {"local": {"enabled": False}}}, False),
    ({"enabled": False, "metrics": {"local": {"enabled": True}}}, False),
])
def test_a_local_block_turns_its_endpoint_on_unless_disabled(observability: dict[str, Any], on: bool,
                                                             tmp_path: Path) -> None:
    document = {"naftiko": "1.0.0-alpha2", "info": {"label": "c", "description": "c"},
                "capability": {"exposes": [{"type": "control", "port": 9190, "observability": observability}]}}
    doc = load_text(json.dumps(document), tmp_path / "control.yaml", env={})
    (control,) = build(doc).controls
    assert control.metrics is on
