"""Declarative pagination (our extension): the bundled 100ms list tool over a 57-stream sandbox,
the caps and how a cut answer says so, page mode with its continuation, and the offset, page,
cursor-in-body and `Link: rel="next"` types against a local fake (a next link to another server is
not followed)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest
from mcp import Client, types

from naftiko_runtime import app
from naftiko_runtime.errors import InputError, InvocationError
from naftiko_runtime.expose.mcp import build_server
from naftiko_runtime.expose.rest import build_rest_app
from naftiko_runtime.model import Capability
from naftiko_runtime.paging import TRUNCATED_HEADER
from naftiko_runtime.runtime import Runtime
from naftiko_runtime.telemetry import CallContext

ROOT = Path(__file__).resolve().parents[1]
HMS = ROOT / "capabilities" / "hms-live-streams.yaml"
CAPS = "maxPages: 20, maxItems: 500}"  # as the bundled file declares them
STREAMS = 57


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def load(tmp_path: Path, text: str, name: str = "capability.yaml") -> Capability:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (capability,) = loaded.capabilities
    return capability


def hms(tmp_path: Path, caps: str = CAPS) -> Capability:
    text = HMS.read_text(encoding="utf-8")
    assert CAPS in text
    return load(tmp_path, text.replace(CAPS, caps), "hms.yaml")


def tool(capability: Capability, name: str) -> Any:
    return next(t for t in capability.tools() if t.name == name)


@asynccontextmanager
async def sandbox_with_streams(capability: Capability, count: int = STREAMS) -> AsyncIterator[tuple[Runtime, set]]:
    """The 100ms simulator with ``count`` running streams, one per room."""
    async with app.runtime([capability], {}, sandbox=True) as runtime:
        start = tool(capability, "hms-start-live-stream")
        ids = set()
        for room in range(count):
            started = await runtime.invoke(start, {"room_id": f"{room + 1:024x}", "body": {}})
            ids.add(started["id"])
        assert len(ids) == count
        yield runtime, ids


async def listed(runtime: Runtime, capability: Capability, **arguments: Any) -> tuple[Any, CallContext]:
    context = CallContext()
    result = await runtime.invoke(tool(capability, "hms-list-live-streams"), arguments, context)
    return result, context


# ------------------------------------------------------------------------------- the bundled list tool


@pytest.mark.anyio
async def test_the_bundled_list_tool_returns_every_page_of_57_streams_in_one_call(tmp_path: Path) -> None:
    capability = hms(tmp_path)
    async with sandbox_with_streams(capability) as (runtime, started):
        result, context = await listed(runtime, capability)
    ids = [s["id"] for s in result["data"]]
    assert len(ids) == STREAMS and len(set(ids)) == STREAMS and set(ids) == started
    assert len(context.upstream) == 6  # five full pages of 10, then 7
    assert context.truncated is None


@pytest.mark.anyio
@pytest.mark.parametrize(("caps", "items", "reason", "limit", "pages"), [
    ("maxPages: 3, maxItems: 500}", 30, "maxPages", 3, 3),
    ("maxPages: 20, maxItems: 25}", 25, "maxItems", 25, 3),
])
async def test_caps_are_honoured_and_the_cut_is_reported(
        tmp_path: Path, caps: str, items: int, reason: str, limit: int, pages: int) -> None:
    capability = hms(tmp_path, caps)
    async with sandbox_with_streams(capability) as (runtime, _):
        result, context = await listed(runtime, capability)
    ids = [s["id"] for s in result["data"]]
    assert len(ids) == items == len(set(ids))
    assert len(context.upstream) == pages
    assert context.truncated == {"reason": reason, "limit": limit, "pages": pages, "items": items}


@pytest.mark.anyio
async def test_a_cap_the_answer_fits_in_is_not_a_cut(tmp_path: Path) -> None:
    capability = hms(tmp_path, "maxPages: 6, maxItems: 57}")
    async with sandbox_with_streams(capability) as (runtime, _):
        result, context = await listed(runtime, capability)
    assert len(result["data"]) == STREAMS and context.truncated is None


@pytest.mark.anyio
async def test_mcp_tells_the_model_when_the_answer_was_cut(tmp_path: Path) -> None:
    capability = hms(tmp_path, "maxPages: 2, maxItems: 500}")
    async with sandbox_with_streams(capability, 25) as (runtime, _):
        (exposure,) = capability.mcp
        server = build_server([(exposure, runtime)], name=exposure.namespace, instructions=None)
        async with Client(server) as client:
            result = await client.call_tool("hms-list-live-streams", {})
    assert not result.is_error
    data, note = result.content
    assert isinstance(data, types.TextContent) and len(json.loads(data.text)["data"]) == 20
    assert isinstance(note, types.TextContent)
    assert "incomplete" in note.text and "maxPages" in note.text and "20 item(s)" in note.text


# ------------------------------------------------------------------------------- page mode


@pytest.mark.anyio
async def test_page_mode_gives_one_page_and_a_continuation_the_next_call_takes_back(tmp_path: Path) -> None:
    capability = hms(tmp_path, "maxPages: 20, maxItems: 500, mode: page}")
    list_tool = tool(capability, "hms-list-live-streams")
    assert "continuation" in list_tool.input_schema["properties"]
    async with sandbox_with_streams(capability) as (runtime, started):
        seen: list[str] = []
        arguments: dict[str, Any] = {}
        for _ in range(10):
            page, context = await listed(runtime, capability, **arguments)
            assert len(context.upstream) == 1 and context.truncated is None
            seen += [s["id"] for s in page["data"]]
            if page["continuation"] is None:
                break
            arguments = {"continuation": page["continuation"]}
        with pytest.raises(InputError):  # a token this tool did not give
            await listed(runtime, capability, continuation="bm90LWEtdG9rZW4")
        deep = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()
        with pytest.raises(InputError):  # nor one nested past Python's recursion limit
            await listed(runtime, capability, continuation=deep)
    assert [len(seen[i:i + 10]) for i in range(0, len(seen), 10)] == [10, 10, 10, 10, 10, 7]
    assert len(set(seen)) == STREAMS and set(seen) == started


# ------------------------------------------------------------------------------- types, on a fake


ITEMS = [{"id": i, "name": f"item {i}"} for i in range(23)]
SIZE = 5

PAGED = """\
naftiko: "1.0.0-alpha2"
info: {label: Paged, description: Every pagination type.}
capability:
  consumes:
    - type: http
      namespace: catalog
      baseUri: https://catalog.test/api
      resources:
        - name: offset
          path: /offset
          operations:
            - name: by-offset
              method: GET
              pagination: {type: offset, items: $.items, param: offset, size: 5, sizeParam: limit}
        - name: pages
          path: /pages
          operations:
            - name: by-page
              method: GET
              pagination: {type: page, items: $.results, param: page, size: 5, sizeParam: per_page}
        - name: linked
          path: /linked
          operations:
            - name: by-link
              method: GET
              pagination: {type: link}
            - name: by-link-away
              method: GET
              inputParameters: [{name: away, in: query, value: "yes"}]
              pagination: {type: link}
        - name: search
          path: /search
          operations:
            - name: by-cursor
              method: POST
              inputParameters: [{name: q, in: body, type: string}]
              pagination: {type: cursor, items: $.hits, next: $.next, param: cursor, in: body}
  exposes:
    - type: mcp
      port: 9500
      namespace: paged
      tools:
        - {name: by-offset, description: Offsets., call: catalog.by-offset}
        - {name: by-page, description: Pages., call: catalog.by-page}
        - {name: by-link, description: Links., call: catalog.by-link}
        - {name: by-link-away, description: Links elsewhere., call: catalog.by-link-away}
        - {name: by-cursor, description: Cursors in the body., call: catalog.by-cursor, with: {q: item}}
    - type: rest
      port: 9501
      namespace: paged-rest
      resources:
        - path: /everything
          operations:
            - {method: GET, name: everything, call: catalog.by-offset}
