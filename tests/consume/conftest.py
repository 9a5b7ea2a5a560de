"""Factories for consumer tests: consumers built by the model builder from spec data, and a
recording mock upstream."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from naftiko_runtime.load import load_text
from naftiko_runtime.model import Consumer, Operation, build

Responder = Callable[[httpx2.Request], httpx2.Response | Awaitable[httpx2.Response]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# The resource spec each operation made by `make_op` was built from, so `make_consumer` can rebuild it.
_RESOURCES: dict[int, dict[str, Any]] = {}


def _build_consumer(spec: Mapping[str, Any]) -> Consumer:
    """``spec`` (one ``consumes`` entry) through the loader and the model builder, as a file would go."""
    document = {"naftiko": "1.0.0-alpha2", "capability": {"consumes": [{"type": "http", **spec}]}}
    capability = build(load_text(json.dumps(document), Path("/kit/capability.yaml")))
    return capability.consumers[spec["namespace"]]


def make_op(path: str = "/items", method: str = "GET", *, params: Iterable[Mapping[str, Any]] = (),
            resource_params: Iterable[Mapping[str, Any]] = (), body: Any = None, fmt: str | None = None,
            name: str = "op", namespace: str = "api") -> Operation:
    """One operation (with its resource-level parameters merged in, as the builder does)."""
    operation: dict[str, Any] = {"name": name, "method": method, "inputParameters": [dict(p) for p in params]}
    if body is not None:
        operation["body"] = body
    if fmt is not None:
        operation["outputRawFormat"] = fmt
    resource = {"name": "res", "path": path, "inputParameters": [dict(p) for p in resource_params],
                "operations": [operation]}
    op = _build_consumer({"namespace": namespace, "baseUri": "https://api.example.com",
                          "resources": [resource]}).operations[name]
    _RESOURCES[id(op)] = resource
    return op


def make_consumer(*ops: Operation, base: str = "https://api.example.com/v1",
                  auth: Mapping[str, Any] | None = None, params: Iterable[Mapping[str, Any]] = (),
                  timeout: Mapping[str, Any] | None = None, retry: Mapping[str, Any] | None = None) -> Consumer:
    """A consumer holding ``ops``. Consumer-level ``params`` are merged into its own copies of the
    operations (``consumer.operations[name]``), not into ``ops``."""
    spec: dict[str, Any] = {"namespace": "api", "baseUri": base, "inputParameters": [dict(p) for p in params],
                            "resources": [_RESOURCES[id(op)] for op in ops]}
    if auth:
        spec["authentication"] = dict(auth)
    if timeout is not None:
        spec["timeout"] = dict(timeout)
    if retry is not None:
        spec["retry"] = dict(retry)
    return _build_consumer(spec)


@dataclass
class Upstream:
    """A mock upstream: records each request (body read) and answers with ``respond``."""

    respond: Responder = field(default=lambda request: httpx2.Response(200, json={"ok": True}))
    requests: list[httpx2.Request] = field(default_factory=list)

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        answer = self.respond(request)
        if not isinstance(answer, httpx2.Response):
            answer = await answer
        return answer

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]


@dataclass
class Kit:
    op: Callable[..., Operation] = make_op
    consumer: Callable[..., Consumer] = make_consumer


@pytest.fixture
def kit() -> Kit:
    return Kit()


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()
