"""Numeric and boolean strings are coerced where the input schema asks for those types and the text is
unambiguous; the same on MCP, REST and `naftiko call`, and everything else still fails before any
upstream call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from mcp import Client
from starlette.applications import Starlette
from starlette.testclient import TestClient

from naftiko_runtime import app
from naftiko_runtime.cli import main
from naftiko_runtime.coerce import coercer
from naftiko_runtime.errors import InputError
from naftiko_runtime.expose.mcp import build_server
from naftiko_runtime.expose.rest import build_rest_app, build_rest_routes
from naftiko_runtime.load import load_text
from naftiko_runtime.model import Capability
from naftiko_runtime.validate import check_documents

ROOT = Path(__file__).resolve().parents[1]
HMS = str(ROOT / "capabilities" / "hms-live-streams.yaml")

CAPABILITY = """\
naftiko: "1.0.0-alpha2"
info: {label: Counter, description: Counts things.}
capability:
  consumes:
    - type: http
      namespace: api
      baseUri: https://api.example.test
      resources:
        - name: things
          path: /things
          operations:
            - name: list
              method: GET
              inputParameters:
                - {name: limit, in: query, type: integer}
                - {name: ratio, in: query, type: number}
                - {name: open, in: query, type: boolean}
            - name: make
              method: POST
              inputParameters:
                - name: body
                  in: body
                  type: object
                  required: true
                  description: The new thing.
                  schema:
                    properties:
                      count: {type: integer}
                      label: {type: string}
                    required: [count]
            - name: make-counted
              method: POST
              inputParameters:
                - {name: count, in: body, type: integer}
  exposes:
    - type: mcp
      namespace: counter
      port: 9999
      tools:
        - name: list-things
          description: List things.
          inputParameters:
            - {name: limit, type: integer, required: false, description: Page size.}
            - {name: ratio, type: number, required: false, description: A ratio.}
            - {name: open, type: boolean, required: false, description: Only open ones.}
          call: api.list
          with: {limit: counter.limit, ratio: counter.ratio, open: counter.open}
        - name: make-thing
          description: Make a thing.
          call: api.make
          with: {body: counter.body}
    - type: rest
      namespace: counter-rest
      port: 9998
      resources:
        - path: /things
          operations:
            - method: POST
              name: make
              inputParameters:
                - {name: count, in: body, type: integer, description: How many.}
              call: api.make-counted
              with: {count: counter-rest.count}
