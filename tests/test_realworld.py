"""Capability files from the wild (`shared/corpus/realworld/`: 68 published, machine-generated files).

Every file loads and builds; the files that validate are served against a recording upstream and
every tool (over MCP, with the SDK's client) and every REST operation (over HTTP) is called once.
Each request that reaches the upstream must carry the right method, path, query and body, the
declared credential, and never a literal reference (`rest.body`, `tools.id`) or an empty secret.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from mcp import Client

from naftiko_runtime.app import load, runtime
from naftiko_runtime.expose.mcp import build_server
from naftiko_runtime.expose.rest import build_rest_app
from naftiko_runtime.model import Argument, Capability, Operation, Route, Tool, Unit, plain

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"

# Files that keep errors, and why: genuine defects of the published file, not of this runtime.
_NO_UPSTREAM = "empty baseUri: there is no upstream to call"
_SERVER_VARIABLES = "baseUri with OpenAPI server variables ({server}, {port}) that nothing fills"
_REGION = "baseUri with an OpenAPI server variable ({region}) that nothing fills"
DEFECTS = {
    **{f"pulumi/capabilities/{name}.yaml": _NO_UPSTREAM
       for name in ("pulumi-accesstokens", "pulumi-ai-agents", "pulumi-ai", "pulumi-auditlogs")},
    **{f"sonatype-nexus/capabilities/{name}.yaml": _NO_UPSTREAM
       for name in ("repository-assets", "repository-azure-blob-store", "repository-blob-store",
                    "repository-capabilities")},
    **{f"sybase/capabilities/ase-rest-{name}.yaml": _SERVER_VARIABLES
       for name in ("backups", "configuration", "databases", "devices")},
    **{f"amazon-sqs/capabilities/amazon-sqs-{name}.yaml": _REGION
       for name in ("general", "messages", "permissions", "queues")},
    **{f"amazon-inspector/capabilities/amazon-inspector-{name}.yaml": _REGION
       for name in ("coverage", "filters", "findings", "scanning")},
    "aws-cognito/capabilities/identity.yaml": _REGION,
    "amazon-privatelink/capabilities/shared/amazon-privatelink.yaml": _REGION,
    "amazon-privatelink/capabilities/private-connectivity.yaml": _REGION + " (in the file it imports)",
}

LITERAL_REFERENCE = re.compile(r"(?<![\w.-])(?:rest|tools)\.[A-Za-z]")


def _files() -> list[str]:
    if not REALWORLD.is_dir():
        return []
    return sorted(str(p.relative_to(REALWORLD)) for p in REALWORLD.rglob("*.yaml"))


pytestmark = pytest.mark.skipif(not REALWORLD.is_dir(), reason="shared corpus not available")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _secrets(capability: Capability) -> dict[str, str]:
    """A distinct, recognisable value for every bind variable."""
    return {key: f"secret-{var.lower()}-7c1" for bind in capability.binds for var, key in bind.keys.items()}


def _sample(schema: dict[str, Any], index: int) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return 7
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return ["a1", "a2"]
    if kind == "string":
        return f"val{index}"
    return {"sample": index}  # objects and untyped inputs (a whole request body)


def _arguments(unit: Unit) -> dict[str, Any]:
    properties = plain(unit.input_schema).get("properties", {})
    return {name: _sample(schema, i) for i, (name, schema) in enumerate(properties.items())}


class Recorder:
    """An upstream that answers 200 with a JSON echo and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(200, json={"echo": request.url.path})


def _check_request(request: httpx2.Request, op: Operation, fed: dict[str, Any], capability: Capability,
                   secrets: dict[str, str]) -> None:
    """What reached the upstream for one call of ``op`` whose parameters were fed ``fed``."""
    text = " ".join([str(request.url), *(f"{k}: {v}" for k, v in request.headers.items()),
                     request.content.decode("utf-8", "replace")])
    assert not LITERAL_REFERENCE.search(text), f"a literal reference reached the upstream: {text[:300]}"
    assert request.method == op.method
    for name in op.placeholders:
        if name in fed and not isinstance(fed[name], dict | list):
            assert quote(str(fed[name]), safe="") in request.url.raw_path.decode(), (name, request.url)
    assert "{" not in request.url.path
    for param in op.params:
        if param.name in fed and param.in_ == "query" and isinstance(fed[param.name], str):
            assert request.url.params.get(param.name) == fed[param.name], param.name
    if "body" in fed and any(p.in_ == "body" for p in op.params) and isinstance(fed["body"], dict):
        assert json.loads(request.content) == fed["body"]
    _check_credential(request, capability.consumers[op.namespace], secrets)


def _check_credential(request: httpx2.Request, consumer: Any, secrets: dict[str, str]) -> None:
    auth = consumer.authentication
    if auth is None or auth.type == "none":
        return
    values = set(secrets.values())
    if auth.type == "bearer":
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        assert scheme == "Bearer" and token in values, "bearer credential missing or empty"
    elif auth.type == "basic":
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        assert scheme == "Basic" and user and password, "basic credential missing or empty"
    elif auth.type == "apikey":
        key = auth.get("key")
        name = key.raw if key is not None else ""
        placement = auth.get("placement")
        where = str(placement.raw).lower() if placement is not None else "header"
        sent = request.url.params.get(name) if where == "query" else request.headers.get(name)
        assert sent in values, f"api key {name} missing or empty ({where})"


