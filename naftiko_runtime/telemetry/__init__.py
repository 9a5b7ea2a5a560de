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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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

    @contextmanager
    def call(self, kind: str, name: str, context: CallContext) -> Iterator[CallContext]:
        """Measure one call; logs one line and records its metrics when it ends, however it ends."""
        token = _current.set(context)
        if self.metrics is not None:
            self.metrics.in_flight(kind, +1)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield context
        except BaseException as exc:
            error = exc
            raise
        finally:
            _current.reset(token)
            duration = time.perf_counter() - started
            outcome = outcome_of(error)
            if self.metrics is not None:
                self.metrics.in_flight(kind, -1)
                self.metrics.call(kind, name, context.transport, outcome, duration)
            if self.log_calls and not _cancelled(error):
                log_call(kind, name, context, outcome, duration)

    @contextmanager
    def upstream(self, operation: str, method: str, server: str) -> Iterator[UpstreamCall]:
        """Measure one upstream request (retries included) of the current call."""
        record = UpstreamCall(operation, method)
        context = _current.get()
        if context is not None:
            context.upstream.append(record)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield record
        except BaseException as exc:
            error = exc
            raise
        finally:
            record.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            if self.metrics is not None:
                self.metrics.upstream(operation, method, server, record.status, outcome_of(error),
                                      record.duration_ms / 1000)


def _cancelled(error: BaseException | None) -> bool:
    """A call cut by shutdown is reported by the adapter that answers it, not logged twice."""
    return error is not None and not isinstance(error, Exception)


def log_call(kind: str, name: str, context: CallContext, outcome: str, duration: float) -> None:
    """The one line a call leaves in the log: what ran, where it went, how it ended, for whom (info
    when it worked or the caller or upstream said no, warning when it failed here)."""
    level = logging.INFO if outcome in ("ok", "invalid-arguments", "upstream-error") else logging.WARNING
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
