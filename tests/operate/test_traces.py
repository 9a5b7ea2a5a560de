"""Spans recorded with the OpenTelemetry SDK's in-memory exporter: the MCP server span per request
(``{mcp.method.name} {target}``), a client span per upstream request as its child, the trace context
sent upstream and taken from the caller (MCP ``_meta``, REST ``traceparent``); and without an SDK,
nothing recorded and the SDK never imported."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from operate_support import REST_AUTH, FakeShop, mcp_client, serving, shop_runtime

from naftiko_runtime.telemetry.logs import CALL_LOGGER

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span finished while the test runs. The process's tracer provider can be set only once:
    this exporter is added to it (installed here if no test installed one before)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # keeps nothing more for the rest of the session


def named(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in finished if s.name == name]
    return span


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


@pytest.mark.anyio
async def test_a_tool_call_is_a_server_span_with_a_client_span_per_upstream_request(
        tmp_path: Path, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture) -> None:
    shop = FakeShop()
    caplog.set_level(logging.INFO, logger=CALL_LOGGER)
    async with serving(shop_runtime(tmp_path, shop)) as served, mcp_client(served.url("/mcp")) as client:
        assert (await client.call_tool("list-items", {})).is_error is False
        assert (await client.call_tool("fail", {})).is_error is True
    finished = spans.get_finished_spans()

    ok = named(finished, "tools/call list-items")
    assert ok.kind is SpanKind.SERVER
    assert ok.attributes["mcp.method.name"] == "tools/call"
    assert ok.attributes["gen_ai.tool.name"] == "list-items"
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert "error.type" not in ok.attributes
    upstream = [s for s in finished if s.kind is SpanKind.CLIENT and s.attributes.get("naftiko.operation")]
    (get,) = [s for s in upstream if s.attributes["naftiko.operation"] == "shop.list-items"]
    assert get.name == "GET" and get.parent is not None
    assert (get.parent.span_id, get.context.trace_id) == (ok.context.span_id, ok.context.trace_id)
    assert get.attributes["http.response.status_code"] == 200
    assert get.attributes["server.address"] == "shop.example"

    # the upstream received the client span's context
    sent = shop.requests[0].headers["traceparent"].split("-")
    assert sent[1:3] == [hex_id(get.context.trace_id, 32), hex_id(get.context.span_id, 16)]

    failed = named(finished, "tools/call fail")
    assert failed.attributes["error.type"] == "tool_error" and failed.status.status_code is StatusCode.ERROR
    (fail,) = [s for s in upstream if s.attributes["naftiko.operation"] == "shop.fail"]
    assert fail.parent is not None and fail.parent.span_id == failed.context.span_id
    assert fail.attributes["error.type"] == "500" and fail.status.status_code is StatusCode.ERROR

    # each call's log line carries its trace id
    logged = {r.fields["unit"]: r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "call"}
    assert logged["list-items"]["trace_id"] == hex_id(ok.context.trace_id, 32)
    assert logged["fail"]["trace_id"] == hex_id(failed.context.trace_id, 32)


@pytest.mark.anyio
async def test_the_callers_trace_context_is_the_parent_from_mcp_meta_and_from_the_rest_header(
        tmp_path: Path, spans: InMemorySpanExporter) -> None:
    shop = FakeShop()
    tracer = trace.get_tracer("a-test-agent")
    async with serving(shop_runtime(tmp_path, shop)) as served:
        with tracer.start_as_current_span("agent turn") as turn:  # the SDK client puts it in params._meta
            async with mcp_client(served.url("/mcp")) as client:
                await client.call_tool("list-items", {})
        trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        async with httpx2.AsyncClient(timeout=10) as http:
            response = await http.get(served.url("/items"), headers={**REST_AUTH,
                                                                    "traceparent": f"00-{trace_id}-{parent_id}-01"})
        assert response.status_code == 200
    finished = spans.get_finished_spans()

    server = named(finished, "tools/call list-items")
    (sent,) = [s for s in finished if s.name == "MCP send tools/call list-items"]  # the client's span
    assert server.context.trace_id == turn.get_span_context().trace_id
    assert server.parent is not None and server.parent.span_id == sent.context.span_id

    rest = named(finished, "GET /items")
    assert rest.kind is SpanKind.SERVER and rest.attributes["http.route"] == "/items"
    assert hex_id(rest.context.trace_id, 32) == trace_id
    assert rest.parent is not None and hex_id(rest.parent.span_id, 16) == parent_id
    assert shop.requests[-1].headers["traceparent"].split("-")[1] == trace_id  # and on to the upstream


def test_without_an_sdk_nothing_is_recorded_and_the_sdk_is_never_imported(tmp_path: Path) -> None:
    """A fresh interpreter (this one has an SDK provider installed): serve a call, then look."""
    script = textwrap.dedent(f"""
        import json, sys
        import anyio, httpx2
        from naftiko_runtime import app
        from naftiko_runtime.telemetry import traces

        seen = []

        def upstream(request):
            seen.append(request.headers.get("traceparent"))
            return httpx2.Response(200, json=[])

        async def main():
            (capability,) = app.load([{str(ROOT / "capabilities" / "hms-live-streams.yaml")!r}], {{}}).capabilities
            runtime = app.runtime([capability], {{"HMS_MANAGEMENT_TOKEN": "t"}},
                                  transports={{"live-streams": httpx2.MockTransport(upstream)}})
            async with runtime:
                tool = next(t for t in capability.tools() if t.name == "hms-list-live-streams")
                await runtime.invoke(tool, {{}})
                with traces.client_span("GET", {{}}) as span:
                    pass
            print(json.dumps({{"recording": traces.recording(), "span": span is None, "sent": seen,
                              "sdk": sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk"))}}))

        anyio.run(main)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no OTEL_* variables
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"recording": False, "span": True, "sent": [None], "sdk": []}
