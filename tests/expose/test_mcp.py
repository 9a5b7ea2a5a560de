"""The MCP adapter driven by the SDK's own client: in memory (both eras) and over in-process HTTP."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from naftiko_runtime import app
from naftiko_runtime.errors import BindingError, ServeError, UpstreamError
from naftiko_runtime.expose.guards import BodyLimit, allowed_hosts_for
from naftiko_runtime.expose.listeners import Listener, build_listeners
from naftiko_runtime.expose.mcp import build_server, safe_file
from naftiko_runtime.expose.serve import announce, serve
from naftiko_runtime.model import Capability, McpExposure
from naftiko_runtime.runtime import Runtime

SHOP_TOKEN = "s3cr3t-upstream-token"
MCP_TOKEN = "inbound-token-123"
ERAS = ["auto", "legacy"]  # 2026-07-28 (sessionless) and the 2025-11-25 handshake

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info:
  label: Shop
  description: A small shop API.
binds:
  - namespace: env
    keys:
      SHOP_TOKEN: SHOP_TOKEN
      MCP_TOKEN: MCP_TOKEN
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: https://shop.example/api
      authentication: {{type: bearer, token: "{{{{SHOP_TOKEN}}}}"}}
      resources:
        - name: item
          path: /items/{{id}}
          operations:
            - name: get-item
              method: GET
              inputParameters:
                - {{name: id, in: path, type: string, required: true}}
        - name: items
          path: /items
          operations:
            - {{name: list-items, method: GET}}
            - name: create-item
              method: POST
              inputParameters:
                - {{name: body, in: body, type: object, required: true, description: The new item.}}
  exposes:
    - type: mcp
      namespace: shop-mcp
      port: 9100
      description: Shop tools.
      {auth}
      tools:
        - name: get-item
          label: Get item
          description: Read one item.
          hints: {{readOnly: true, openWorld: false}}
          inputParameters:
            - {{name: id, type: string, description: Item id.}}
            - {{name: qty, type: integer, description: How many.}}
          call: shop.get-item
          outputParameters:
            - type: object
              properties:
                name: {{type: string, mapping: $.name}}
                price: {{type: number, mapping: $.price}}
        - name: list-items
          description: List every item.
          hints: {{readOnly: true, destructive: false, idempotent: true}}
          call: shop.list-items
        - name: create-item
          description: Create an item.
          hints: {{readOnly: false, destructive: false}}
          call: shop.create-item
          with: {{body: tools.item}}
      resources:
        - name: catalog
          label: Catalog
          uri: shop://catalog
          description: Every item.
          call: shop.list-items
        - name: item
          label: Item
          uri: shop://items/{{id}}
          description: One item by id.
          call: shop.get-item
        - name: docs
          label: Docs
          uri: docs://shop
          description: Shop documentation.
          location: {docs}
      prompts:
        - name: pitch
          label: Sales pitch
          description: Pitch an item to a customer.
          arguments:
            - {{name: customer, description: Who to address.}}
            - {{name: item, description: What to sell., required: false}}
          template:
            - {{role: user, content: "Write to {{{{customer}}}} about {{{{item}}}}. {{{{SHOP_TOKEN}}}}"}}
            - {{role: assistant, content: "Sure."}}
        - name: from-file
          label: From a file
          description: A prompt kept in a file.
          arguments:
            - {{name: topic, description: The topic.}}
          location: {prompt}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeShop:
    """The upstream API: records every request it receives."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/api/items":
            return httpx2.Response(201, json={"id": "7", **json.loads(request.content)})
        if path == "/api/items":
            return httpx2.Response(200, json=[{"id": "42"}, {"id": "43"}])
        if path == "/api/items/404":
            return httpx2.Response(404, json={"message": "no such item"})
        if path == "/api/items/503":
            return httpx2.Response(503, json={"message": "maintenance"})
        if path == "/api/items/loose":  # values that are not of the declared types
            return httpx2.Response(200, json={"name": 42, "price": "cheap"})
        return httpx2.Response(200, json={"name": f"item {path.rsplit('/', 1)[-1]}", "price": 12.5, "stock": 3})