"""


class Catalog:
    """The fake upstream: 23 items, paged four ways; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        path = request.url.path
        if path == "/api/offset":
            start, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
            return httpx2.Response(200, json={"items": ITEMS[start:start + limit], "total": len(ITEMS)})
        if path == "/api/pages":
            page, per = int(query.get("page", 1)), int(query.get("per_page", 100))
            return httpx2.Response(200, json={"results": ITEMS[(page - 1) * per:page * per], "page": page})
        if path == "/api/linked":
            after = int(query.get("after", 0))
            headers = {}
            if after + SIZE < len(ITEMS):
                host = "https://elsewhere.test" if query.get("away") else ""
                headers["link"] = f'<{host}/api/linked?after={after + SIZE}>; rel="next", </api/linked>; rel="first"'
            return httpx2.Response(200, json=ITEMS[after:after + SIZE], headers=headers)
        if path == "/api/search":
            body = json.loads(request.content or b"{}")
            start = int(body.get("cursor") or 0)
            following = str(start + SIZE) if start + SIZE < len(ITEMS) else None
            return httpx2.Response(200, json={"hits": ITEMS[start:start + SIZE], "next": following,
                                              "q": body.get("q")})
        return httpx2.Response(404, json={"message": "no such path"})


@asynccontextmanager
async def catalog_runtime(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Capability, Catalog]]:
    capability = load(tmp_path, PAGED)
    fake = Catalog()
    async with app.runtime([capability], {}, transports={"catalog": httpx2.MockTransport(fake)}) as runtime:
        yield runtime, capability, fake


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "items", "pages"), [
    ("by-offset", "items", 5), ("by-page", "results", 5), ("by-cursor", "hits", 5),
])
async def test_offset_page_and_cursor_types_merge_every_page(tmp_path: Path, name: str, items: str, pages: int) -> None:
    async with catalog_runtime(tmp_path) as (runtime, capability, fake):
        result = await runtime.invoke(tool(capability, name), {})
    assert result[items] == ITEMS
    assert len(fake.requests) == pages


