"""Factories for consumer tests: model objects built in code and a recording mock upstream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx2
import pytest

from naftiko_runtime.model import Consumer, Operation, Param

Responder = Callable[[httpx2.Request], httpx2.Response | Awaitable[httpx2.Response]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_op(path: str = "/items", method: str = "GET", *, params: Iterable[Mapping[str, Any]] = (),
            resource_params: Iterable[Mapping[str, Any]] = (), body: Any = None, fmt: str | None = None,
            name: str = "op", namespace: str = "api") -> Operation:
    return Operation(
        namespace=namespace, resource="res", name=name, method=method, path=path, description=None,
        input_parameters=tuple(Param.from_spec(dict(p)) for p in params),
        resource_parameters=tuple(Param.from_spec(dict(p)) for p in resource_params),
        body=body, output_raw_format=fmt, output_schema=None, output_parameters=(),
    )


def make_consumer(*ops: Operation, base: str = "https://api.example.com/v1",
                  auth: Mapping[str, Any] | None = None, params: Iterable[Mapping[str, Any]] = (),
                  timeout: Mapping[str, Any] | None = None, retry: Mapping[str, Any] | None = None) -> Consumer:
    return Consumer(
        namespace="api", base_uri=base, description=None,
        authentication=MappingProxyType(dict(auth)) if auth else None,
        input_parameters=tuple(Param.from_spec(dict(p)) for p in params),
        operations=MappingProxyType({o.name: o for o in ops}),
        timeout=MappingProxyType(dict(timeout or {})), retry=MappingProxyType(dict(retry or {})),
    )


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
