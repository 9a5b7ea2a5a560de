"""Traces with OpenTelemetry: spans for REST requests and upstream requests, W3C trace context in
and out. The MCP SDK already makes a span per MCP request (``{mcp.method.name} {target}``, taking
the trace context from ``_meta``); these nest under it.

Without an OpenTelemetry SDK configured, no span is recorded (the API is a no-op), but an inbound
``traceparent`` still reaches the upstream. ``configure_from_environment`` sets up OTLP export when
the standard ``OTEL_*`` variables ask for it and the ``naftiko[otel]`` extra is installed.

The only module that imports opentelemetry (with ``telemetry.ring``, which needs the SDK and is
imported only when a control port keeps spans).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode

if TYPE_CHECKING:
    from naftiko_runtime.telemetry.ring import Ring

__all__ = ["client_span", "configure_from_environment", "current_trace_id", "inject", "keep_locally", "local_buffer",
           "server_span"]

_tracer = trace.get_tracer("naftiko")


def recording() -> bool:
    """Whether spans are recorded: an SDK tracer provider is installed."""
    return type(trace.get_tracer_provider()).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context (``traceparent``) to an outgoing request's headers (none when
    there is no valid span context: nothing recorded here, no inbound ``traceparent``)."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)


_NO_SPAN = nullcontext()  # reusable; entering it gives None


def server_span(name: str, headers: Mapping[str, str], attributes: dict[str, Any]) -> AbstractContextManager[Any]:
    """A SERVER span for one inbound request, child of its ``traceparent``; current while it runs."""
    parent = propagate.extract(headers) if "traceparent" in headers else None
    if recording():
        return _tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes,
                                             record_exception=False)
    # no SDK: no span to make, but an inbound trace context still goes upstream
    return _NO_SPAN if parent is None else _Attached(parent)


def client_span(method: str, attributes: dict[str, Any]) -> AbstractContextManager[Any]:
    """A CLIENT span for one upstream request (named by its method, as the HTTP conventions say)."""
    if recording():
        return _tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes,
                                             record_exception=False)
    return _NO_SPAN


class _Attached:
    """An inbound trace context made current, with no span of ours (entering gives None)."""

    def __init__(self, context: otel_context.Context) -> None:
        self.context = context

    def __enter__(self) -> None:
        self.token = otel_context.attach(self.context)

    def __exit__(self, *exc: object) -> None:
        otel_context.detach(self.token)


def failed(span: Any, error_type: str) -> None:
    if span is not None:
        span.set_attribute("error.type", error_type)
        span.set_status(StatusCode.ERROR)


def configure_from_environment(environ: Mapping[str, str] = os.environ) -> str | None:
    """Export spans over OTLP when ``OTEL_*`` variables ask for it. Returns a warning to print
    when they do but the SDK is not installed; None otherwise."""
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if exporter == "none" or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if exporter not in ("otlp", "") or (not exporter and not endpoint):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return "OTEL_* variables ask for trace export, but the OpenTelemetry SDK is not installed: " \
               "pip install 'naftiko[otel]'"
    name = environ.get("OTEL_SERVICE_NAME", "naftiko")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return None


_ring: Ring | None = None


def local_buffer() -> Ring | None:
    return _ring


def keep_locally(size: int = 100) -> str | None:
    """Keep the last ``size`` spans in memory (the control port's ``/traces``). Installs an SDK
    tracer provider when none is set; returns a warning when the SDK is not installed."""
    global _ring
    if _ring is not None:
        return None
    try:
        from opentelemetry.sdk.trace import TracerProvider

        from naftiko_runtime.telemetry.ring import Ring
    except ImportError:
        return "the control port's traces need the OpenTelemetry SDK: pip install 'naftiko[otel]'"
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    _ring = Ring(max(10, min(size, 10_000)))
    provider.add_span_processor(_ring)
    return None
