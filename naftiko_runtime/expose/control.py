"""The control port (``type: control``): health, status, metrics, traces and management, on a port of
its own, with the exposure's own authentication.

What the spec's ``management`` and ``observability`` blocks switch on:

* ``management.health`` (default on): ``GET /health/live`` and ``GET /health/ready``, never behind
  authentication (probes carry no credentials);
* ``management.info``: ``GET /status`` (capabilities, versions, uptime, listeners, upstreams);
* ``observability.metrics.local`` (unless ``enabled: false``; or ``--metrics``): ``GET /metrics``,
  Prometheus text;
* ``observability.traces.local`` (unless ``enabled: false``): ``GET /traces`` and ``/traces/{id}``,
  the last spans kept in memory (503 when no OpenTelemetry SDK records spans);
* ``management.reload``: ``POST /config/reload`` swaps in the capability files as they are now;
* ``management.validate``: ``POST /config/validate`` checks a capability sent as the body, on its
  own (its imports are not followed: they would read this server's files).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from naftiko_runtime import __version__
from naftiko_runtime.expose.answers import problem, rest_exception_handlers
from naftiko_runtime.expose.auth import AuthMiddleware, InboundAuth
from naftiko_runtime.expose.health import Health, health_routes
from naftiko_runtime.model import ControlExposure
from naftiko_runtime.telemetry import traces
from naftiko_runtime.telemetry.metrics import CONTENT_TYPE

__all__ = ["control_app"]

Reload = Callable[[], Awaitable[str]]
_STARTED = time.time()
MAX_VALIDATE_BYTES = 1024 * 1024


def control_app(control: ControlExposure, health: Health, auth: InboundAuth | None,
                reload: Reload | None = None, *, metrics: bool = False) -> ASGIApp:
    """The control port's app; ``metrics`` serves ``/metrics`` even when the exposure does not ask."""
    routes: list[BaseRoute] = []
    protected: list[BaseRoute] = []
    registry = health.runtime.telemetry.metrics
    if control.health:
        routes += [r for r in health_routes(health) if getattr(r, "path", "").startswith("/health")]
    if control.info:
        protected.append(Route("/status", _status(health), methods=["GET"]))
    if registry is not None and (metrics or control.metrics):
        async def scrape(request: Request) -> Response:
            return Response(registry.render(), media_type=CONTENT_TYPE)

        protected.append(Route("/metrics", scrape, methods=["GET"]))
    if control.traces:
        protected += _trace_routes()
    if control.reload and reload is not None:
        async def do_reload(request: Request) -> Response:
            return JSONResponse({"result": await reload()})

        protected.append(Route("/config/reload", do_reload, methods=["POST"]))
    if control.validate:
        protected.append(Route("/config/validate", _validate, methods=["POST"]))
    inner = Starlette(routes=protected, exception_handlers=rest_exception_handlers())  # 404, 405 as problems
    guarded: ASGIApp = AuthMiddleware(inner, auth) if auth is not None else inner
    return Starlette(routes=[*routes, _Fallback(guarded)])


class _Fallback(BaseRoute):
    """Everything that is not a health check goes to the (authenticated) management app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def matches(self, scope: Scope) -> tuple[Any, Scope]:
        from starlette.routing import Match

        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _status(health: Health) -> Callable[[Request], Awaitable[Response]]:
    async def status(request: Request) -> Response:
        runtime = health.runtime
        return JSONResponse({
            **health.report(),
            "engine": {"name": "naftiko", "version": __version__, "python": platform.python_version()},
            "uptime_seconds": round(time.time() - _STARTED, 1),
            "tracing": "recording" if traces.recording() else "off",
            "metrics": "on" if runtime.telemetry.metrics is not None else "off",
            "in_flight": runtime.in_flight,
            "exposures": [{"type": e.type, "namespace": e.namespace, "port": e.port}
                          for c in runtime.capabilities for e in c.exposures],
        })

    return status


def _trace_routes() -> list[BaseRoute]:
    async def listing(request: Request) -> Response:
        buffer = traces.local_buffer()
        if buffer is None:
            return problem(503, "unavailable", "no OpenTelemetry SDK records spans: pip install 'naftiko[otel]'")
        return JSONResponse({"traces": buffer.summaries()})

    async def one(request: Request) -> Response:
        buffer = traces.local_buffer()
        spans = buffer.trace(request.path_params["trace_id"]) if buffer is not None else []
        if not spans:
            return problem(404, "not-found", "no such trace")
        return JSONResponse({"spans": spans})

    return [Route("/traces", listing, methods=["GET"]), Route("/traces/{trace_id}", one, methods=["GET"])]


async def _validate(request: Request) -> Response:
    """A capability in the request body -> every diagnostic, as ``naftiko validate --format json``."""
    from pathlib import Path

    from naftiko_runtime.load import load_text
    from naftiko_runtime.validate import check_documents

    body = await request.body()
    if len(body) > MAX_VALIDATE_BYTES:
        return problem(413, "too-large", "the capability is too large to validate here")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return problem(400, "bad-request", "the body is not UTF-8 text")
    # The sender's document only: following its imports would read files of this server's.
    doc = load_text(text, Path("capability.yaml"), env={}, follow_imports=False)
    _, diagnostics = check_documents([doc])
    errors = sum(1 for d in diagnostics if str(d.severity) == "error")
    return JSONResponse({"valid": errors == 0, "diagnostics": [d.as_dict() for d in diagnostics]})
