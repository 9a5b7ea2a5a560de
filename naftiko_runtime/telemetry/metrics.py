"""Metrics in the Prometheus text format, named after the OpenTelemetry semantic conventions.

* ``mcp_server_operation_duration_seconds`` (OTel ``mcp.server.operation.duration``): every MCP
  request, by ``mcp_method_name``, ``gen_ai_tool_name`` and ``error_type``;
* ``http_server_request_duration_seconds``: every REST request, by method, route and status;
* ``http_client_request_duration_seconds``: every upstream request, by method, server, status and
  ``naftiko_operation`` (the consumed operation);
* ``naftiko_upstream_circuit_state``: each consumer's circuit breaker by ``consumer`` namespace,
  0 closed, 1 half-open, 2 open;
* ``naftiko_call_duration_seconds``: every call of a unit (tool, route, resource...) by outcome, so
  its ``_count`` counts calls by outcome; ``naftiko_calls_in_flight``; ``mcp_server_sessions``
  (open sessions of the older, session-based MCP era).

The only module that imports prometheus_client, and only when metrics are enabled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["CONTENT_TYPE", "Metrics", "worker_exited"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The OTel conventions' advice: MCP operations run long (tool calls), HTTP requests short.
_MCP_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def _multiprocess() -> bool:
    """Several workers share their metrics through files (set up by the supervisor)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def worker_exited(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


class Metrics:
    """The process's instruments, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # `_created` series double every histogram and tell nothing here
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._mcp = Histogram("mcp_server_operation_duration_seconds", "Duration of MCP requests.",
                              ["mcp_method_name", "gen_ai_tool_name", "error_type"], buckets=_MCP_BUCKETS,
                              registry=r)
        self._http = Histogram("http_server_request_duration_seconds", "Duration of REST requests.",
                               ["http_request_method", "http_route", "http_response_status_code", "error_type"],
                               buckets=_HTTP_BUCKETS, registry=r)
        self._client = Histogram("http_client_request_duration_seconds", "Duration of upstream requests.",
                                 ["http_request_method", "server_address", "http_response_status_code",
                                  "error_type", "naftiko_operation"], buckets=_HTTP_BUCKETS, registry=r)
        self._calls = Histogram("naftiko_call_duration_seconds", "Duration of calls of a unit, by outcome.",
                                ["kind", "unit", "transport", "outcome"], buckets=_MCP_BUCKETS, registry=r)
        self._in_flight = Gauge("naftiko_calls_in_flight", "Calls running now.", ["kind"], registry=r,
                                multiprocess_mode="livesum")
        self._circuits = Gauge("naftiko_upstream_circuit_state",
                               "Circuit breaker of each consumed API: 0 closed, 1 half-open, 2 open.",
                               ["consumer"], registry=r, multiprocess_mode="livemax")
        self._session_sources: list[Callable[[], int]] = []
        self._sessions = None
        if not _multiprocess():  # a callback gauge cannot be summed across workers
            self._sessions = Gauge("mcp_server_sessions", "Open sessions of the session-based MCP era.",
                                   registry=r)
            self._sessions.set_function(lambda: sum(source() for source in self._session_sources))

    def render(self) -> bytes:
        """The exposition; with several workers (multiprocess mode), every worker's values summed."""
        from prometheus_client import CollectorRegistry, generate_latest

        if not _multiprocess():
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return generate_latest(merged)

    def mcp_request(self, method: str, tool: str | None, error: str | None, seconds: float) -> None:
        self._mcp.labels(method, tool or "", error or "").observe(seconds)

    def http_request(self, method: str, route: str, status: int, error: str | None, seconds: float) -> None:
        self._http.labels(method, route, str(status), error or "").observe(seconds)

    def upstream(self, operation: str, method: str, server: str, status: int | None, outcome: str,
                 seconds: float) -> None:
        error = "" if outcome == "ok" else outcome
        if not error and status is not None and status >= 400:  # as the HTTP client conventions say
            error = str(status)
        self._client.labels(method, server, str(status or ""), error, operation).observe(seconds)

    def call(self, kind: str, unit: str, transport: str, outcome: str, seconds: float) -> None:
        self._calls.labels(kind, unit, transport, outcome).observe(seconds)

    def in_flight(self, kind: str, delta: int) -> None:
        self._in_flight.labels(kind).inc(delta)

    def circuit_state(self, consumer: str, state: int) -> None:
        self._circuits.labels(consumer).set(state)

    def count_sessions(self, source: Callable[[], int]) -> None:
        """Add a source of open-session counts (one per MCP endpoint), read at each scrape."""
        self._session_sources.append(source)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> Any:
        """One sample's value (tests and health checks)."""
        return self.registry.get_sample_value(name, labels or {})
