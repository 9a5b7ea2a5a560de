"""REST exposure: routes, inputs, modes, problems, forward, inbound auth, /openapi.json, MCP parity."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from conftest import corpus_path
from starlette.applications import Starlette
from starlette.testclient import TestClient

from naftiko_runtime import app
from naftiko_runtime.expose.rest import build_rest_app, build_rest_routes
from naftiko_runtime.load import load_text
from naftiko_runtime.model import Capability, RestExposure, Tool
from naftiko_runtime.runtime import Runtime
from naftiko_runtime.validate import check_documents


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---------------------------------------------------------------------------------------------- fakes


class Upstream:
    """A fake upstream API: records every request (body read) and answers with ``handler``."""

    def __init__(self, handler: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx2.Request] = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        return self.handler(request)

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]


def echo_json(request: httpx2.Request) -> httpx2.Response:
    """Answers with the JSON body it received (the request's typed arguments)."""
    return httpx2.Response(200, json=json.loads(request.content or b"null"))


def capability_from(tmp_path: Path, text: str, name: str = "capability.yaml") -> Capability:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (checked,), diagnostics = check_documents([load_text(text, path)])
    assert not [d for d in diagnostics if str(d.severity) == "error"], [str(d) for d in diagnostics]
    assert checked.capability is not None
    return checked.capability


def corpus_capability(path: Path) -> Capability:
    """A corpus file through the whole pipeline, as ``naftiko serve`` loads it."""
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (capability,) = loaded.capabilities
    return capability


def rest_entries(runtime: Runtime) -> list[tuple[RestExposure, Runtime]]:
    return [(e, runtime) for c in runtime.capabilities for e in c.rest]


def tool_named(capability: Capability, name: str) -> Tool:
    return next(t for t in capability.tools() if t.name == name)


@contextmanager
def serve(capability: Capability, upstreams: Mapping[str, Upstream],
          env: Mapping[str, str] | None = None, started: list[Runtime] | None = None) -> Iterator[TestClient]:
    """A TestClient whose app lifespan starts the Runtime (appended to ``started``), then mounts the
    REST routes."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        transports = {ns: httpx2.MockTransport(u) for ns, u in upstreams.items()}
        async with app.runtime([capability], env or {}, transports=transports) as runtime:
            if started is not None:
                started.append(runtime)
            for exposure, owner in rest_entries(runtime):
                rest_app.router.routes.extend(build_rest_routes(exposure, owner))
            yield

    rest_app = build_rest_app([], lifespan=lifespan)
    with TestClient(rest_app, base_url="http://rest.test") as client:
        yield client


def problem_of(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    return body


# ----------------------------------------------------------------------------------------- capability

THINGS = """\
naftiko: "1.0.0-alpha2"
info:
  label: Things
  description: A capability exercising every REST input source.
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: "http://shop.test/v1"
      resources:
        - name: echo
          path: /echo
          operations:
            - name: echo
              method: POST
              inputParameters:
                - {name: thing-id, in: body}
                - {name: limit, in: body}
                - {name: active, in: body}
                - {name: ratio, in: body}
                - {name: tags, in: body}
                - {name: X-Trace, in: body}
                - {name: session, in: body}
                - {name: note, in: body}
                - {name: filter, in: body}
                - {name: source, in: body}
                - {name: tier, in: body}
        - name: order
          path: "/orders/{{order_id}}"
          operations:
            - name: get-order
              method: GET
              inputParameters:
                - {name: order_id, in: path}
            - name: delete-order
              method: DELETE
              inputParameters:
                - {name: order_id, in: path}
  exposes:
    - type: rest
      port: 8080
      namespace: api
      inputParameters:
        - {name: source, in: query, type: string, description: constant, value: "server"}
        - {name: tier, in: query, type: string, description: constant, value: "server"}
        - {name: limit, in: query, type: string, description: overridden by the operation}
      resources:
        - path: "/things/{{thing-id}}"
          name: things
          inputParameters:
            - {name: tier, in: query, type: string, description: constant, value: "resource"}
          operations:
            - method: POST
              name: inspect
              inputParameters:
                - {name: thing-id, in: path, type: string, description: id, pattern: "^T[0-9]+$"}
                - {name: limit, in: query, type: integer, description: limit}
                - {name: active, in: query, type: boolean, description: flag}
                - {name: ratio, in: query, type: number, description: ratio}
                - {name: tags, in: query, type: array, description: tags}
                - {name: X-Trace, in: header, type: string, description: trace, required: true}
                - {name: session, in: cookie, type: string, description: session}
                - {name: note, in: body, type: string, description: note}
                - {name: filter, in: body, type: object, description: filter, value: "$.meta.filter"}
              call: shop.echo
        - path: "/orders/{order_id}"
          name: orders
          operations:
            - method: GET
              name: get-order
              inputParameters:
                - {name: order_id, in: path, type: integer, description: order number}
              call: shop.get-order
              outputParameters:
                - type: object
                  properties:
                    id: {type: number, mapping: "$.id"}
                    total: {type: number, mapping: "$.amount.total"}
            - method: DELETE
              name: delete-order
              call: shop.delete-order
        - path: "/hello/{{who}}"
          operations:
            - method: GET
              name: hello
              outputParameters:
                - {name: greeting, type: string, value: "Hello {{who}}"}
                - {name: kind, type: string, value: "mock"}
        - path: "/summary/{{order_id}}"
          operations:
            - method: GET
              name: summary
              steps:
                - {type: call, name: fetch, call: shop.get-order, with: {order_id: "{{order_id}}"}}
              mappings:
                - {targetName: order.id, value: "$.fetch.id"}
                - {targetName: order.total, value: "$.fetch.amount.total"}
"""


def order_api(request: httpx2.Request) -> httpx2.Response:
    if request.method == "DELETE":
        return httpx2.Response(204)
    number = request.url.path.rsplit("/", 1)[-1]
    if number == "404":
        return httpx2.Response(404, json={"message": "no such order"})
    return httpx2.Response(200, json={"id": int(number), "amount": {"total": 12.5, "currency": "EUR"}})


@pytest.fixture
def things(tmp_path: Path) -> Capability:
    return capability_from(tmp_path, THINGS)


# --------------------------------------------------------------------------------------------- inputs


def test_inputs_from_path_query_header_cookie_and_body_reach_the_call_with_their_declared_types(
        things: Capability) -> None:
    shop = Upstream(echo_json)
    with serve(things, {"shop": shop}) as client:
        client.cookies.set("session", "s-1")
        response = client.post(
            "/things/T42?limit=5&active=TRUE&ratio=0.5&tags=a,b",
            headers={"x-trace": "tr-9"},
            json={"note": "hi", "meta": {"filter": {"colour": "red"}}},
        )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "thing-id": "T42", "limit": 5, "active": True, "ratio": 0.5, "tags": ["a", "b"], "X-Trace": "tr-9",
        "session": "s-1", "note": "hi", "filter": {"colour": "red"}, "source": "server", "tier": "resource",
    }
    assert shop.last.url.path == "/v1/echo"


def test_repeated_query_values_and_json_text_fill_array_inputs(things: Capability) -> None:
    with serve(things, {"shop": Upstream(echo_json)}) as client:
        repeated = client.post("/things/T1?tags=x&tags=y", headers={"X-Trace": "t"})
        as_json = client.post('/things/T1?tags=["p", "q"]', headers={"X-Trace": "t"})
    assert repeated.json()["tags"] == ["x", "y"]
    assert as_json.json()["tags"] == ["p", "q"]


def test_operation_parameters_override_resource_and_server_ones_by_name(things: Capability) -> None:
    with serve(things, {"shop": Upstream(echo_json)}) as client:
        body = client.post("/things/T1?limit=7&tier=caller", headers={"X-Trace": "t"}).json()
    assert body["limit"] == 7  # integer: the operation's declaration wins over the server's string
    assert body["tier"] == "resource"  # a constant: the resource's value wins, the caller cannot set it
    assert body["source"] == "server"


def test_invalid_inputs_give_one_400_problem_listing_every_problem_and_no_upstream_call(
        things: Capability) -> None:
    shop = Upstream(echo_json)
    with serve(things, {"shop": shop}) as client:
        response = client.post("/things/X1?limit=many&active=maybe&ratio=nan", json={"note": 3})
    body = problem_of(response, 400)
    found = {(e["in"], e["name"]) for e in body["errors"]}
    assert found == {("path", "thing-id"), ("query", "limit"), ("query", "active"), ("query", "ratio"),
                     ("header", "X-Trace"), ("body", "note")}
    assert body["operation"] == "inspect"
    assert body["code"] == "invalid-arguments"
    assert shop.requests == []


@pytest.mark.parametrize("limit", ["9" * 5000, "\u00b2", "\u0663", "1_000", " 7 7", "0x10"])
def test_integer_text_inputs_accept_only_ascii_digits_and_refuse_huge_ones_with_400(
        things: Capability, limit: str) -> None:
    shop = Upstream(echo_json)
    with serve(things, {"shop": shop}) as client:
        response = client.post("/things/T1", params={"limit": limit}, headers={"X-Trace": "t"})
    body = problem_of(response, 400)
    assert [(e["in"], e["name"]) for e in body["errors"]] == [("query", "limit")]
    assert shop.requests == []


@pytest.mark.parametrize("ratio", ["9" * 5000, "\u0663.5", "1_0.5", "infinity", "1e999", ".", "1e"])
def test_number_text_inputs_accept_only_ascii_finite_numbers(things: Capability, ratio: str) -> None:
    with serve(things, {"shop": Upstream(echo_json)}) as client:
        response = client.post("/things/T1", params={"ratio": ratio}, headers={"X-Trace": "t"})
    assert [(e["in"], e["name"]) for e in problem_of(response, 400)["errors"]] == [("query", "ratio")]


def test_number_text_inputs_keep_integers_exact_and_read_decimals_and_exponents(things: Capability) -> None:
    with serve(things, {"shop": Upstream(echo_json)}) as client:
        sent = [client.post("/things/T1", params={"ratio": r}, headers={"X-Trace": "t"}).json()["ratio"]
                for r in ("12345678901234567890", "-0.5", ".5", "2e3")]
    assert sent == [12345678901234567890, -0.5, 0.5, 2000.0]


NUMBERS = """\
naftiko: "1.0.0-alpha2"
info: {label: Numbers, description: Typed JSON body inputs.}
capability:
  exposes:
    - type: rest
      port: 8080
      namespace: numbers
      resources:
        - path: /count
          operations:
            - method: POST
              name: count
              inputParameters:
                - {name: count, in: body, type: integer, description: a count}
                - {name: amount, in: body, type: number, description: an amount}
              outputParameters:
                - {name: seen, type: string, value: "{{count}}/{{amount}}"}
"""


@pytest.mark.parametrize(("text", "status"), [
    ('{"count": 1%s, "amount": 1}' % ("0" * 400), 200),  # too large for a float, still an integer
    ('{"count": 2.0, "amount": 1%s}' % ("0" * 400), 200),
    ('{"count": Infinity, "amount": 1}', 400),
    ('{"count": 1, "amount": NaN}', 400),
    ('{"count": 1, "amount": -Infinity}', 400),
])
def test_json_body_numbers_must_be_finite_and_large_integers_are_not_a_500(
        tmp_path: Path, text: str, status: int) -> None:
    with serve(capability_from(tmp_path, NUMBERS), {}) as client:
        response = client.post("/count", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text


def test_a_body_that_is_not_json_is_a_400_problem(things: Capability) -> None:
    with serve(things, {"shop": Upstream(echo_json)}) as client:
        response = client.post("/things/T1", headers={"X-Trace": "t", "Content-Type": "application/json"},
                               content=b"{not json")
    body = problem_of(response, 400)
    assert [e["in"] for e in body["errors"]] == ["body"]


def test_a_body_or_object_query_value_nested_too_deeply_is_a_400_problem_not_a_500(things: Capability) -> None:
    deep = "[" * 5000 + "]" * 5000  # past Python's recursion limit: json.loads raises RecursionError
    with serve(things, {"shop": Upstream(echo_json)}) as client:
        response = client.post("/things/T1", headers={"X-Trace": "t", "Content-Type": "application/json"},
                               content=deep.encode())
    assert problem_of(response, 400)["errors"][0]["in"] == "body"


def test_form_encoded_bodies_are_read_and_coerced_like_query_values(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, THINGS.replace("{name: note, in: body, type: string",
                                                   "{name: note, in: body, type: integer"))
    with serve(cap, {"shop": Upstream(echo_json)}) as client:
        response = client.post("/things/T1", headers={"X-Trace": "t"}, data={"note": "41"})
    assert response.json()["note"] == 41


# ---------------------------------------------------------------------------------------------- modes


def test_single_brace_path_variable_is_coerced_and_outputs_are_mapped(things: Capability) -> None:
    shop = Upstream(order_api)
    with serve(things, {"shop": shop}) as client:
        response = client.get("/orders/17")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 17, "total": 12.5}
    assert shop.last.url.path == "/v1/orders/17"


def test_mock_operation_answers_200_json_without_any_upstream(things: Capability) -> None:
    with serve(things, {}) as client:
        response = client.get("/hello/Ada")
    assert response.status_code == 200
    assert response.json() == {"greeting": "Hello Ada", "kind": "mock"}


def test_steps_operation_returns_its_mappings(things: Capability) -> None:
    with serve(things, {"shop": Upstream(order_api)}) as client:
        response = client.get("/summary/8")
    assert response.json() == {"order": {"id": 8, "total": 12.5}}


def test_an_empty_upstream_answer_gives_204(things: Capability) -> None:
    shop = Upstream(order_api)
    with serve(things, {"shop": shop}) as client:
        response = client.delete("/orders/5")
    assert response.status_code == 204
    assert response.content == b""
    assert shop.last.method == "DELETE"


def test_a_single_call_route_answers_with_the_upstreams_2xx_status(things: Capability) -> None:
    created = Upstream(lambda r: httpx2.Response(201, json={"received": json.loads(r.content)}))
    with serve(things, {"shop": created}) as client:
        response = client.post("/things/T1", headers={"X-Trace": "t"}, json={"note": "hi"})
        mock = client.get("/hello/Ada")
    assert response.status_code == 201, response.text
    assert response.json()["received"]["note"] == "hi"
    assert mock.status_code == 200  # no upstream call: 200


def test_head_runs_the_get_operation(things: Capability) -> None:
    with serve(things, {"shop": Upstream(order_api)}) as client:
        response = client.head("/orders/3")
    assert response.status_code == 200


# ------------------------------------------------------------------------------------------- problems


def test_upstream_error_status_is_passed_on_as_a_problem(things: Capability) -> None:
    with serve(things, {"shop": Upstream(order_api)}) as client:
        response = client.get("/orders/404")
    body = problem_of(response, 404)
    assert body["code"] == "upstream-error"
    assert body["upstreamStatus"] == 404
    assert body["operation"] == "shop.get-order"  # the consumed operation that failed
    assert "no such order" in body["detail"]


def test_upstream_timeout_is_a_504_problem(things: Capability) -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("too slow", request=request)

    with serve(things, {"shop": Upstream(slow)}) as client:
        body = problem_of(client.get("/orders/1"), 504)
    assert body["code"] == "upstream-timeout"


def test_unreachable_upstream_is_a_502_problem(things: Capability) -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    with serve(things, {"shop": Upstream(down)}) as client:
        body = problem_of(client.get("/orders/1"), 502)
    assert body["code"] == "upstream-unavailable"


def test_unknown_path_is_a_404_problem(things: Capability) -> None:
    with serve(things, {}) as client:
        body = problem_of(client.get("/nowhere"), 404)
    assert body["code"] == "not-found"


def test_unsupported_method_is_a_405_problem_with_allow(things: Capability) -> None:
    with serve(things, {}) as client:
        response = client.put("/orders/1")
    problem_of(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_resources_declaring_the_same_path_share_one_route(tmp_path: Path) -> None:
    extra = (
        '        - path: "/hello/{who}"\n'
        "          operations:\n"
        "            - method: DELETE\n"
        "              name: bye\n"
        "              outputParameters:\n"
        '                - {name: farewell, type: string, value: "Bye {{who}}"}\n'
    )
    text = THINGS.replace('        - path: "/hello/{{who}}"\n', extra + '        - path: "/hello/{{who}}"\n')
    with serve(capability_from(tmp_path, text), {}) as client:
        hello = client.get("/hello/Ada")
        bye = client.delete("/hello/Ada")
        put = client.put("/hello/Ada")
    assert hello.json()["greeting"] == "Hello Ada"
    assert bye.json() == {"farewell": "Bye Ada"}
    assert set(put.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_constant_inputs_render_bind_variables_and_cannot_be_set_by_callers(tmp_path: Path) -> None:
    text = THINGS.replace('description: constant, value: "server"}\n        - {name: tier',
                          'description: constant, value: "{{REGION}}-1"}\n        - {name: tier')
    text += "binds:\n  - namespace: env\n    keys: {REGION: REGION}\n"
    with serve(capability_from(tmp_path, text), {"shop": Upstream(echo_json)}, env={"REGION": "eu"}) as client:
        body = client.post("/things/T1?source=caller", headers={"X-Trace": "t"}).json()
    assert body["source"] == "eu-1"


def test_an_unexpected_failure_is_a_500_problem_without_internals(things: Capability,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail s3cret")

    monkeypatch.setattr(Runtime, "invoke", boom)
    with serve(things, {}) as client:
        body = problem_of(client.get("/hello/Ada"), 500)
    assert body["code"] == "internal-error"
    assert "s3cret" not in json.dumps(body)


def test_starlette_level_405_is_rendered_as_a_problem_with_allow(things: Capability) -> None:
    with serve(things, {}) as client:
        response = client.post("/openapi.json")
    assert problem_of(response, 405)["code"] == "method-not-allowed"
    assert "GET" in response.headers["allow"]


# -------------------------------------------------------------------------------------------- forward

FORWARD = """\
naftiko: "1.0.0-alpha2"
info: {label: Proxy, description: A forwarding proxy.}
capability:
  consumes:
    - type: http
      namespace: backend
      baseUri: "http://backend.test/api"
      authentication: {type: bearer, token: "{{BACKEND_TOKEN}}"}
      inputParameters:
        - {name: X-Api-Version, in: header, value: "2026-01-01"}
      resources:
        - name: unused
          path: /unused
          operations:
            - {name: unused, method: GET}
  exposes:
    - type: rest
      port: 8080
      namespace: proxy
      resources:
        - path: "/proxy/{{path}}"
          forward:
            targetNamespace: backend
            trustedHeaders: [X-Correlation-Id, content-type]
binds:
  - namespace: backend-env
    keys: {BACKEND_TOKEN: BACKEND_TOKEN}
"""


def backend(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(
        201, headers={"X-Backend": "yes", "Content-Type": "text/plain"},
        content=f"{request.method} {request.url.path}?{request.url.query.decode()}|".encode() + request.content,
    )


def test_forward_passes_trusted_headers_path_query_and_body_and_returns_the_upstream_answer(
        tmp_path: Path) -> None:
    cap = capability_from(tmp_path, FORWARD)
    upstream = Upstream(backend)
    with serve(cap, {"backend": upstream}, env={"BACKEND_TOKEN": "tok-1"}) as client:
        response = client.post("/proxy/a/b/c?x=1&y=two%20words",
                               headers={"x-correlation-id": "c-7", "X-Secret": "no", "Content-Type": "text/plain"},
                               content=b"payload")
    assert response.status_code == 201
    assert response.headers["x-backend"] == "yes"
    assert response.text == "POST /api/a/b/c?x=1&y=two%20words|payload"
    sent = upstream.last
    assert sent.headers["x-correlation-id"] == "c-7"
    assert "x-secret" not in sent.headers
    assert sent.headers["authorization"] == "Bearer tok-1"  # the consumer's auth is applied
    assert sent.headers["x-api-version"] == "2026-01-01"


def test_forward_never_passes_on_the_inbound_credentials(tmp_path: Path) -> None:
    text = FORWARD.replace(
        "      namespace: proxy\n",
        "      namespace: proxy\n      authentication: {type: apikey, key: api_key, value: in-key, placement: query}\n")
    upstream = Upstream(backend)
    with serve(capability_from(tmp_path, text), {"backend": upstream}, env={"BACKEND_TOKEN": "tok-1"}) as client:
        denied = client.get("/proxy/a?x=1")
        response = client.get("/proxy/a?x=1&api_key=in-key&y=two%20words&api%5Fkey=in-key&z",
                              headers={"Authorization": "Basic aW46a2V5", "Cookie": "s=1"})
    assert denied.status_code == 401
    assert response.status_code == 201, response.text
    assert response.text == "GET /api/a?x=1&y=two%20words&z|"
    sent = upstream.last
    assert "in-key" not in str(sent.url)
    assert sent.headers["authorization"] == "Bearer tok-1"  # the consumer's own, not the caller's
    assert "cookie" not in sent.headers


def test_forward_upstream_failure_is_a_502_problem(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, FORWARD)

    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    with serve(cap, {"backend": Upstream(down)}, env={"BACKEND_TOKEN": "tok-1"}) as client:
        body = problem_of(client.get("/proxy/x"), 502)
    assert "tok-1" not in json.dumps(body)


def test_a_forward_during_the_drain_is_refused_with_503_before_anything_is_sent(tmp_path: Path) -> None:
    upstream = Upstream(backend)
    started: list[Runtime] = []
    cap = capability_from(tmp_path, FORWARD)
    with serve(cap, {"backend": upstream}, {"BACKEND_TOKEN": "tok-1"}, started) as client:
        assert client.get("/proxy/a").status_code == 201
        started[0].draining = True
        refused = client.get("/proxy/b")
    body = problem_of(refused, 503)
    assert refused.headers["retry-after"] == "1" and "shutting down" in body["detail"]
    assert [r.url.path for r in upstream.requests] == ["/api/a"]


@pytest.mark.anyio
async def test_forward_streams_the_upstream_body_instead_of_buffering_it(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, FORWARD)
    release = anyio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first;"
        await release.wait()  # only after the client has seen the first chunk
        yield b"second"

    async def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=chunks())

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body") == b"first;":
            release.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/proxy/stream", "raw_path": b"/proxy/stream", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"rest.test")], "client": ("127.0.0.1", 1),
             "server": ("rest.test", 80)}
    async with app.runtime([cap], {"BACKEND_TOKEN": "t"},
                           transports={"backend": httpx2.MockTransport(handler)}) as runtime:
        rest_app = build_rest_app(rest_entries(runtime))
        with anyio.fail_after(5):
            await rest_app(scope, receive, send)
    bodies = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
    assert sent[0]["status"] == 200
    assert b"first;" in bodies and b"second" in bodies


# ---------------------------------------------------------------------------------------- inbound auth

SECURED = """\
naftiko: "1.0.0-alpha2"
info: {label: Secured, description: A REST exposure behind a bearer token.}
binds:
  - namespace: api-env
    keys: {API_TOKEN: API_TOKEN}
capability:
  exposes:
    - type: rest
      port: 8080
      namespace: secured
      authentication: {type: bearer, token: "{{API_TOKEN}}"}
      resources:
        - path: /ping
          operations:
            - method: GET
              name: ping
              outputParameters:
                - {name: pong, type: string, value: "yes"}
"""


def test_bearer_protected_exposure_rejects_missing_or_wrong_tokens_and_accepts_the_right_one(
        tmp_path: Path) -> None:
    cap = capability_from(tmp_path, SECURED)
    with serve(cap, {}, env={"API_TOKEN": "s3cret"}) as client:
        missing = client.get("/ping")
        wrong = client.get("/ping", headers={"Authorization": "Bearer nope"})
        right = client.get("/ping", headers={"Authorization": "Bearer s3cret"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert "s3cret" not in missing.text + wrong.text
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert right.json() == {"pong": "yes"}


def test_apikey_and_basic_inbound_auth_share_the_mcp_implementation(tmp_path: Path) -> None:
    apikey = capability_from(tmp_path, SECURED.replace(
        'authentication: {type: bearer, token: "{{API_TOKEN}}"}',
        'authentication: {type: apikey, key: X-Key, value: "{{API_TOKEN}}", placement: header}'), "a.yaml")
    basic = capability_from(tmp_path, SECURED.replace(
        'authentication: {type: bearer, token: "{{API_TOKEN}}"}',
        'authentication: {type: basic, username: ada, password: "{{API_TOKEN}}"}'), "b.yaml")
    with serve(apikey, {}, env={"API_TOKEN": "k1"}) as client:
        assert client.get("/ping").status_code == 401
        assert client.get("/ping", headers={"X-Key": "k1"}).status_code == 200
    credentials = base64.b64encode(b"ada:k1").decode()
    with serve(basic, {}, env={"API_TOKEN": "k1"}) as client:
        assert client.get("/ping").status_code == 401
        assert client.get("/ping", headers={"Authorization": f"Basic {credentials}"}).status_code == 200


def test_oauth2_exposure_serves_protected_resource_metadata_and_demands_a_token(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, SECURED.replace(
        'authentication: {type: bearer, token: "{{API_TOKEN}}"}',
        "authentication: {type: oauth2, authorizationServerUri: 'https://as.test', "
        "resource: 'http://rest.test/api'}"))
    with serve(cap, {}, env={"API_TOKEN": "unused"}) as client:
        metadata = client.get("/.well-known/oauth-protected-resource/api")
        denied = client.get("/ping")
    assert metadata.json()["authorization_servers"] == ["https://as.test"]
    assert denied.status_code == 401
    assert "resource_metadata" in denied.headers["www-authenticate"]


# -------------------------------------------------------------------------------------------- openapi


def test_each_rest_exposure_serves_its_openapi_document(things: Capability) -> None:
    from openapi_spec_validator import validate

    with serve(things, {}) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert set(document["paths"]) == {"/things/{thing-id}", "/orders/{order_id}", "/hello/{who}",
                                      "/summary/{order_id}"}


def test_openapi_json_declares_the_inbound_security_scheme(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, SECURED)
    with serve(cap, {}, env={"API_TOKEN": "s3cret"}) as client:
        document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"] == {"secured-auth": {"type": "http", "scheme": "bearer"}}
    assert "s3cret" not in json.dumps(document)


# --------------------------------------------------------------------------------------------- parity

PARITY = """\
naftiko: "1.0.0-alpha2"
info: {label: Parity, description: The same call over REST and MCP.}
capability:
  consumes:
    - type: http
      namespace: shop
      baseUri: "http://shop.test/v1"
      resources:
        - name: order
          path: "/orders/{{order_id}}"
          operations:
            - name: get-order
              method: GET
              inputParameters:
                - {name: order_id, in: path}
  exposes:
    - type: mcp
      port: 9090
      namespace: tools
      tools:
        - name: get-order
          description: Get an order.
          inputParameters:
            - {name: order_id, type: integer, description: order number}
          call: shop.get-order
          with: {order_id: tools.order_id}
          outputParameters: &out
            - type: object
              properties:
                id: {type: number, mapping: "$.id"}
                total: {type: number, mapping: "$.amount.total"}
                currency: {type: string, mapping: "$.amount.currency"}
    - type: rest
      port: 8080
      namespace: api
      resources:
        - path: "/orders/{{order_id}}"
          operations:
            - method: GET
              name: get-order
              inputParameters:
                - {name: order_id, in: path, type: integer, description: order number}
              call: shop.get-order
              with: {order_id: api.order_id}
              outputParameters: *out
"""


@pytest.mark.anyio
async def test_a_rest_route_and_the_matching_mcp_tool_give_the_same_json(tmp_path: Path) -> None:
    cap = capability_from(tmp_path, PARITY)
    async with app.runtime([cap], {}, transports={"shop": httpx2.MockTransport(order_api)}) as runtime:
        from_mcp = await runtime.invoke(next(cap.tools()), {"order_id": 21})
        rest_app = build_rest_app(rest_entries(runtime))
        transport = httpx2.ASGITransport(app=rest_app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://rest.test") as client:
            response = await client.get("/orders/21")
    assert response.status_code == 200
    assert response.json() == from_mcp == {"id": 21, "total": 12.5, "currency": "EUR"}


# --------------------------------------------------------------------------------------------- corpus

SHIPS = [
    {"imo_number": "IMO-1", "vessel_name": "Aurora", "vessel_type": "cargo", "flag_code": "NO",
     "operational_status": "active", "year_built": 2001, "gross_tonnage": 5000,
     "dimensions": {"length_overall": 120.5}, "assignedCrew": ["C1", "C2"]},
]
CREW = [{"crewId": "C1", "fullName": "Ada L", "role": "captain"},
        {"crewId": "C2", "fullName": "Bo K", "role": "engineer"},
        {"crewId": "C3", "fullName": "Cy Z", "role": "cook"}]
VESSELS_XML = (b"<vessels><vessel><vesselCode>L-1</vesselCode><vesselName>Old</vesselName>"
               b"<category>cargo</category><flagState>GB</flagState><operationalStatus>active</operationalStatus>"
               b"</vessel><vessel><vesselCode>L-2</vesselCode><vesselName>Iron</vesselName><category>bulk</category>"
               b"<flagState>PA</flagState><operationalStatus>laid_up</operationalStatus></vessel></vessels>")


def registry(request: httpx2.Request) -> httpx2.Response:
    path = request.url.path.split("/1.0.0-alpha2", 1)[-1]
    if path == "/ships":
        return httpx2.Response(200, json=SHIPS)
    if path.startswith("/ships/"):
        ship = next((s for s in SHIPS if s["imo_number"] == path.rsplit("/", 1)[-1]), None)
        return httpx2.Response(200, json=ship) if ship else httpx2.Response(404, json={"error": "unknown ship"})
    if path == "/crew":
        return httpx2.Response(200, json=CREW)
    if path == "/voyages" and request.method == "POST":
        return httpx2.Response(201, json={**json.loads(request.content), "voyageId": "V-1", "status": "planned"})
    return httpx2.Response(404, json={"error": "no route"})


def legacy(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, content=VESSELS_XML, headers={"Content-Type": "application/xml"})


@pytest.fixture
def shipyard(tmp_path: Path) -> Capability:
    """Corpus 05 with its shared files (its registry import is the step-11 file under its step-7 name)."""
    source = corpus_path("naftiko", "capabilities")
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in ("secrets.yaml", "legacy-consumes.yaml"):
        shutil.copy(source / "shared" / name, shared / name)
    shutil.copy(source / "shared" / "step11-registry-consumes.yml", shared / "step7-registry-consumes.yml")
    target = tmp_path / "05.yml"
    shutil.copy(source / "05-step-10-shipyard-rest-adapter.yml", target)
    return corpus_capability(target)


def test_corpus_05_rest_adapter_serves_ships_crew_legacy_vessels_and_voyages(shipyard: Capability) -> None:
    reg, old = Upstream(registry), Upstream(legacy)
    with serve(shipyard, {"registry": reg, "legacy": old}) as client:
        ships = client.get("/ships?status=active")
        ship = client.get("/ships/IMO-1")
        crew = client.get("/ships/IMO-1/crew")
        vessels = client.get("/legacy/vessels")
        voyage = client.post("/voyages", json={"shipImo": "IMO-1", "departurePort": "Oslo", "arrivalPort": "Rio",
                                               "departureDate": "2026-01-01", "arrivalDate": "2026-02-01",
                                               "crewIds": ["C1"], "cargoIds": []})
        missing = client.get("/ships/IMO-404")
    assert ships.json() == [{"imo": "IMO-1", "name": "Aurora", "type": "cargo", "flag": "NO", "status": "active"}]
    assert "status=active" in str(reg.requests[0].url)
    assert ship.json()["specs"] == {"yearBuilt": 2001, "tonnage": 5000, "length": 120.5}
    assert crew.json()["crew"] == [{"fullName": "Ada L", "role": "captain"}, {"fullName": "Bo K", "role": "engineer"}]
    assert vessels.json()[1] == {"vesselCode": "L-2", "name": "Iron", "type": "bulk", "flag": "PA",
                                 "status": "laid_up"}
    assert old.last.headers["x-dock-key"] == "dummy-dockyard-key"
    assert voyage.status_code == 201  # a single-call route answers with the upstream's 2xx status
    assert voyage.json()["route"] == {"from": "Oslo", "to": "Rio"}
    assert voyage.json()["voyageId"] == "V-1"
    assert problem_of(missing, 404)["upstreamStatus"] == 404


@pytest.mark.anyio
async def test_corpus_05_ref_route_matches_its_mcp_tool(shipyard: Capability) -> None:
    transports = {"registry": httpx2.MockTransport(registry), "legacy": httpx2.MockTransport(legacy)}
    async with app.runtime([shipyard], {}, transports=transports) as runtime:
        from_mcp = await runtime.invoke(tool_named(shipyard, "get-ship-with-crew"), {"imo": "IMO-1"})
        rest_app = build_rest_app(rest_entries(runtime))
        transport = httpx2.ASGITransport(app=rest_app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://rest.test") as client:
            from_rest = (await client.get("/ships/IMO-1/crew")).json()
    assert from_rest == from_mcp
    assert from_rest["name"] == "Aurora"


def test_corpus_07_xml_route_maps_users(tmp_path: Path) -> None:
    cap = corpus_capability(corpus_path("naftiko", "capabilities", "07-xml-capability.yaml"))
    users = corpus_path("naftiko", "fixtures", "sample-users.xml").read_bytes()
    upstream = Upstream(lambda r: httpx2.Response(200, content=users, headers={"Content-Type": "application/xml"}))
    with serve(cap, {"mock-xml": upstream}) as client:
        response = client.get("/xml/users")
    assert response.status_code == 200
    assert upstream.last.url.path == "/api/users"
    assert upstream.last.headers["user-agent"] == "Naftiko/1.0.0-alpha2"
    # The fixture maps `$.root.user` while the XML root is dropped (spec notes 4.9): nothing maps, so the
    # upstream's own body passes through with its media type, as in the reference engine.
    assert response.headers["content-type"].startswith("application/xml")
    assert response.content == users


def test_corpus_10_body_jsonpath_input_feeds_the_consumed_query(tmp_path: Path) -> None:
    cap = corpus_capability(corpus_path("naftiko", "capabilities", "10-http-header-query-capability.yaml"))
    upstream = Upstream(lambda r: httpx2.Response(200, json={"items": [1, 2]}))
    with serve(cap, {"testns": upstream}) as client:
        response = client.post("/search", json={"user": {"id": "u-77"}})
    assert response.json() == {"items": [1, 2]}
    sent = upstream.last
    assert sent.method == "POST"
    assert sent.url.params["q"] == "u-77"
    assert sent.headers["x-api-key"] == "ABC123"


def test_corpus_11_forward_sends_consumes_headers_and_keeps_the_query(tmp_path: Path) -> None:
    cap = corpus_capability(corpus_path("naftiko", "capabilities", "11-http-forward-value-capability.yaml"))
    upstream = Upstream(lambda r: httpx2.Response(200, json={"ok": True}))
    with serve(cap, {"external": upstream}) as client:
        response = client.get("/forward/users/42?expand=1", headers={"X-Other": "dropped"})
    assert response.json() == {"ok": True}
    sent = upstream.last
    assert sent.url.path == "/v1/users/42"
    assert sent.url.params["expand"] == "1"
    assert sent.headers["x-api-version"] == "2026-03-03"
    assert "x-other" not in sent.headers


def test_corpus_12_forward_applies_basic_auth_and_only_trusted_headers(tmp_path: Path) -> None:
    cap = corpus_capability(corpus_path("naftiko", "capabilities", "12-register-basic-forward.yml"))
    upstream = Upstream(lambda r: httpx2.Response(200, json={"object": "user"}, headers={"X-Notion": "1"}))
    with serve(cap, {"notion": upstream}) as client:
        response = client.get("/notion/users/me", headers={"notion-version": "2022-06-28", "Cookie": "a=b"})
    assert response.json() == {"object": "user"}
    assert response.headers["x-notion"] == "1"
    sent = upstream.last
    assert sent.url.path == "/rest/Notion+API/1.0.0/users/me"
    assert sent.headers["notion-version"] == "2022-06-28"
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"scott:tiger").decode()
    assert "cookie" not in sent.headers
