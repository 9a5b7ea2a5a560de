"""Local fakes of the upstream APIs the tutorial capabilities call, built from the corpus fixtures.

The two Shipyard backends are served from their OpenAPI documents the way the Microcks mocks behind
``mocks.naftiko.net`` serve them: each operation answers with one of its response ``examples``, picked
by the operation's ``x-microcks-operation`` dispatcher (``URI_PARTS`` on a path variable,
``URI_PARAMS`` on query parameters, ``FALLBACK`` to a named example), with Microcks'
``{{ request.body/field }}`` templates filled from the JSON request body. Unlike Microcks, the fakes
enforce the documents' ``security`` requirements (bearer token, API-key header) against credentials
the test passes in, so a capability that sends the wrong secret gets a 401.

Every request is recorded so tests can check what went over the wire. ``serve`` runs any Starlette
app with uvicorn on a pre-bound loopback port in a background thread.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from conftest import CORPUS as SHARED_CORPUS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

CORPUS = SHARED_CORPUS / "naftiko"
FIXTURES = CORPUS / "fixtures"
REGISTRY_OPENAPI = FIXTURES / "openapi" / "naftiko-shipyard-maritime-registry-api.yaml"
LEGACY_OPENAPI = FIXTURES / "openapi" / "naftiko-shipyard-legacy-dockyard-api.yaml"
TIMEOUT = 10.0
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_BODY_TEMPLATE = re.compile(r"\{\{\s*request\.body/([^}\s]+)\s*\}\}")


@dataclass(frozen=True)
class Recorded:
    """One request a fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Journal:
    """Every request received, in order (appended from the server thread)."""

    requests: list[Recorded] = field(default_factory=list)

    async def record(self, request: Request) -> Recorded:
        entry = Recorded(request.method, request.url.path, dict(request.query_params),
                         {k.lower(): v for k, v in request.headers.items()}, await request.body())
        self.requests.append(entry)
        return entry

    def to(self, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear(self) -> None:
        self.requests.clear()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ OpenAPI examples


@dataclass(frozen=True)
class Example:
    status: int
    media_type: str
    value: Any


def examples_of(operation: Mapping[str, Any]) -> dict[str, Example]:
    """Every named response example of an operation, keyed by its name (2xx ones first)."""
    found: dict[str, Example] = {}
    for code in sorted(operation.get("responses", {}), key=lambda c: (not str(c).startswith("2"), str(c))):
        for media_type, content in (operation["responses"][code].get("content") or {}).items():
            for name, example in (content.get("examples") or {}).items():
                found.setdefault(name, Example(int(code), media_type, example.get("value")))
    return found


def example(document: Mapping[str, Any], method: str, path: str, name: str | None = None) -> Any:
    """The value of one response example (the first 2xx one when ``name`` is None): tests derive their
    expectations from the fixture rather than copying payloads."""
    items = examples_of(document["paths"][path][method.lower()])
    if name is None:
        return next(e.value for e in items.values() if 200 <= e.status < 300)
    return items[name].value


def request_example(document: Mapping[str, Any], method: str, path: str) -> Any:
    content = document["paths"][path][method.lower()]["requestBody"]["content"]
    media = next(iter(content.values()))
    return next(iter(media["examples"].values()))["value"]


def _dispatch(operation: Mapping[str, Any], path_params: Mapping[str, str],
              query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Microcks' dispatch: (the example name the request selects, the fallback example name)."""
    spec = operation.get("x-microcks-operation") or {}
    dispatcher, rules, fallback = spec.get("dispatcher"), spec.get("dispatcherRules"), None
    if dispatcher == "FALLBACK":
        inner = json.loads(rules)
        dispatcher, rules, fallback = inner.get("dispatcher"), inner.get("dispatcherRules"), inner.get("fallback")
    names = [n.strip() for n in str(rules or "").split("&&") if n.strip()]
    if dispatcher == "URI_PARTS":
        parts = [f"{n}={path_params[n]}" for n in names if n in path_params]
        return ("/" + "/".join(parts) if parts else None), fallback
    if dispatcher == "URI_PARAMS":
        pairs = [f"{n}={query[n]}" for n in names if n in query]
        return ("?" + "&".join(pairs) if pairs else None), fallback
    return None, fallback  # SCRIPT dispatchers are not run: their fallback answers


def _fill(value: Any, body: Any) -> Any:
    """Microcks response templating: ``{{ request.body/a/b }}`` -> that field of the JSON request body."""
    if isinstance(value, str):
        def field_of(match: re.Match[str]) -> str:
            node = body
            for part in match.group(1).split("/"):
                node = node.get(part) if isinstance(node, dict) else None
            return "" if node is None else str(node)

        return _BODY_TEMPLATE.sub(field_of, value)
    if isinstance(value, dict):
        return {k: _fill(v, body) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, body) for v in value]
    return value


def _respond(found: Example, body: Any) -> Response:
    if "json" in found.media_type:
        return JSONResponse(_fill(found.value, body), status_code=found.status)
    return Response(str(found.value), status_code=found.status, media_type=found.media_type)


class MockedApi:
    """One OpenAPI document served from its examples, with its security requirements enforced."""

    def __init__(self, document: Mapping[str, Any], credentials: Mapping[str, str], journal: Journal) -> None:
        self.document = document
        self.credentials = dict(credentials)  # security scheme name -> the secret it must carry
        self.journal = journal

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for path, item in self.document.get("paths", {}).items():
            for method, operation in item.items():
                if method in _HTTP_METHODS:
                    routes.append(Route(path, self._endpoint(operation), methods=[method.upper()]))
        return routes

    def _endpoint(self, operation: Mapping[str, Any]) -> Any:
        examples = examples_of(operation)
        requirements = operation.get("security", self.document.get("security", []))

        async def endpoint(request: Request) -> Response:
            recorded = await self.journal.record(request)
            if not self._authorized(request, requirements):
                return JSONResponse({"error": "unauthorized", "message": "missing or wrong credentials"}, 401)
            key, fallback = _dispatch(operation, request.path_params, recorded.query)
            successes = [n for n, e in examples.items() if 200 <= e.status < 300]
            name = key if key in examples else fallback if fallback in examples else (
                successes[0] if key is None and fallback is None and successes else None)
            if name is None:
                missing = next((e for e in examples.values() if e.status == 404), None)
                return _respond(missing, None) if missing else Response(status_code=404)
            body = recorded.json() if "json" in recorded.headers.get("content-type", "") else None
            return _respond(examples[name], body)

        return endpoint

    def _authorized(self, request: Request, requirements: list[Mapping[str, Any]]) -> bool:
        if not requirements:
            return True
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        return any(all(self._satisfies(request, schemes[name], self.credentials.get(name)) for name in requirement)
                   for requirement in requirements)

    @staticmethod
    def _satisfies(request: Request, scheme: Mapping[str, Any], secret: str | None) -> bool:
        if secret is None:
            return False
        if scheme.get("type") == "http" and scheme.get("scheme") == "bearer":
            return request.headers.get("authorization") == f"Bearer {secret}"
        if scheme.get("type") == "apiKey":
            source = request.headers if scheme.get("in") == "header" else request.query_params
            return source.get(scheme["name"]) == secret
        return False


# ------------------------------------------------------------------------------ fixture-file fakes


def static_routes(path: str, payload: Path, media_type: str, journal: Journal) -> list[BaseRoute]:
    """GET ``path`` -> the bytes of a fixture file."""
    async def endpoint(request: Request) -> Response:
        await journal.record(request)
        return Response(payload.read_bytes(), media_type=media_type)

    return [Route(path, endpoint, methods=["GET"])]


def echo_routes(path: str, journal: Journal) -> list[BaseRoute]:
    """Any method on ``path`` -> what arrived (method, path, query) as JSON."""
    async def endpoint(request: Request) -> Response:
        recorded = await journal.record(request)
        return JSONResponse({"method": recorded.method, "path": recorded.path, "query": recorded.query})

    return [Route(path, endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]


def query_routes(path: str, rows: list[Any], journal: Journal) -> list[BaseRoute]:
    """POST ``path`` -> ``{"results": rows}`` (a database-query style API)."""
    async def endpoint(request: Request) -> Response:
        await journal.record(request)
        return JSONResponse({"results": rows})

    return [Route(path, endpoint, methods=["POST"])]


def mounted(mounts: Mapping[str, list[BaseRoute]]) -> list[BaseRoute]:
    return [Mount(prefix, routes=routes) for prefix, routes in mounts.items()]


# ------------------------------------------------------------------------------ serving


@contextmanager
def serve(routes: list[BaseRoute]) -> Iterator[str]:
    """uvicorn in a thread on a pre-bound loopback socket; yields the base URL; stops it on exit."""
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ready.set()
        yield

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(Starlette(routes=routes, lifespan=lifespan), lifespan="on", log_level="warning",
                            ws="none", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not ready.wait(TIMEOUT):
            raise RuntimeError("the fake upstream did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
    if thread.is_alive():
        raise RuntimeError("the fake upstream did not stop")
