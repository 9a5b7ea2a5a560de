"""What the operations tests share: a small shop capability (MCP with basic auth, REST with an API
key, optionally a control port), a fake upstream that can hold a call until released, and a real
``serve`` running in the test's event loop on ephemeral ports."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from naftiko_runtime import app
from naftiko_runtime.expose.listeners import Listener
from naftiko_runtime.expose.serve import Server, serve
from naftiko_runtime.runtime import Runtime
from naftiko_runtime.telemetry import Telemetry
from naftiko_runtime.telemetry.metrics import Metrics

ENV = {"SHOP_TOKEN": "shop-token-5d1e2f9a", "MCP_PASSWORD": "mcp-pass-8c7b6a5d", "REST_KEY": "rest-key-3f4e5d6c",
       "CONTROL_TOKEN": "control-token-9a8b7c6d"}
MCP_AUTH = {"Authorization": "Basic " + base64.b64encode(f"ops-agent:{ENV['MCP_PASSWORD']}".encode()).decode()}
REST_AUTH = {"X-Api-Key": ENV["REST_KEY"]}
CONTROL_AUTH = {"Authorization": f"Bearer {ENV['CONTROL_TOKEN']}"}

SHOP = """\
naftiko: "1.0.0-alpha2"
info: {{label: Shop, description: A small shop API for the operations tests.}}
binds:
  - namespace: env
    keys: {{SHOP_TOKEN: SHOP_TOKEN, MCP_PASSWORD: MCP_PASSWORD, REST_KEY: REST_KEY, CONTROL_TOKEN: CONTROL_TOKEN}}
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: https://shop.example/api
      authentication: {{type: bearer, token: "{{{{SHOP_TOKEN}}}}"}}
      resources:
        - name: items
          path: /items
          operations:
            - {{name: list-items, method: GET}}
        - name: slow
          path: /slow
          operations:
            - {{name: slow, method: GET}}
        - name: fail
          path: /fail
          operations:
            - {{name: fail, method: GET}}
  exposes:
    - type: mcp
      namespace: shop-mcp
      port: 9100
      authentication: {{type: basic, username: ops-agent, password: "{{{{MCP_PASSWORD}}}}"}}
      tools:
        - {{name: list-items, description: List the items., call: shop.list-items}}
        - {{name: slow, description: Waits for the upstream., call: shop.slow}}
        - {{name: fail, description: The upstream always fails., call: shop.fail}}
        - name: count-items
          description: Checks its argument.
          inputParameters:
            - {{name: limit, type: integer, required: true, description: How many.}}
          call: shop.list-items
{extra_tools}
    - type: rest
      namespace: shop-rest
      port: 9100
      authentication: {{type: apikey, key: X-Api-Key, value: "{{{{REST_KEY}}}}", placement: header}}
      resources:
        - path: /items
          name: items
          operations:
            - {{method: GET, name: list-items, call: shop.list-items}}
        - path: /slow
          name: slow
          operations:
            - {{method: GET, name: slow, call: shop.slow}}
{control}
"""

CONTROL = """\
    - type: control
      port: {port}
      authentication: {{type: bearer, token: "{{{{CONTROL_TOKEN}}}}"}}
      management: {management}
      observability: {observability}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def control_block(port: int, management: str = "{info: true, reload: true, validate: true}",
                  observability: str = "{metrics: {local: {enabled: true}}, traces: {local: {enabled: true}}}") -> str:
    return CONTROL.format(port=port, management=management, observability=observability)


class FakeShop:
    """The consumed API, in memory: records every request; ``/slow`` waits for ``release``."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/slow"):
            self.entered.set()
            await self.release.wait()
            return httpx2.Response(200, json={"slow": True})
        if path.endswith("/fail"):
            return httpx2.Response(500, json={"message": "the shop is on fire"})
        return httpx2.Response(200, json=[{"id": "1"}, {"id": "2"}])


def shop_runtime(tmp_path: Path, shop: FakeShop, *, control: str = "", extra_tools: str = "",
                 metrics: bool = False) -> Runtime:
    path = tmp_path / "shop.yaml"
    path.write_text(SHOP.format(control=control, extra_tools=extra_tools), encoding="utf-8")
    loaded = app.load([path], ENV)
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    telemetry = Telemetry(metrics=Metrics()) if metrics else None
    return app.runtime(loaded.capabilities, ENV, transports={"shop": httpx2.MockTransport(shop)},
                       telemetry=telemetry)


@dataclass
class Served:
    listeners: list[Listener]
    server: Server
    lines: list[str]
    stop: anyio.Event
    outcome: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str = "", kind: str = "MCP") -> str:
        listener = next(x for x in self.listeners if any(k == kind for k, _, _ in x.endpoints))
        return listener.url(path)


@asynccontextmanager
async def serving(runtime: Runtime, **options: Any) -> AsyncIterator[Served]:
    """``serve(runtime)`` on ephemeral ports in this event loop, until the block ends (then it
    stops as on a signal and the block waits for it)."""
    ready, stop = anyio.Event(), anyio.Event()
    listeners: list[Listener] = []
    servers: list[Server] = []
    served = Served(listeners, None, [], stop)  # type: ignore[arg-type]
    also = options.pop("server_ready", None)

    def on_server(server: Server) -> None:
        servers.append(server)
        if also is not None:
            also(server)

    def on_ready(bound: list[Listener]) -> None:
        listeners.extend(bound)
        ready.set()

    async def run() -> None:
        served.outcome["code"] = await serve(runtime, log=served.lines.append, ready=on_ready, stop_when=stop,
                                             server_ready=on_server, **{"port": 0, **options})
        ready.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        with anyio.fail_after(20):
            await ready.wait()
        assert "code" not in served.outcome, served.lines
        served.server = servers[0]
        try:
            yield served
        finally:
            stop.set()


@asynccontextmanager
async def mcp_client(url: str, *, headers: dict[str, str] | None = None, mode: str = "auto",
                     **options: Any) -> AsyncIterator[Client]:
    """The MCP SDK's own client over Streamable HTTP, with the shop's credentials by default."""
    async with httpx2.AsyncClient(headers=MCP_AUTH if headers is None else headers, timeout=30) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode, **options) as client:
        yield client