def write_capability(tmp_path: Path, *, auth: str = "") -> Path:
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "readme.md").write_text("# Shop\n", encoding="utf-8")
    (docs / "guides" / "returns.txt").write_text("Returns within 30 days.", encoding="utf-8")
    (docs / "logo.bin").write_bytes(b"\x89PNG\x00\xff")
    (tmp_path / "secret.txt").write_text("top secret", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", docs / "escape.txt")
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Explain {{topic}} simply.", encoding="utf-8")
    path = tmp_path / "shop.yaml"
    path.write_text(CAPABILITY.format(auth=auth, docs=docs.as_uri(), prompt=prompt.as_uri()), encoding="utf-8")
    return path


def load(path: Path) -> Capability:
    loaded = app.load([path], {})
    # The pitch prompt names {{SHOP_TOKEN}} on purpose (a bind variable never reaches a prompt): a warning.
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (capability,) = loaded.capabilities
    return capability


@asynccontextmanager
async def shop_runtime(path: Path, shop: FakeShop) -> AsyncIterator[Runtime]:
    env = {"SHOP_TOKEN": SHOP_TOKEN, "MCP_TOKEN": MCP_TOKEN}
    async with app.runtime([load(path)], env, transports={"shop": httpx2.MockTransport(shop)}) as runtime:
        yield runtime


@pytest.fixture
def shop() -> FakeShop:
    return FakeShop()


@pytest.fixture
async def runtime(tmp_path: Path, shop: FakeShop) -> AsyncIterator[Runtime]:
    async with shop_runtime(write_capability(tmp_path), shop) as rt:
        yield rt


def exposure_of(runtime: Runtime) -> McpExposure:
    ((exposure,),) = [capability.mcp for capability in runtime.capabilities]
    return exposure


@pytest.fixture
def server(runtime: Runtime) -> Any:
    exposure = exposure_of(runtime)
    return build_server([(exposure, runtime)], name=exposure.namespace, instructions=exposure.description)


# ------------------------------------------------------------------------------------------ tools


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_tools_list_advertises_titles_schemas_annotations_and_output_schema(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        assert client.instructions == "Shop tools."
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == ["get-item", "list-items", "create-item"]
    get_item = tools["get-item"]
    assert get_item.title == "Get item"
    assert get_item.description == "Read one item."
    assert get_item.input_schema == {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "Item id."},
            "qty": {"type": "integer", "description": "How many."},
        },
        "required": ["id", "qty"],
        "additionalProperties": False,
    }
    assert get_item.annotations is not None
    assert get_item.annotations.read_only_hint is True
    assert get_item.annotations.open_world_hint is False
    assert get_item.annotations.title == "Get item"
    assert get_item.output_schema is not None
    assert get_item.output_schema["type"] == "object"
    assert set(get_item.output_schema["properties"]) == {"name", "price"}
    assert tools["list-items"].output_schema is None
    assert tools["list-items"].annotations.idempotent_hint is True
    # Inferred from `with: {body: tools.item}` and the consumed parameter it feeds.
    assert tools["create-item"].input_schema["properties"]["item"]["type"] == "object"
    assert tools["create-item"].input_schema["required"] == ["item"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_object_results_come_as_json_text_and_structured_content(server: Any, shop: FakeShop, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("get-item", {"id": "42", "qty": 1})
    assert result.is_error is False
    assert result.structured_content == {"name": "item 42", "price": 12.5}
    assert json.loads(result.content[0].text) == result.structured_content
    assert result.content[0].text == '{"name":"item 42","price":12.5}'
    assert str(shop.requests[0].url) == "https://shop.example/api/items/42"
    assert shop.requests[0].headers["authorization"] == f"Bearer {SHOP_TOKEN}"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_declared_scalar_types_do_not_turn_a_successful_call_into_an_error(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("get-item", {"id": "loose", "qty": 1})
    assert listed["get-item"].output_schema["properties"] == {"name": {}, "price": {}}
    assert result.is_error is False
    assert result.structured_content == {"name": 42, "price": "cheap"}


@pytest.mark.anyio
async def test_array_results_are_text_only_and_bodies_are_forwarded(server: Any, shop: FakeShop) -> None:
    async with Client(server) as client:
        listed = await client.call_tool("list-items", {})
        created = await client.call_tool("create-item", {"item": {"name": "Lamp"}})
    assert listed.structured_content is None
    assert json.loads(listed.content[0].text) == [{"id": "42"}, {"id": "43"}]
    assert created.structured_content == {"id": "7", "name": "Lamp"}
    assert json.loads(shop.requests[-1].content) == {"name": "Lamp"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_upstream_client_errors_are_is_error_results_naming_status_message_and_operation(
    server: Any, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("get-item", {"id": "404", "qty": 1})
    assert result.is_error is True
    text = result.content[0].text
    assert "HTTP 404" in text and "no such item" in text and "shop.get-item" in text
    assert "check identifiers" in text


@pytest.mark.anyio
async def test_upstream_server_errors_suggest_retrying(server: Any) -> None:
    async with Client(server) as client:
        result = await client.call_tool("get-item", {"id": "503", "qty": 1})
    assert result.is_error is True
    assert "HTTP 503" in result.content[0].text and "retrying later" in result.content[0].text


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_bad_arguments_list_every_problem_and_never_reach_the_upstream(
    server: Any, shop: FakeShop, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        missing = await client.call_tool("get-item", {})
        wrong_type = await client.call_tool("get-item", {"id": 42, "qty": "many"})
        not_an_object = await client.call_tool("create-item", {"item": "lamp"})
    assert missing.is_error and wrong_type.is_error and not_an_object.is_error
    assert '"id" is a required property' in missing.content[0].text
    assert '"qty" is a required property' in missing.content[0].text
    assert "- /id:" in wrong_type.content[0].text and "- /qty:" in wrong_type.content[0].text
    # A tool with an outputSchema keeps its structuredContent for results that match it.
    assert missing.structured_content is None
    assert not_an_object.structured_content["error"] == "invalid-arguments"
    assert [p["pointer"] for p in not_an_object.structured_content["problems"]] == ["/item"]
    assert shop.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_unknown_tool_is_a_json_rpc_invalid_params_error(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("no-such-tool", {})
    assert caught.value.code == -32602


@pytest.mark.anyio
async def test_unexpected_failures_are_is_error_results_not_internal_errors(
    server: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(unit: Any, arguments: Any, context: Any = None) -> Any:
        raise RuntimeError("bug with detail that must stay private")

    monkeypatch.setattr(runtime, "invoke", explode)
    async with Client(server) as client:
        result = await client.call_tool("list-items", {})
    assert result.is_error is True
    assert "internal error" in result.content[0].text
    assert "private" not in result.content[0].text


@pytest.mark.anyio
async def test_error_messages_never_carry_bound_secrets(
    server: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def leak(unit: Any, arguments: Any, context: Any = None) -> Any:
        raise UpstreamError(401, f"token {SHOP_TOKEN} rejected", operation="shop.list-items")

    monkeypatch.setattr(runtime, "invoke", leak)
    async with Client(server) as client:
        result = await client.call_tool("list-items", {})
    assert result.is_error is True
    assert SHOP_TOKEN not in result.content[0].text
    assert SHOP_TOKEN not in json.dumps(result.structured_content)
    assert "credentials" in result.content[0].text


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_progress_is_reported_when_the_client_asks(server: Any, mode: str) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(server, mode=mode) as client:
        result = await client.call_tool("list-items", {}, progress_callback=on_progress)
    assert result.is_error is False
    assert seen == [0, 1]


@pytest.mark.anyio
async def test_two_exposures_with_the_same_tool_name_cannot_share_an_endpoint(runtime: Runtime) -> None:
    exposure = exposure_of(runtime)
    with pytest.raises(ServeError, match="get-item"):
        build_server([(exposure, runtime), (exposure, runtime)], name="union")


# -------------------------------------------------------------------------------------- resources


@pytest.mark.anyio
async def test_resources_list_dynamic_and_static_files_and_templates_separately(server: Any) -> None:
    async with Client(server) as client:
        resources = {r.uri: r for r in (await client.list_resources()).resources}
        templates = (await client.list_resource_templates()).resource_templates
    # The symlink docs/escape.txt points outside the folder: never listed.
    assert set(resources) == {
        "shop://catalog",
        "docs://shop/readme.md",
        "docs://shop/guides/returns.txt",
        "docs://shop/logo.bin",
    }
    assert resources["shop://catalog"].title == "Catalog"
    assert resources["shop://catalog"].mime_type == "application/json"
    assert resources["docs://shop/readme.md"].mime_type == "text/markdown"
    assert [(t.name, t.uri_template) for t in templates] == [("item", "shop://items/{id}")]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_dynamic_and_template_resources_call_the_upstream(server: Any, shop: FakeShop, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        catalog = await client.read_resource("shop://catalog")
        item = await client.read_resource("shop://items/99")
    assert json.loads(catalog.contents[0].text) == [{"id": "42"}, {"id": "43"}]
    assert json.loads(item.contents[0].text)["name"] == "item 99"
    assert item.contents[0].uri == "shop://items/99"
    assert str(shop.requests[-1].url) == "https://shop.example/api/items/99"


@pytest.mark.anyio
async def test_static_resources_serve_text_and_binary_files(server: Any) -> None:
    async with Client(server) as client:
        text = await client.read_resource("docs://shop/guides/returns.txt")
        binary = await client.read_resource("docs://shop/logo.bin")
    assert text.contents[0].text == "Returns within 30 days."
    assert text.contents[0].mime_type == "text/plain"
    assert binary.contents[0].blob == "iVBORwD/"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "uri",
    [
        "docs://shop/../secret.txt",
        "docs://shop/%2e%2e/secret.txt",
        "docs://shop/guides/../../secret.txt",
        "docs://shop/escape.txt",
        "docs://shop//etc/passwd",
        "docs://shop/",
        "docs://shop/guides",
        "docs://other/readme.md",
    ],
)
async def test_static_resources_refuse_paths_that_escape_the_folder(server: Any, uri: str) -> None:
    async with Client(server) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource(uri)
    assert caught.value.code == -32602


def test_safe_file_accepts_only_plain_segments_inside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.txt").write_text("x")
    assert safe_file(tmp_path, "a/b.txt") == (tmp_path / "a" / "b.txt").resolve()
    for bad in ("", "a/../a/b.txt", "./a/b.txt", "a\\b.txt", "/a/b.txt", "a/b.txt/"):
        assert safe_file(tmp_path, bad) is None


@pytest.mark.anyio
async def test_failing_dynamic_resources_are_protocol_errors_with_a_readable_message(
    server: Any, shop: FakeShop
) -> None:
    async with Client(server) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("shop://items/404")
    assert caught.value.code == -32603
    assert "HTTP 404" in caught.value.message


# ---------------------------------------------------------------------------------------- prompts


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_prompts_substitute_arguments_and_never_bind_variables(server: Any, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        result = await client.get_prompt("pitch", {"customer": "Ada", "item": "a lamp"})
    assert prompts["pitch"].title == "Sales pitch"
    assert [(a.name, a.required) for a in prompts["pitch"].arguments] == [("customer", True), ("item", False)]
    assert [m.role for m in result.messages] == ["user", "assistant"]
    assert result.messages[0].content.text == "Write to Ada about a lamp. "
    assert SHOP_TOKEN not in result.messages[0].content.text


@pytest.mark.anyio
async def test_file_prompts_become_one_user_message(server: Any) -> None:
    async with Client(server) as client:
        result = await client.get_prompt("from-file", {"topic": "returns"})
    assert [(m.role, m.content.text) for m in result.messages] == [("user", "Explain returns simply.")]


@pytest.mark.anyio
async def test_prompts_missing_required_arguments_or_unknown_are_invalid_params(server: Any) -> None:
    async with Client(server) as client:
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("pitch", {"item": "x"})
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("nope", {})
    assert missing.value.code == unknown.value.code == -32602
    assert "customer" in missing.value.message


# ------------------------------------------------------------------------------ in-process HTTP


@asynccontextmanager
async def http_client(
    listener: Listener, *, host: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=listener.app)
    async with httpx2.AsyncClient(
        transport=transport, base_url=f"http://{host}:{listener.port}", headers=headers
    ) as client:
        yield client


def mcp_client(http: httpx2.AsyncClient, path: str, mode: str) -> Client:
    return Client(
        streamable_http_client(f"{http.base_url}{path}".replace("//mcp", "/mcp"), http_client=http), mode=mode
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_http_listener_serves_mcp_at_the_namespace_path_and_at_mcp(runtime: Runtime, mode: str) -> None:
    (listener,) = build_listeners(runtime, port=9100)
    assert [path for _, _, path in listener.endpoints] == ["/mcp"]
    async with listener.lifespan(), http_client(listener) as http:
        for path in ("/mcp", "/mcp/", "/mcp/shop-mcp"):
            async with mcp_client(http, path, mode) as client:
                assert (await client.list_tools()).tools[0].name == "get-item"
                result = await client.call_tool("get-item", {"id": "1", "qty": 1})
                assert result.structured_content == {"name": "item 1", "price": 12.5}


@pytest.mark.anyio
async def test_exposures_sharing_a_port_get_their_own_path_and_a_union(tmp_path: Path, shop: FakeShop) -> None:
    first = write_capability(tmp_path / "a")
    second_dir = tmp_path / "b"
    second = write_capability(second_dir)
    text = (
        second.read_text()
        .replace("namespace: shop-mcp", "namespace: shop-two")
        .replace("name: get-item\n          label", "name: get-item-two\n          label")
        .replace("name: list-items\n          description", "name: list-items-two\n          description")
        .replace("name: create-item\n          description", "name: create-item-two\n          description")
        .replace("name: pitch", "name: pitch-two")
        .replace("name: from-file", "name: from-file-two")
    )
    second.write_text(text)
    env = {"SHOP_TOKEN": SHOP_TOKEN, "MCP_TOKEN": MCP_TOKEN}
    async with app.runtime(
        [load(first), load(second)], env, transports={"shop": httpx2.MockTransport(shop)}
    ) as runtime:
        (listener,) = build_listeners(runtime)
        assert listener.endpoints == [
            ("MCP", "(all)", "/mcp"),
            ("MCP", "shop-mcp", "/mcp/shop-mcp"),
            ("MCP", "shop-two", "/mcp/shop-two"),
        ]
        async with listener.lifespan(), http_client(listener) as http:
            async with mcp_client(http, "/mcp", "auto") as union:
                names = {t.name for t in (await union.list_tools()).tools}
                result = await union.call_tool("get-item-two", {"id": "5", "qty": 1})
            async with mcp_client(http, "/mcp/shop-two", "legacy") as two:
                only_two = {t.name for t in (await two.list_tools()).tools}
    assert names == {"get-item", "list-items", "create-item", "get-item-two", "list-items-two", "create-item-two"}
    assert only_two == {"get-item-two", "list-items-two", "create-item-two"}
    assert result.structured_content == {"name": "item 5", "price": 12.5}


async def post_initialize(http: httpx2.AsyncClient, path: str = "/mcp", **kwargs: Any) -> httpx2.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
    }
    headers = {"accept": "application/json, text/event-stream", **kwargs.pop("headers", {})}
    return await http.post(path, json=body, headers=headers, **kwargs)


@pytest.mark.anyio
async def test_dns_rebinding_protection_refuses_foreign_hosts_and_origins(runtime: Runtime) -> None:
    (listener,) = build_listeners(runtime)
    async with listener.lifespan(), http_client(listener, host="attacker.example") as http:
        assert (await post_initialize(http)).status_code == 421
    (listener,) = build_listeners(runtime)
    async with listener.lifespan(), http_client(listener) as http:
        assert (await post_initialize(http, headers={"origin": "http://attacker.example"})).status_code == 403
        assert (await post_initialize(http, headers={"origin": "http://localhost:5173"})).status_code == 200


@pytest.mark.anyio
async def test_extra_allowed_hosts_extend_the_protection(runtime: Runtime) -> None:
    (listener,) = build_listeners(runtime, allowed_hosts=["mcp.example.com"])
    async with listener.lifespan(), http_client(listener, host="mcp.example.com") as http:
        assert (await post_initialize(http)).status_code == 200


def test_allowed_hosts_follow_the_bind_address() -> None:
    loopback, origins = allowed_hosts_for("127.0.0.1")
    assert loopback is not None and "localhost:*" in loopback and "127.0.0.1:*" in loopback
    assert "http://localhost:*" in origins
    specific, _ = allowed_hosts_for("10.1.2.3", ["api.example.com:8443"])
    assert specific is not None and "10.1.2.3:*" in specific and "localhost:*" not in specific
    assert "api.example.com:8443" in specific and "api.example.com:8443:*" not in specific
    assert allowed_hosts_for("0.0.0.0", ["*"]) == (None, [])
    other_loopback, _ = allowed_hosts_for("127.0.0.2")  # the URL `serve --address 127.0.0.2` prints
    assert other_loopback is not None and "127.0.0.2:*" in other_loopback and "localhost:*" in other_loopback


@pytest.mark.anyio
async def test_oversized_request_bodies_get_413(runtime: Runtime) -> None:
    (listener,) = build_listeners(runtime, max_body_size=1024)
    async with listener.lifespan(), http_client(listener) as http:
        response = await http.post(
            "/mcp",
            content=b"{" + b" " * 2048 + b"}",
            headers={"content-type": "application/json", "accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413 and "over the limit" in response.json()["detail"]


@pytest.mark.anyio
async def test_body_limit_counts_streamed_bodies_without_a_length() -> None:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{len(await request.body())} bytes")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 400

    app = BodyLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), 1000)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        streamed = await http.post("/", content=chunks())
        small = await http.post("/", content=b"x" * 999)
    assert (streamed.status_code, streamed.json()["type"]) == (413, "about:blank")
    assert (small.status_code, small.text) == (200, "999 bytes")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_inbound_bearer_auth_guards_mcp_over_http(tmp_path: Path, shop: FakeShop, mode: str) -> None:
    path = write_capability(tmp_path, auth='authentication: {type: bearer, token: "{{MCP_TOKEN}}"}')
    async with shop_runtime(path, shop) as runtime:
        (listener,) = build_listeners(runtime)
        assert listener.unauthenticated == []
        async with listener.lifespan():
            async with http_client(listener) as http:
                denied = await post_initialize(http)
                also_denied = await post_initialize(
                    http, path="/mcp/shop-mcp", headers={"authorization": "Bearer wrong"}
                )
            headers = {"authorization": f"Bearer {MCP_TOKEN}"}
            async with http_client(listener, headers=headers) as http, mcp_client(http, "/mcp", mode) as client:
                result = await client.call_tool("list-items", {})
    assert denied.status_code == also_denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert MCP_TOKEN not in denied.text
    assert result.is_error is False


# ------------------------------------------------------------------------------------- lifecycle


class _Signal(logging.Handler):
    """Sets an event when a log record with ``text`` is emitted (to follow the server's shutdown)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.mark.anyio
async def test_sigterm_lets_in_flight_calls_finish_then_serve_returns_0(tmp_path: Path) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are only delivered to the main thread")
    entered, release = anyio.Event(), anyio.Event()

    async def slow_shop(request: httpx2.Request) -> httpx2.Response:
        entered.set()
        await release.wait()
        return httpx2.Response(200, json=[{"id": "slow"}])

    stopping = _Signal("received SIGTERM, stopping")
    serve_logger = logging.getLogger("naftiko.serve")
    level = serve_logger.level
    serve_logger.setLevel(logging.INFO)
    serve_logger.addHandler(stopping)
    lines: list[str] = []
    listeners: list[Listener] = []
    ready = anyio.Event()
    outcome: dict[str, Any] = {}
    env = {"SHOP_TOKEN": SHOP_TOKEN, "MCP_TOKEN": MCP_TOKEN}
    runtime = app.runtime([load(write_capability(tmp_path))], env, transports={"shop": httpx2.MockTransport(slow_shop)})

    def on_ready(bound: list[Listener]) -> None:
        listeners.extend(bound)
        ready.set()

    async def run_server() -> None:
        outcome["code"] = await serve(runtime, port=0, log=lines.append, ready=on_ready, grace_period=5)

    async def call() -> None:
        async with Client(listeners[0].url("/mcp")) as client:
            await client.list_tools()  # so the client needs no request after the call to check its result
            outcome["result"] = await client.call_tool("list-items", {})

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run_server)
                await ready.wait()
                tg.start_soon(call)
                await entered.wait()
                os.kill(os.getpid(), signal.SIGTERM)
                await stopping.event.wait()
                while not runtime.draining:  # the stop task has begun: new calls are refused now
                    await anyio.sleep(0.01)
                assert runtime.in_flight == 1  # the call is still open, and is let finish
                release.set()
    finally:
        serve_logger.removeHandler(stopping)
        serve_logger.setLevel(level)
    assert outcome["code"] == 0
    assert outcome["result"].is_error is False
    assert json.loads(outcome["result"].content[0].text) == [{"id": "slow"}]
    assert lines == [f"MCP shop-mcp  http://127.0.0.1:{listeners[0].port}/mcp"]
    assert listeners[0].port != 9100  # port=0 overrides the spec: an ephemeral port


@pytest.mark.anyio
async def test_serve_refuses_to_start_on_unbound_variables_and_unenforceable_auth(tmp_path: Path) -> None:
    # Unbound variables stop the runtime from being built at all, every one named.
    with pytest.raises(BindingError) as unbound:
        app.runtime([load(write_capability(tmp_path / "a"))], {"MCP_TOKEN": MCP_TOKEN})
    assert unbound.value.missing == ("SHOP_TOKEN",)
    # A credential naming no bind variable is an error before anything runs.
    path = write_capability(tmp_path / "b", auth='authentication: {type: bearer, token: "{{NOT_BOUND}}"}')
    (error,) = [d for d in app.load([path], {}).diagnostics if str(d.severity) == "error"]
    assert error.code == "unbound-credential" and "NOT_BOUND" in error.message
    # A bound credential that is empty cannot be enforced: serve refuses, naming the exposure.
    lines: list[str] = []
    path = write_capability(tmp_path / "c", auth='authentication: {type: bearer, token: "{{MCP_TOKEN}}"}')
    empty = app.runtime([load(path)], {"MCP_TOKEN": "", "SHOP_TOKEN": SHOP_TOKEN})
    assert await serve(empty, port=0, log=lines.append) == 1
    assert "shop-mcp" in lines[-1] and "token is empty" in lines[-1]


def test_serving_on_a_public_address_without_auth_prints_a_warning() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass

    lines: list[str] = []
    public = Listener("0.0.0.0", 9100, app, [("MCP", "shop-mcp", "/mcp")], ["shop-mcp"])
    private = Listener("127.0.0.1", 9101, app, [("MCP", "other", "/mcp")], ["other"])
    announce(lambda text, data: lines.append(text), [public, private], [])
    assert lines[0] == "MCP shop-mcp  http://0.0.0.0:9100/mcp"
    assert lines[1].startswith("warning: shop-mcp on 0.0.0.0:9100") and "without authentication" in lines[1]
    # A public address checks the Host header: the names it accepts are printed with how to add more.
    assert lines[2].startswith("0.0.0.0:9100 accepts the Host names 127.0.0.1, [::1], localhost")
    assert "--allowed-host" in lines[2]
    assert lines[3:] == ["MCP other  http://127.0.0.1:9101/mcp"]


@pytest.mark.anyio
async def test_a_stateless_exposure_answers_the_legacy_handshake_without_a_session(
        tmp_path: Path, shop: FakeShop) -> None:
    """`stateless: true` is for several workers or replicas: no request may depend on a session."""
    path = write_capability(tmp_path)
    path.write_text(path.read_text().replace("namespace: shop-mcp", "namespace: shop-mcp\n      stateless: true", 1))
    async with shop_runtime(path, shop) as runtime:
        (listener,) = build_listeners(runtime)
        async with listener.lifespan(), http_client(listener) as http:
            headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
            hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            response = await http.post("/mcp", json=hello, headers=headers)
            assert response.status_code == 200 and "mcp-session-id" not in response.headers
            async with mcp_client(http, "/mcp", "legacy") as client:  # every request stands alone
                result = await client.call_tool("get-item", {"id": "7", "qty": 1})
    assert result.structured_content == {"name": "item 7", "price": 12.5}


@pytest.mark.anyio
async def test_a_legacy_session_answers_only_the_caller_who_opened_it(runtime: Runtime) -> None:
    from naftiko_runtime.expose.auth import CALLER

    (listener,) = build_listeners(runtime)
    inner = listener.app

    async def authenticated(scope: Any, receive: Any, send: Any) -> None:  # who inbound auth let in
        caller = dict(scope.get("headers", [])).get(b"x-caller")
        await inner({**scope, CALLER: caller.decode()} if caller else scope, receive, send)

    listener.app = authenticated
    async with listener.lifespan(), http_client(listener) as http:
        opened = await post_initialize(http, headers={"x-caller": "alice"})
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25",
                   "accept": "application/json, text/event-stream"}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        stolen = await http.post("/mcp", json=listing, headers={**session, "x-caller": "bob"})
        anonymous = await http.post("/mcp", json=listing, headers=session)
        own = await http.post("/mcp", json=listing, headers={**session, "x-caller": "alice"})
    assert opened.status_code == 200
    assert (stolen.status_code, anonymous.status_code) == (404, 404)  # as if the session did not exist
    assert own.status_code == 200 and "get-item" in own.text


@pytest.mark.parametrize(("status", "said", "advice"), [
    (404, "live stream is not running", "not in a state that allows this"),
    (409, "recording is already paused", "not in a state that allows this"),
    (422, "name is too long", "check the argument values"),
    (404, "stream not found", "check identifiers"),
    (401, "invalid token", "changing arguments will not help"),
    (503, "maintenance", "retrying later may succeed"),
])
def test_error_messages_name_the_operation_and_advise_by_what_the_upstream_said(
        status: int, said: str, advice: str) -> None:
    from naftiko_runtime.errors import UpstreamError
    from naftiko_runtime.expose.mcp import error_message

    text = error_message("hms-pause-recording", UpstreamError(status, said, operation="live-streams.pause"))
    first, hint = text.split("\n")
    assert first == (f"Tool 'hms-pause-recording' failed: upstream operation 'live-streams.pause' answered "
                     f"HTTP {status}: {said}")
    assert advice in hint
