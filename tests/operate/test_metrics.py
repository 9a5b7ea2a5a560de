"""Metrics scraped over HTTP and read with prometheus_client's own parser: the OpenTelemetry names in
Prometheus spelling, their labels, and counts that match the calls made."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import anyio
import httpx2
import pytest
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
from prometheus_client.samples import Sample

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, list[Sample]]:
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels`` (0 when there is none)."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


@pytest.mark.anyio
async def test_metrics_count_mcp_operations_upstream_requests_calls_and_rest_requests(tmp_path: Path) -> None:
    shop = FakeShop()
    runtime = shop_runtime(tmp_path, shop, metrics=True)
    calls = 3
    async with serving(runtime) as served:
        async with mcp_client(served.url("/mcp")) as client:
            for _ in range(calls):
                assert (await client.call_tool("list-items", {})).is_error is False
            assert (await client.call_tool("fail", {})).is_error is True
            assert (await client.call_tool("count-items", {"limit": "many"})).is_error is True
        async with httpx2.AsyncClient(timeout=10) as http:
            for _ in range(2):
                assert (await http.get(served.url("/items"), headers=REST_AUTH)).status_code == 200
            assert (await http.get(served.url("/items"))).status_code == 401
        metrics = await scrape(served.url("/metrics"))

    mcp = metrics["mcp_server_operation_duration_seconds"]
    count = "mcp_server_operation_duration_seconds_count"
    assert value(mcp, count, mcp_method_name="tools/call", gen_ai_tool_name="list-items", error_type="") == calls
    assert value(mcp, count, mcp_method_name="tools/call", gen_ai_tool_name="fail", error_type="tool_error") == 1
    assert value(mcp, count, mcp_method_name="tools/call", gen_ai_tool_name="count-items",
                 error_type="tool_error") == 1
    assert {s.labels["le"] for s in mcp if s.name.endswith("_bucket")} >= {"0.1", "1.0", "+Inf"}

    client = metrics["http_client_request_duration_seconds"]
    count = "http_client_request_duration_seconds_count"
    ok = dict(naftiko_operation="shop.list-items", http_request_method="GET", http_response_status_code="200",
              server_address="shop.example", error_type="")
    assert value(client, count, **ok) == calls + 2  # MCP and REST calls; the invalid one sent nothing
    assert value(client, count, naftiko_operation="shop.fail", http_response_status_code="500",
                 error_type="500") == 1

    units = metrics["naftiko_call_duration_seconds"]
    count = "naftiko_call_duration_seconds_count"
    assert value(units, count, kind="tool", unit="list-items", transport="mcp", outcome="ok") == calls
    assert value(units, count, kind="tool", unit="fail", transport="mcp", outcome="upstream-error") == 1
    assert value(units, count, kind="tool", unit="count-items", outcome="invalid-arguments") == 1
    assert value(units, count, kind="route", unit="list-items", transport="rest", outcome="ok") == 2

    rest = metrics["http_server_request_duration_seconds"]
    count = "http_server_request_duration_seconds_count"
    assert value(rest, count, http_request_method="GET", http_route="/items", http_response_status_code="200") == 2
    assert value(rest, count, http_request_method="GET", http_response_status_code="401") == 1
    assert value(metrics["naftiko_calls_in_flight"], "naftiko_calls_in_flight", kind="tool") == 0
    assert value(metrics["naftiko_upstream_circuit_state"], "naftiko_upstream_circuit_state", consumer="shop") == 0


@pytest.mark.anyio
async def test_calls_in_flight_and_open_sessions_are_gauges_read_at_each_scrape(tmp_path: Path) -> None:
    shop = FakeShop()
    runtime = shop_runtime(tmp_path, shop, metrics=True)
    async with serving(runtime) as served:
        url, held = served.url("/mcp"), anyio.Event()
        assert value((await scrape(served.url("/metrics")))["mcp_server_sessions"], "mcp_server_sessions") == 0
        async with mcp_client(url, mode="legacy") as legacy, mcp_client(url) as modern:
            await legacy.list_tools()
            await modern.list_tools()
            # one session of the session-based era; the 2026-07-28 era has none
            assert value((await scrape(served.url("/metrics")))["mcp_server_sessions"], "mcp_server_sessions") == 1

            async def call() -> None:
                await modern.call_tool("slow", {})
                held.set()

            with anyio.fail_after(20):
                async with anyio.create_task_group() as group:
                    group.start_soon(call)
                    await shop.entered.wait()
                    metrics = await scrape(served.url("/metrics"))
                    assert value(metrics["naftiko_calls_in_flight"], "naftiko_calls_in_flight", kind="tool") == 1
                    shop.release.set()
                    await held.wait()
        metrics = await scrape(served.url("/metrics"))
        assert value(metrics["naftiko_calls_in_flight"], "naftiko_calls_in_flight", kind="tool") == 0
        assert value(metrics["mcp_server_sessions"], "mcp_server_sessions") == 0  # the client ended its session


@pytest.mark.anyio
async def test_metrics_are_off_unless_asked_and_on_the_control_port_when_there_is_one(tmp_path: Path) -> None:
    async with serving(shop_runtime(tmp_path, FakeShop())) as served, httpx2.AsyncClient(timeout=10) as http:
        assert (await http.get(served.url("/metrics"))).status_code == 404

    port = free_port()
    runtime = shop_runtime(tmp_path, FakeShop(), control=control_block(port), metrics=True)
    async with serving(runtime) as served:
        async with mcp_client(served.url("/mcp")) as client:
            await client.call_tool("list-items", {})
        async with httpx2.AsyncClient(timeout=10) as http:
            assert (await http.get(served.url("/metrics"))).status_code == 404  # not on the main listener
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 401  # the control's auth
        metrics = await scrape(f"http://127.0.0.1:{port}/metrics", CONTROL_AUTH)
    count = "naftiko_call_duration_seconds_count"
    assert value(metrics["naftiko_call_duration_seconds"], count, unit="list-items", outcome="ok") == 1
