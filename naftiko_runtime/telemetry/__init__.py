"""Telemetry: one log line per call, metrics, traces. The runtime and the consumers report here.

``Telemetry.call`` wraps one invocation (a tool call, a REST request, a resource read...), and
``Telemetry.upstream`` each upstream request made while it runs (found through a context variable,
so the consumer API carries nothing extra). Metrics are kept only when enabled (``--metrics`` or a
control exposure); spans only when an OpenTelemetry SDK is configured. No secret is ever recorded:
units and operations are named by the spec, URLs are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from naftiko_runtime.errors import InvocationError
from naftiko_runtime.telemetry.logs import CALL_LOGGER

if TYPE_CHECKING:
    from naftiko_runtime.telemetry.metrics import Metrics

__all__ = ["CallContext", "Telemetry", "UpstreamCall", "outcome_of"]

Progress = Callable[[float, str], Awaitable[None]]
_log = logging.getLogger(CALL_LOGGER)
_current: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("naftiko_call", default=None)


@dataclass(slots=True)
class UpstreamCall:
    operation: str
    method: str
    status: int | None = None
    duration_ms: float = 0.0


@dataclass(slots=True)
class CallContext:
    """One call as adapters and operators see it: what the caller gave beyond the arguments, and
    what the runtime recorded while running it."""

    transport: str = "cli"  # mcp | rest | cli
    request_id: str | None = None
    caller: str | None = None  # the authenticated identity, when inbound auth names one
    progress: Progress | None = None  # report progress to the caller, when it asked for it
    traceparent: str | None = None  # the inbound W3C trace context, passed upstream
    status: int | None = None  # the upstream status, when the unit made exactly one call
    truncated: dict[str, Any] | None = None  # merged pages cut at a cap (``paging.Pages.truncation``)
    upstream: list[UpstreamCall] = field(default_factory=list)


def current() -> CallContext | None:
    """The call being run in this task, if any."""
    return _current.get()


def outcome_of(exc: BaseException | None) -> str:
    """``ok``, the error kind of an ``InvocationError`` (``upstream-error``...), or ``internal-error``."""
    if exc is None:
        return "ok"
    return exc.kind if isinstance(exc, InvocationError) else "internal-error"


class Telemetry:
    """Where calls and upstream requests are reported. ``Telemetry()`` logs calls and nothing else."""

    def __init__(self, *, metrics: Metrics | None = None, log_calls: bool = True) -> None:
        self.metrics = metrics
        self.log_calls = log_calls

    def call(self, kind: str, name: str, context: CallContext) -> _CallScope:
        """Measure one call (``with``); logs one line and records its metrics when it ends, however it ends."""
        return _CallScope(self, kind, name, context)

    def upstream(self, operation: str, method: str, server: str) -> _UpstreamScope:
        """Measure one upstream request (retries included) of the current call (``with``)."""
        return _UpstreamScope(self, operation, method, server)


# The two scopes below run on every call: plain classes, not generator context managers (half the
# interpreter work to enter and leave).

class _CallScope:
    __slots__ = ("context", "kind", "name", "started", "telemetry", "token")

    def __init__(self, telemetry: Telemetry, kind: str, name: str, context: CallContext) -> None:
        self.telemetry, self.kind, self.name, self.context = telemetry, kind, name, context

    def __enter__(self) -> CallContext:
        self.token = _current.set(self.context)
        if self.telemetry.metrics is not None:
            self.telemetry.metrics.in_flight(self.kind, +1)
        self.started = time.perf_counter()
        return self.context

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        _current.reset(self.token)
        duration = time.perf_counter() - self.started
        outcome = outcome_of(error)
        metrics = self.telemetry.metrics
        if metrics is not None:
            metrics.in_flight(self.kind, -1)
            metrics.call(self.kind, self.name, self.context.transport, outcome, duration)
        if self.telemetry.log_calls and not _cancelled(error):
            log_call(self.kind, self.name, self.context, outcome, duration)


class _UpstreamScope:
    __slots__ = ("method", "operation", "record", "server", "started", "telemetry")

    def __init__(self, telemetry: Telemetry, operation: str, method: str, server: str) -> None:
        self.telemetry, self.operation, self.method, self.server = telemetry, operation, method, server

    def __enter__(self) -> UpstreamCall:
        self.record = UpstreamCall(self.operation, self.method)
        context = _current.get()
        if context is not None:
            context.upstream.append(self.record)
        self.started = time.perf_counter()
        return self.record

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        record = self.record
        record.duration_ms = round((time.perf_counter() - self.started) * 1000, 1)
        if self.telemetry.metrics is not None:
            self.telemetry.metrics.upstream(self.operation, self.method, self.server, record.status,
                                            outcome_of(error), record.duration_ms / 1000)


def _cancelled(error: BaseException | None) -> bool:
    """A call cut by shutdown is reported by the adapter that answers it, not logged twice."""
    return error is not None and not isinstance(error, Exception)


def _refused(outcome: str, context: CallContext) -> bool:
    """The caller was told no (bad arguments, an upstream 4xx): nothing an operator must act on."""
    return outcome == "invalid-arguments" or (
        outcome == "upstream-error" and all(u.status is not None and u.status < 500 for u in context.upstream))


def log_call(kind: str, name: str, context: CallContext, outcome: str, duration: float) -> None:
    """The one line a call leaves in the log: what ran, where it went, how it ended, for whom. Info
    when it worked or the caller was refused (bad arguments, an upstream 4xx); warning when it failed
    for a reason an operator must see (an upstream 5xx, a timeout, an upstream out of reach...)."""
    level = logging.INFO if outcome == "ok" or _refused(outcome, context) else logging.WARNING
    if not _log.isEnabledFor(level):
        return
    upstream = [{"operation": u.operation, "status": u.status, "duration_ms": u.duration_ms}
                for u in context.upstream]
    fields: dict[str, Any] = {
        "event": "call", "kind": kind, "unit": name, "transport": context.transport, "outcome": outcome,
        "duration_ms": round(duration * 1000, 1), "upstream": upstream,
    }
    for key in ("request_id", "caller"):
        value = getattr(context, key)
        if value is not None:
            fields[key] = value
    trace = _trace_id(context.traceparent)
    if trace:
        fields["trace_id"] = trace
    parts = [f"{kind} {name} {outcome} {fields['duration_ms']}ms"]
    parts += [f"{u['operation']}={u['status'] if u['status'] is not None else '-'}" for u in upstream]
    parts += [f"{key}={fields[key]}" for key in ("request_id", "caller", "trace_id") if key in fields]
    _log.log(level, " ".join(parts), extra={"fields": fields})


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of the current span, else of the inbound ``traceparent``."""
    from naftiko_runtime.telemetry.traces import current_trace_id

    found = current_trace_id()
    if found:
        return found
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
