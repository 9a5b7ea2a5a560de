"""B, the Python-proxy reference: one Starlette route forwarding a GET through httpx2.

    python benchmarks/proxy_b.py --port N --upstream http://127.0.0.1:M

``GET /live-streams/{id}`` fetches ``{upstream}/v2/live-streams/{id}`` with one shared
``httpx2.AsyncClient`` (created in the lifespan), decodes it and answers it as JSON. Nothing else:
no validation, no mapping, no error shaping. ``GET /health`` answers 204.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def build_app(upstream: str) -> Starlette:
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx2.AsyncClient(base_url=upstream, timeout=10) as client:
            state["client"] = client
            yield

    async def get_live_stream(request: Request) -> Response:
        response = await state["client"].get(f"/v2/live-streams/{request.path_params['id']}")
        return JSONResponse(response.json(), status_code=response.status_code)

    async def health(request: Request) -> Response:
        return Response(status_code=204)

    routes = [Route("/live-streams/{id}", get_live_stream), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.upstream), host="127.0.0.1", port=args.port, loop="asyncio", http="h11",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
