"""A real upstream API for end-to-end tests: a threaded HTTP server in the test process that records
every request and holds ``/slow`` until the test releases it (events, never sleeps); and the shop
capability that consumes it (MCP with basic auth, REST with an API key).

``GET /items`` answers a list, ``GET /items/{id}`` one item, ``GET /fail`` a 500, ``GET /slow``
waits on ``release`` (``wait_holding`` waits for requests to arrive there)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Upstream:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def wait_holding(self, count: int = 1, deadline: float = 20.0) -> None:
        """Block until ``count`` more requests wait on ``/slow``."""
        for _ in range(count):
            if not self.holding.acquire(timeout=deadline):
                raise AssertionError(f"no request reached /slow within {deadline}s")


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the caller gave up (a cut call): nothing to answer
                pass

        def do_GET(self) -> None:
            upstream.requests.append(Recorded("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
            path = self.path.split("?")[0]
            if path.endswith("/slow"):
                upstream.holding.release()
                upstream.release.wait(60)
                self._answer(200, {"slow": True})
            elif path.endswith("/fail"):
                self._answer(500, {"message": "the shop is on fire"})
            elif "/items/" in path:
                self._answer(200, {"id": path.rsplit("/", 1)[1], "name": "thing"})
            else:
                self._answer(200, [{"id": "1"}, {"id": "2"}])

    return Handler


@contextmanager
def running_upstream() -> Iterator[Upstream]:
    upstream = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.release.set()
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------ the capability it serves

SECRETS = {"SHOP_TOKEN": "shop-token-5d1e2f9a", "MCP_PASSWORD": "mcp-pass-8c7b6a5d", "REST_KEY": "rest-key-3f4e5d6c"}
MCP_AUTH = {"Authorization": "Basic " + base64.b64encode(f"ops-agent:{SECRETS['MCP_PASSWORD']}".encode()).decode()}
REST_AUTH = {"X-Api-Key": SECRETS["REST_KEY"]}

SHOP = """\
naftiko: "1.0.0-alpha2"
info: {{label: Shop, description: A small shop API served end to end.}}
binds:
  - namespace: env
    keys: {{SHOP_TOKEN: SHOP_TOKEN, MCP_PASSWORD: MCP_PASSWORD, REST_KEY: REST_KEY}}
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: https://shop.example/api
      authentication: {{type: bearer, token: "{{{{SHOP_TOKEN}}}}"}}
      resources:
        - {{name: items, path: /items, operations: [{{name: list-items, method: GET}}]}}
        - {{name: slow, path: /slow, operations: [{{name: slow, method: GET}}]}}
        - {{name: fail, path: /fail, operations: [{{name: fail, method: GET}}]}}
  exposes:
    - type: mcp
      namespace: shop-mcp
      port: {mcp_port}
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
        - name: ping
          description: Answers without calling the upstream.
          outputParameters:
            - {{name: answer, type: string, value: pong}}
    - type: rest
      namespace: shop-rest
      port: {rest_port}
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
"""


def write_shop(folder: Path, mcp_port: int, rest_port: int) -> Path:
    path = folder / "shop.yaml"
    path.write_text(SHOP.format(mcp_port=mcp_port, rest_port=rest_port), encoding="utf-8")
    return path