"""


class Upstream:
    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(200, json={"ok": True})


def capability(tmp_path: Path) -> Capability:
    path = tmp_path / "capability.yaml"
    path.write_text(CAPABILITY, encoding="utf-8")
    (checked,), diagnostics = check_documents([load_text(CAPABILITY, path)])
    assert not [d for d in diagnostics if str(d.severity) == "error"], [str(d) for d in diagnostics]
    assert checked.capability is not None
    return checked.capability


# ----------------------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(("kind", "text", "expected"), [
    ("integer", "20", 20), ("integer", "-3", -3), ("integer", "0", 0),
    ("number", "2.5", 2.5), ("number", "20", 20), ("number", "-1e3", -1000.0),
    ("boolean", "true", True), ("boolean", "false", False), ("boolean", "TRUE", True),
    (["integer", "null"], "7", 7),
])
def test_unambiguous_strings_become_the_declared_type(kind: Any, text: str, expected: Any) -> None:
    coerce = coercer({"type": "object", "properties": {"x": {"type": kind}}})
    assert coerce is not None
    value = coerce({"x": text})["x"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("kind", "text"), [
    ("integer", "20.5"), ("integer", "20.0"), ("integer", " 20"), ("integer", "1e3"), ("integer", "0x14"),
    ("integer", "+5"), ("integer", "２０"), ("number", "NaN"), ("number", "Infinity"), ("number", "1e999"),
    ("number", ".5"), ("boolean", "yes"), ("boolean", "1"), ("boolean", "on"), ("boolean", ""),
    (["string", "integer"], "20"),
])
def test_anything_else_is_left_for_the_validator(kind: Any, text: str) -> None:
    coerce = coercer({"type": "object", "properties": {"x": {"type": kind}}})
    assert coerce is None or coerce({"x": text})["x"] == text


def test_coercion_follows_properties_and_items_and_leaves_other_values_alone() -> None:
    schema = {"type": "object", "properties": {
        "body": {"type": "object", "properties": {"n": {"type": "integer"}, "tags": {"type": "array",
                                                                                   "items": {"type": "boolean"}}}},
        "name": {"type": "string"},
    }}
    coerce = coercer(schema)
    assert coerce is not None
    args = {"body": {"n": "5", "tags": ["true", "false", "maybe"], "other": "1"}, "name": "42"}
    assert coerce(args) == {"body": {"n": 5, "tags": [True, False, "maybe"], "other": "1"}, "name": "42"}
    assert args["body"]["n"] == "5"  # the caller's value is not changed in place
    assert coercer({"type": "object", "properties": {"name": {"type": "string"}}}) is None


# ---------------------------------------------------------------------------------- the runtime, once


@pytest.mark.anyio
async def test_the_runtime_coerces_before_validating_and_sends_numbers(tmp_path: Path) -> None:
    cap = capability(tmp_path)
    upstream = Upstream()
    tools = {t.name: t for t in cap.tools()}
    async with app.runtime([cap], {}, transports={"api": httpx2.MockTransport(upstream)}) as runtime:
        await runtime.invoke(tools["list-things"], {"limit": "20", "ratio": "0.5", "open": "true"})
        await runtime.invoke(tools["make-thing"], {"body": {"count": "3", "label": "7"}})
        with pytest.raises(InputError) as caught:
            await runtime.invoke(tools["list-things"], {"limit": "20.5", "open": "yes"})
    assert [p["pointer"] for p in caught.value.problems] == ["/limit", "/open"]
    assert len(upstream.requests) == 2  # the refused call sent nothing
    assert dict(upstream.requests[0].url.params) == {"limit": "20", "ratio": "0.5", "open": "true"}
    assert json.loads(upstream.requests[1].content) == {"count": 3, "label": "7"}


@pytest.mark.anyio
async def test_mcp_callers_get_the_same_coercion(tmp_path: Path) -> None:
    cap = capability(tmp_path)
    upstream = Upstream()
    async with app.runtime([cap], {}, transports={"api": httpx2.MockTransport(upstream)}) as runtime:
        (exposure,) = cap.mcp
        server = build_server([(exposure, runtime)], name=exposure.namespace)
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            good = await client.call_tool("make-thing", {"body": {"count": "3"}})
            bad = await client.call_tool("make-thing", {"body": {"count": "three"}})
            missing = await client.call_tool("make-thing", {"body": {"label": "x"}})
    body_schema = tools["make-thing"].input_schema["properties"]["body"]
    assert body_schema["required"] == ["count"] and body_schema["properties"]["count"] == {"type": "integer"}
    assert good.is_error is False
    assert bad.is_error is True and "/body/count" in bad.content[0].text
    assert missing.is_error is True and "count" in missing.content[0].text
    assert [json.loads(r.content) for r in upstream.requests] == [{"count": 3}]


def test_rest_body_fields_get_the_same_coercion(tmp_path: Path) -> None:
    cap = capability(tmp_path)
    upstream = Upstream()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with app.runtime([cap], {}, transports={"api": httpx2.MockTransport(upstream)}) as runtime:
            for exposure in cap.rest:
                rest_app.router.routes.extend(build_rest_routes(exposure, runtime))
            yield

    rest_app = build_rest_app([], lifespan=lifespan)
    with TestClient(rest_app, base_url="http://rest.test") as client:
        good = client.post("/things", json={"count": "4"})
        bad = client.post("/things", json={"count": "4.5"})
    assert good.status_code == 200, good.text
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert [json.loads(r.content) for r in upstream.requests] == [{"count": 4}]


def test_call_passes_json_strings_through_the_same_check() -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["call", HMS, "hms-list-live-streams", "--json", '{"limit": "20"}', "--sandbox"])
    assert good.exit_code == 0, good.stderr
    assert json.loads(good.stdout)["limit"] == 20
    bad = runner.invoke(main, ["call", HMS, "hms-list-live-streams", "limit=20.5", "--sandbox"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["problems"][0]["pointer"] == "/limit"