def _fed(unit: Unit, args: dict[str, Any]) -> Iterator[tuple[Operation, dict[str, Any]]]:
    """For each consumed operation the unit calls, the values its `with` references feed it."""
    inv = unit.invocation
    assert inv is not None
    for call in inv.calls():
        if call.operation is None:
            continue
        fed = dict(args)
        for entry in call.with_:
            if isinstance(entry.source, Argument) and entry.source.name in args:
                fed[entry.key] = args[entry.source.name]
        yield call.operation, fed


@pytest.mark.parametrize("name", _files())
def test_every_file_loads_and_builds(name: str) -> None:
    loaded = load([REALWORLD / name], {}, together=False)
    assert loaded.checked and all(c.capability is not None for c in loaded.checked)


def test_files_with_errors_are_exactly_the_genuine_defects() -> None:
    failing = {name for name in _files() if load([REALWORLD / name], {}, together=False).failed()}
    assert failing == set(DEFECTS)
    assert len(_files()) - len(failing) == 45  # of 68 (19 before the published dialect was understood)


@pytest.mark.parametrize("name", sorted(n for n, why in DEFECTS.items() if "variable" in why))
def test_a_file_whose_base_uri_cannot_work_is_served_once_upstream_replaces_it(name: str) -> None:
    capability = load([REALWORLD / name], {}, together=False).checked[0].capability
    assert capability is not None
    namespaces = list(capability.consumers)
    assert not load([REALWORLD / name], {}, together=False, upstreams=namespaces).failed()


def _served() -> list[str]:
    return [name for name in _files() if name not in DEFECTS]


@pytest.mark.anyio
@pytest.mark.parametrize("name", _served())
async def test_every_tool_and_route_reaches_the_upstream_as_declared(name: str) -> None:
    loaded = load([REALWORLD / name], {}, together=False)
    capabilities = loaded.capabilities
    if not capabilities:  # a shared consumes file: only imported
        return
    (capability,) = capabilities
    secrets = _secrets(capability)
    recorders = {ns: Recorder() for ns in capability.consumers}
    transports = {ns: httpx2.MockTransport(rec) for ns, rec in recorders.items()}
    built = runtime(capabilities, secrets, transports=transports)
    async with built:
        for exposure in capability.mcp:
            server = build_server([(exposure, built)], name=exposure.namespace)
            async with Client(server) as client:
                for tool in exposure.tools:
                    await _call_tool(client, tool, capability, recorders, secrets)
        for exposure in capability.rest:
            app = build_rest_app([(exposure, built)])
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://test") as http:
                for resource in exposure.resources:
                    for route in resource.routes:
                        await _call_route(http, route, capability, recorders, secrets)


async def _call_tool(client: Client, tool: Tool, capability: Capability, recorders: dict[str, Recorder],
                     secrets: dict[str, str]) -> None:
    args = _arguments(tool)
    before = {ns: len(r.requests) for ns, r in recorders.items()}
    result = await client.call_tool(tool.name, args)
    assert not result.is_error, (tool.name, result.content)
    for op, fed in _fed(tool, args):
        recorder = recorders[op.namespace]
        assert len(recorder.requests) > before[op.namespace], f"{tool.name} sent nothing to {op.ref}"
        _check_request(recorder.requests[-1], op, fed, capability, secrets)


async def _call_route(http: httpx2.AsyncClient, route: Route, capability: Capability,
                      recorders: dict[str, Recorder], secrets: dict[str, str]) -> None:
    args = _arguments(route)
    path = route.path
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    body: Any = None
    fields: dict[str, Any] = {}
    for item in route.inputs:
        if item.name not in args:
            continue
        value = args[item.name]
        text = json.dumps(value) if not isinstance(value, str) else value
        if item.in_ == "path":
            path = re.sub(r"\{\{?\s*" + re.escape(item.name) + r"\s*\}?\}", quote(text, safe=""), path)
        elif item.in_ == "header":
            headers[item.name] = text
        elif item.in_ == "body" and item.path is not None and item.value is None:
            body = value  # the whole request body
        elif item.in_ == "body":
            fields[item.name] = value
        else:
            query[item.name] = text
    if fields:
        body = fields
    before = {ns: len(r.requests) for ns, r in recorders.items()}
    response = await http.request(route.method, path, params=query, headers=headers,
                                  json=body if body is not None else None)
    assert response.status_code < 300, (route.label, response.status_code, response.text[:300])
    for op, fed in _fed(route, args):
        recorder = recorders[op.namespace]
        assert len(recorder.requests) > before[op.namespace], f"{route.label} sent nothing to {op.ref}"
        _check_request(recorder.requests[-1], op, fed, capability, secrets)
