"""The in-memory span buffer behind the control port's ``/traces``: an OpenTelemetry SDK span
processor (a subclass, so the SDK's processor hooks all exist), imported only when the SDK is
installed and a control port asks for it."""

from __future__ import annotations

from collections import deque
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

__all__ = ["Ring"]


class Ring(SpanProcessor):
    """A span processor keeping the last ``size`` finished spans, for the control port's ``/traces``."""

    def __init__(self, size: int) -> None:
        self.spans: deque[dict[str, Any]] = deque(maxlen=size)

    def on_end(self, span: Any) -> None:
        context = span.get_span_context()
        parent = span.parent.span_id if span.parent is not None else None
        self.spans.append({
            "name": span.name, "trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x"),
            "parent_id": format(parent, "016x") if parent else None, "kind": span.kind.name,
            "start_ns": span.start_time, "duration_ms": round((span.end_time - span.start_time) / 1e6, 3),
            "status": span.status.status_code.name, "attributes": dict(span.attributes or {}),
        })

    def summaries(self) -> list[dict[str, Any]]:
        traces: dict[str, dict[str, Any]] = {}
        for span in self.spans:
            entry = traces.setdefault(span["trace_id"], {"trace_id": span["trace_id"], "spans": 0, "root": None})
            entry["spans"] += 1
            if span["parent_id"] is None or entry["root"] is None:
                entry["root"] = span["name"]
        return list(traces.values())

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [span for span in self.spans if span["trace_id"] == trace_id]