@pytest.mark.anyio
async def test_the_parameters_are_sent_where_pagination_says(tmp_path: Path) -> None:
    async with catalog_runtime(tmp_path) as (runtime, capability, fake):
        await runtime.invoke(tool(capability, "by-offset"), {})
        offsets = [parse_qs(r.url.query.decode()) for r in fake.requests]
        fake.requests.clear()
        await runtime.invoke(tool(capability, "by-cursor"), {})
        bodies = [json.loads(r.content) for r in fake.requests]
    assert [(q["offset"], q["limit"]) for q in offsets] == [([str(n)], ["5"]) for n in (0, 5, 10, 15, 20)]
    assert [b.get("cursor") for b in bodies] == [None, "5", "10", "15", "20"]  # in the JSON body
    assert all(b["q"] == "item" for b in bodies)  # beside the operation's own body parameter


@pytest.mark.anyio
async def test_link_headers_are_followed_to_the_last_page(tmp_path: Path) -> None:
    async with catalog_runtime(tmp_path) as (runtime, capability, fake):
        result = await runtime.invoke(tool(capability, "by-link"), {})
    assert result == ITEMS
    assert [str(r.url) for r in fake.requests] == [
        "https://catalog.test/api/linked", *(f"https://catalog.test/api/linked?after={n}" for n in (5, 10, 15, 20))]


@pytest.mark.anyio
async def test_a_next_link_to_another_server_is_not_followed(tmp_path: Path) -> None:
    async with catalog_runtime(tmp_path) as (runtime, capability, fake):
        with pytest.raises(InvocationError, match="another server"):
            await runtime.invoke(tool(capability, "by-link-away"), {})
    assert [r.url.host for r in fake.requests] == ["catalog.test"]  # one page, nothing sent elsewhere


@pytest.mark.anyio
async def test_rest_says_a_cut_answer_in_a_header(tmp_path: Path) -> None:
    capability = load(tmp_path, PAGED.replace("param: offset, size: 5, sizeParam: limit}",
                                              "param: offset, size: 5, sizeParam: limit, maxPages: 2}"))
    transports = {"catalog": httpx2.MockTransport(Catalog())}
    async with app.runtime([capability], {}, transports=transports) as runtime:
        (rest,) = capability.rest
        transport = httpx2.ASGITransport(app=build_rest_app([(rest, runtime)]))
        async with httpx2.AsyncClient(transport=transport, base_url="http://rest.test") as http:
            response = await http.get("/everything")
    assert response.status_code == 200 and response.json()["items"] == ITEMS[:10]
    assert response.headers[TRUNCATED_HEADER] == "maxPages; limit=2; pages=2; items=10"
