"""Health, readiness and metrics endpoints, served on every listener.

``GET /health/live`` answers 200 while the process runs. ``GET /health/ready`` answers 200 once every
listener accepts connections and until shutdown starts (then 503, so load balancers stop sending
before calls are cut), with what is served and, for each consumer, where its calls go and its
circuit breaker, calls in flight and cached answers. An open circuit does not make the process
unready: another replica calls the same upstream, so taking this one out would only shed capacity.
``GET /metrics``
(when metrics are on) is the Prometheus text exposition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from naftiko_runtime.runtime import Runtime
from naftiko_runtime.telemetry.metrics import CONTENT_TYPE, Metrics

__all__ = ["Health", "health_routes"]


@dataclass
class Health:
    """The serving process's state, shared by every listener."""

    runtime: Runtime
    started: bool = False
    draining: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return "draining" if self.draining else "ready" if self.started else "starting"

    def report(self) -> dict[str, Any]:
        capabilities = [{"file": c.file, "label": c.label} for c in self.runtime.capabilities]
        state = {(b.capability.file, namespace): consumer.health()
                 for b in self.runtime.bound for namespace, consumer in b.consumers.items()}
        consumers = [{"capability": u.file, "namespace": u.namespace, "target": u.target, "url": u.url,
                      **state.get((u.file, u.namespace), {})} for u in self.runtime.upstreams]
        return {"status": self.state, "pid": os.getpid(), "capabilities": capabilities, "consumers": consumers,
                **self.extra}


def health_routes(health: Health, metrics: Metrics | None = None) -> list[BaseRoute]:
    async def live(request: Request) -> Response:
        return JSONResponse({"status": "live"})

    async def ready(request: Request) -> Response:
        return JSONResponse(health.report(), status_code=200 if health.state == "ready" else 503)

    routes: list[BaseRoute] = [Route("/health/live", live, methods=["GET"]),
                               Route("/health/ready", ready, methods=["GET"])]
    if metrics is not None:
        async def scrape(request: Request) -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

        routes.append(Route("/metrics", scrape, methods=["GET"]))
    return routes
