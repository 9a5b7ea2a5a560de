"""End to end: a REST exposure served by uvicorn on a real loopback port, driven over the socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette

from naftiko_runtime import app
from naftiko_runtime.expose.rest import build_rest_app, build_rest_routes
from naftiko_runtime.model import Capability

CAPABILITY = """\
naftiko: "1.0.0-alpha2"
info: {label: Orders, description: Orders over a real socket.}
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: "http://shop.test/v1"
      resources:
        - name: order
          path: "/orders/{{id}}"
          operations:
            - {name: get-order, method: GET}
  exposes:
    - type: rest
      address: 127.0.0.1
      port: 8080
      namespace: api
      resources:
        - path: "/orders/{{id}}"
          operations:
            - method: GET
              name: get-order
              inputParameters:
                - {name: id, in: path, type: integer, description: order number}
              call: shop.get-order
              outputParameters:
                - type: object
                  properties:
                    id: {type: number, mapping: "$.id"}
                    total: {type: number, mapping: "$.total"}
"""
TIMEOUT = 10.0


def shop(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json={"id": int(request.url.path.rsplit("/", 1)[-1]), "total": 9.5, "x": 1})


@contextmanager
def served(capability: Capability) -> Iterator[str]:
    """uvicorn in a thread on a pre-bound loopback socket; yields the base URL; stops it on exit."""
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(rest_app: Starlette) -> AsyncIterator[None]:
        async with app.runtime([capability], {}, transports={"shop": httpx2.MockTransport(shop)}) as runtime:
            for exposure in capability.rest:
                rest_app.router.routes.extend(build_rest_routes(exposure, runtime))
            ready.set()
            yield

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_rest_app([], lifespan=lifespan), lifespan="on", log_level="warning",
                            ws="none", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert ready.wait(TIMEOUT), "the runtime did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def wait_until_serving(client: httpx2.Client, attempts: int = 20) -> None:
    """Bounded readiness poll: the socket already listens, so each attempt blocks until accepted."""
    for _ in range(attempts):
        try:
            if client.get("/openapi.json").status_code == 200:
                return
        except httpx2.TransportError:
            continue
    pytest.fail("the REST server never answered")


def test_a_get_through_a_real_socket_returns_the_mapped_json(tmp_path: Path) -> None:
    path = tmp_path / "capability.yaml"
    path.write_text(CAPABILITY, encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (capability,) = loaded.capabilities
    with served(capability) as base, httpx2.Client(base_url=base, timeout=TIMEOUT, trust_env=False) as client:
        wait_until_serving(client)
        response = client.get("/orders/42")
        head = client.head("/orders/42")
        missing = client.get("/nowhere")
    assert response.status_code == 200
    assert response.json() == {"id": 42, "total": 9.5}
    assert head.status_code == 200 and head.content == b""
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
