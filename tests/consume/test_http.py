"""HttpConsumer: URLs and parameters, responses and errors, timeouts, retries, forward, redaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest

from naftiko_runtime import __version__
from naftiko_runtime.consume import HttpConsumer, UpstreamResponse
from naftiko_runtime.errors import (
    DecodeError,
    InputError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from naftiko_runtime.secrets import Secret

pytestmark = pytest.mark.anyio


class Sleeps:
    """An injected sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# ------------------------------------------------------------------------------------ URL and path


def test_url_is_base_uri_plus_resource_path_with_both_placeholder_styles(kit: Any) -> None:
    op = kit.op("/ships/{imo}/voyages/{{voyage}}")
    request = HttpConsumer(kit.consumer(op)).build_request(op, {"imo": "IMO-1", "voyage": 7})
    assert str(request.url) == "https://api.example.com/v1/ships/IMO-1/voyages/7"


def test_a_path_without_leading_slash_still_gets_one_separator(kit: Any) -> None:
    op = kit.op("users/me")
    request = HttpConsumer(kit.consumer(op, base="http://h:8080/rest/Notion+API/1.0.0")).build_request(op, {})
    assert str(request.url) == "http://h:8080/rest/Notion+API/1.0.0/users/me"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("../admin", "..%2Fadmin"),
        ("...", "..."),
        ("a/b", "a%2Fb"),
        ("x?admin=1", "x%3Fadmin%3D1"),
        ("x#frag", "x%23frag"),
        ("%2F..%2F", "%252F..%252F"),
        ("@evil.com", "%40evil.com"),
        ("a b", "a%20b"),
    ],
)
def test_path_values_are_percent_encoded_so_they_stay_in_one_segment(kit: Any, value: str, encoded: str) -> None:
    op = kit.op("/files/{name}/meta")
    request = HttpConsumer(kit.consumer(op)).build_request(op, {"name": value})
    assert request.url.host == "api.example.com"
    assert request.url.raw_path == f"/v1/files/{encoded}/meta".encode()
    assert request.url.query == b""
    assert request.url.fragment == ""


async def test_path_encoding_survives_the_trip_to_the_upstream(kit: Any, upstream: Any) -> None:
    op = kit.op("/files/{name}")
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        await consumer.call(op, {"name": "../../etc/passwd?x=1#y"})
    assert upstream.last.url.raw_path == b"/v1/files/..%2F..%2Fetc%2Fpasswd%3Fx%3D1%23y"
    assert upstream.last.url.host == "api.example.com"


async def test_a_missing_path_value_is_an_input_error_before_any_network_call(kit: Any, upstream: Any) -> None:
    op = kit.op("/rooms/{room_id}/streams/{{stream}}", params=[{"name": "room_id", "in": "path"}])
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(InputError) as caught:
            await consumer.call(op, {"room_id": ""})
    assert [p["pointer"] for p in caught.value.problems] == ["/room_id", "/stream"]
    assert caught.value.operation == "api.op"
    assert upstream.requests == []


def test_base_uri_override_replaces_the_consumer_base(kit: Any) -> None:
    op = kit.op("/live-streams")
    consumer = HttpConsumer(kit.consumer(op), base_uri="http://127.0.0.1:8080/v2")
    assert str(consumer.build_request(op, {}).url) == "http://127.0.0.1:8080/v2/live-streams"


# ------------------------------------------------------------------------------------ parameters


def test_query_parameters_are_encoded_and_non_strings_use_json_text(kit: Any) -> None:
    params = [{"name": "q", "in": "query"}, {"name": "all", "in": "query"}, {"name": "n", "in": "query"},
              {"name": "opt", "in": "query"}]
    op = kit.op(params=params)
    request = HttpConsumer(kit.consumer(op)).build_request(op, {"q": "a b&c", "all": True, "n": 3})
    assert request.url.query == b"q=a+b%26c&all=true&n=3"


def test_header_cookie_and_environment_parameters_are_applied(kit: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NAFTIKO_TEST_REGION", "eu-west")
    params = [
        {"name": "X-Trace", "in": "header", "value": "t-{{id}}"},
        {"name": "X-Dry-Run", "in": "header"},
        {"name": "session", "in": "cookie"},
        {"name": "theme", "in": "cookie", "value": "dark; admin=1"},
        {"name": "NAFTIKO_TEST_REGION", "in": "environment"},
        {"name": "region", "in": "query", "value": "{{NAFTIKO_TEST_REGION}}"},
    ]
    op = kit.op(params=params)
    request = HttpConsumer(kit.consumer(op)).build_request(op, {"id": 9, "X-Dry-Run": False, "session": "s1"})
    assert request.headers["x-trace"] == "t-9"
    assert request.headers["x-dry-run"] == "false"
    assert request.headers["cookie"] == "session=s1; theme=dark%3B%20admin=1"
    assert request.url.params["region"] == "eu-west"
    assert "NAFTIKO_TEST_REGION" not in request.headers


def test_later_levels_win_by_name_and_location(kit: Any) -> None:
    consumer_params = [{"name": "X-Version", "in": "header", "value": "1"},
                       {"name": "X-Client", "in": "header", "value": "naftiko"}]
    resource_params = [{"name": "X-Version", "in": "header", "value": "2"},
                       {"name": "X-Version", "in": "query", "value": "q"}]
    op = kit.op(resource_params=resource_params, params=[{"name": "X-Version", "in": "header", "value": "3"}])
    model = kit.consumer(op, params=consumer_params)
    request = HttpConsumer(model).build_request(model.operations["op"], {})
    assert request.headers.get_list("x-version") == ["3"]
    assert request.headers["x-client"] == "naftiko"
    assert request.url.params["X-Version"] == "q"


def test_optional_parameters_without_a_value_are_not_sent(kit: Any) -> None:
    params = [{"name": "status", "in": "query"}, {"name": "page", "in": "query", "value": "{{page}}"},
              {"name": "X-Tag", "in": "header"}]
    op = kit.op(params=params)
    request = HttpConsumer(kit.consumer(op)).build_request(op, {"status": None})
    assert request.url.query == b""
    assert "x-tag" not in request.headers


def test_parameter_values_see_bind_variables_and_bind_values_win_over_arguments(kit: Any) -> None:
    params = [{"name": "Registry-Version", "in": "header", "value": "{{REGISTRY_VERSION}}"},
              {"name": "org", "in": "query", "value": "{{env.ORG}}"}]
    op = kit.op(params=params)
    variables = {"REGISTRY_VERSION": Secret("2024-01"), "env.ORG": Secret("acme"), "ORG": Secret("acme")}
    consumer = HttpConsumer(kit.consumer(op), variables=variables)
    request = consumer.build_request(op, {"REGISTRY_VERSION": "attacker"})
    assert request.headers["registry-version"] == "2024-01"
    assert request.url.params["org"] == "acme"


def test_header_values_with_line_breaks_are_rejected(kit: Any) -> None:
    op = kit.op(params=[{"name": "X-Note", "in": "header"}])
    with pytest.raises(InputError) as caught:
        HttpConsumer(kit.consumer(op)).build_request(op, {"X-Note": "a\r\nX-Admin: 1"})
    assert caught.value.problems[0]["pointer"] == "/X-Note"


def test_user_agent_and_accept_follow_the_version_and_output_format(kit: Any) -> None:
    json_op, csv_op = kit.op(name="a"), kit.op(name="b", fmt="csv")
    consumer = HttpConsumer(kit.consumer(json_op, csv_op))
    assert consumer.build_request(json_op, {}).headers["user-agent"] == f"naftiko/{__version__}"
    assert consumer.build_request(json_op, {}).headers["accept"] == "application/json"
    assert consumer.build_request(csv_op, {}).headers["accept"] == "text/csv"


# ------------------------------------------------------------------------------------ responses


async def test_call_decodes_json_and_send_reports_the_raw_response(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(200, json={"ships": [{"imo": "1"}]})
    op = kit.op()
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        assert await consumer.call(op, {}) == {"ships": [{"imo": "1"}]}
        sent = await consumer.send(op, {})
    assert isinstance(sent, UpstreamResponse)
    assert (sent.status, sent.content_type) == (200, "application/json")
    assert sent.content == b'{"ships":[{"imo":"1"}]}'
    assert sent.elapsed_ms >= 0


async def test_call_converts_other_formats_and_empty_bodies_become_none(kit: Any, upstream: Any) -> None:
    csv_op, empty_op = kit.op("/csv", fmt="csv", name="csv"), kit.op("/empty", name="empty")

    def respond(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/csv"):
            return httpx2.Response(200, text="id,name\n1,Ann\n", headers={"content-type": "text/csv"})
        return httpx2.Response(204)

    upstream.respond = respond
    async with HttpConsumer(kit.consumer(csv_op, empty_op), transport=upstream.transport) as consumer:
        assert await consumer.call(csv_op, {}) == [{"id": "1", "name": "Ann"}]
        assert await consumer.call(empty_op, {}) is None


async def test_an_undecodable_body_is_a_decode_error_naming_the_operation(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(200, text="{not json")
    op = kit.op()
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(DecodeError) as caught:
            await consumer.call(op, {})
    assert caught.value.operation == "api.op"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "room not found"}, "room not found"),
        ({"error": {"message": "quota exceeded", "code": 7}}, "quota exceeded"),
        ({"error": "invalid_request"}, "invalid_request"),
        ({"error": "invalid_client", "error_description": "bad secret"}, "invalid_client: bad secret"),
        ({"detail": "Not allowed", "title": "Forbidden"}, "Not allowed"),
        ({"title": "Conflict"}, "Conflict"),
        ({"errors": [{"message": "name is required"}, {"message": "x"}]}, "name is required"),
        ({"message": "invalid input", "details": ["name too long"]}, "invalid input (name too long)"),
    ],
)
async def test_upstream_errors_carry_status_operation_and_the_upstreams_message(
    kit: Any, upstream: Any, body: Any, expected: str
) -> None:
    upstream.respond = lambda r: httpx2.Response(404, json=body)
    op = kit.op()
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    error = caught.value
    assert (error.status, error.operation, error.upstream_message) == (404, "api.op", expected)
    assert error.body == body
    assert "api.op" in str(error) and "404" in str(error)


async def test_a_text_error_body_gives_its_first_200_characters(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(500, text="<html>  Internal\n error " + "x" * 500)
    op = kit.op()
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert caught.value.upstream_message.startswith("<html> Internal error xxx")
    assert len(caught.value.upstream_message) == 200
    assert caught.value.body is None


async def test_an_empty_error_body_falls_back_to_the_reason_phrase(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(503)
    op = kit.op()
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert caught.value.upstream_message == "Service Unavailable"


async def test_redirects_are_not_followed(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(302, headers={"location": "https://elsewhere.example/"})
    op = kit.op()
    async with HttpConsumer(kit.consumer(op), transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert caught.value.status == 302
    assert len(upstream.requests) == 1


async def test_calls_share_one_pooled_client_and_a_closed_consumer_refuses_calls(kit: Any, upstream: Any) -> None:
    op = kit.op()
    consumer = HttpConsumer(kit.consumer(op), transport=upstream.transport)
    with pytest.raises(RuntimeError):
        await consumer.call(op, {})
    await consumer.start()
    client = consumer._client
    await consumer.start()
    await consumer.call(op, {})
    await consumer.call(op, {})
    assert consumer._client is client
    await consumer.aclose()
    assert client is not None and client.is_closed


# ------------------------------------------------------------------------------------ timeouts


@pytest.mark.timeout(10)
async def test_the_total_deadline_turns_a_hanging_upstream_into_a_timeout(kit: Any, upstream: Any) -> None:
    never = anyio.Event()

    async def hang(request: httpx2.Request) -> httpx2.Response:
        await never.wait()
        return httpx2.Response(200)

    upstream.respond = hang
    op = kit.op(name="slow")
    consumer = HttpConsumer(kit.consumer(op, timeout={"total": 0.05}), transport=upstream.transport)
    async with consumer:
        with pytest.raises(UpstreamTimeout) as caught:
            await consumer.call(op, {})
    assert caught.value.operation == "api.slow"
    assert "api.slow" in caught.value.message and "0.05 s" in caught.value.message


async def test_transport_timeouts_name_the_limit_that_was_hit(kit: Any, upstream: Any) -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectTimeout("timed out", request=request)

    upstream.respond = fail
    op = kit.op()
    consumer = HttpConsumer(kit.consumer(op, timeout={"connect": 2}), transport=upstream.transport)
    async with consumer:
        with pytest.raises(UpstreamTimeout) as caught:
            await consumer.call(op, {})
    assert "connect time limit of 2 s" in caught.value.message


def test_timeouts_default_to_connect_5_total_30_and_can_be_tightened(kit: Any) -> None:
    default = HttpConsumer(kit.consumer()).timeouts
    assert (default.connect, default.read, default.total) == (5.0, 30.0, 30.0)
    tight = HttpConsumer(kit.consumer(timeout={"connect": 1, "read": 4, "total": 3})).timeouts
    assert (tight.connect, tight.read, tight.total) == (1.0, 3.0, 3.0)


async def test_a_connection_failure_is_upstream_unavailable_naming_the_host(kit: Any, upstream: Any) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    upstream.respond = refuse
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, base="http://10.0.0.1:8080/api"),
                            transport=upstream.transport) as consumer:
        with pytest.raises(UpstreamUnavailable) as caught:
            await consumer.call(op, {})
    assert caught.value.message == "could not reach 10.0.0.1:8080: connection refused (ConnectError)"
    assert caught.value.operation == "api.op"


# ------------------------------------------------------------------------------------ retries


def flaky(statuses: list[int], headers: dict[str, str] | None = None) -> Any:
    remaining = list(statuses)

    def respond(request: httpx2.Request) -> httpx2.Response:
        status = remaining.pop(0) if remaining else 200
        return httpx2.Response(status, json={"status": status}, headers=headers if status != 200 else None)

    return respond


async def test_non_idempotent_requests_are_never_retried(kit: Any, upstream: Any) -> None:
    upstream.respond = flaky([503])
    op = kit.op(method="POST")
    consumer = HttpConsumer(kit.consumer(op, retry={"attempts": 3}), transport=upstream.transport, sleep=Sleeps())
    async with consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert caught.value.status == 503
    assert len(upstream.requests) == 1


async def test_retries_stop_after_the_configured_attempts(kit: Any, upstream: Any) -> None:
    upstream.respond = flaky([500, 500, 500])
    op = kit.op()
    retry = {"attempts": 2, "backoff": 1, "statuses": [500]}
    consumer = HttpConsumer(kit.consumer(op, retry=retry), transport=upstream.transport, sleep=Sleeps())
    async with consumer:
        with pytest.raises(UpstreamError):
            await consumer.call(op, {})
    assert len(upstream.requests) == 2


async def test_connection_errors_are_retried_for_idempotent_requests(kit: Any, upstream: Any) -> None:
    failures = [True, False]

    def respond(request: httpx2.Request) -> httpx2.Response:
        if failures.pop(0):
            raise httpx2.ConnectError("reset", request=request)
        return httpx2.Response(200, json=[1])

    upstream.respond = respond
    op = kit.op(method="PUT")
    consumer = HttpConsumer(kit.consumer(op, retry={"attempts": 2}), transport=upstream.transport, sleep=Sleeps())
    async with consumer:
        assert await consumer.call(op, {}) == [1]


# ------------------------------------------------------------------------------------ redaction


async def test_an_upstream_echoing_the_token_shows_stars_in_the_error(kit: Any, upstream: Any) -> None:
    token = "tok-3f9a7c1e55"
    upstream.respond = lambda r: httpx2.Response(
        401, json={"message": f"token {r.headers['authorization'][7:]} is expired", "token": token}
    )
    op = kit.op()
    consumer = HttpConsumer(kit.consumer(op, auth={"type": "bearer", "token": "{{env.HMS_TOKEN}}"}),
                            variables={"env.HMS_TOKEN": Secret(token), "HMS_TOKEN": Secret(token)},
                            transport=upstream.transport)
    async with consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert upstream.last.headers["authorization"] == f"Bearer {token}"
    assert token not in str(caught.value)
    assert caught.value.upstream_message == "token *** is expired"
    assert caught.value.body == {"message": "token *** is expired", "token": "***"}


async def test_query_api_keys_never_reach_logs_or_errors(kit: Any, upstream: Any, caplog: Any) -> None:
    key = "k3y/with space"

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(f"failed for {request.url}", request=request)

    op = kit.op()
    auth = {"type": "apikey", "key": "api_key", "value": "{{KEY}}", "placement": "query"}
    caplog.set_level(logging.DEBUG, logger="naftiko.consume")
    caplog.set_level(logging.INFO, logger="httpx2")
    async with HttpConsumer(kit.consumer(op, auth=auth), variables={"KEY": Secret(key)},
                            transport=upstream.transport) as consumer:
        await consumer.call(op, {})
        upstream.respond = refuse
        with pytest.raises(UpstreamUnavailable) as caught:
            await consumer.call(op, {})
    assert upstream.requests[0].url.params["api_key"] == key
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "api_key=***" in logged
    assert any(r.name == "httpx2" for r in caplog.records)  # the client's own request log is redacted too
    for form in (key, "k3y%2Fwith+space", "k3y%2Fwith%20space"):
        assert form not in logged
        assert form not in str(caught.value)


# ------------------------------------------------------------------------------------ forward


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_forward_encodes_each_segment_keeps_the_query_and_applies_consumer_auth_and_params(
    kit: Any, upstream: Any
) -> None:
    upstream.respond = lambda r: httpx2.Response(
        201, content=b"created", headers={"x-upstream": "1", "connection": "close, x-hop", "x-hop": "a",
                                          "keep-alive": "timeout=5"})
    consumer_model = kit.consumer(
        base="https://api.example.com/rest/Notion+API/1.0.0",
        auth={"type": "basic", "username": "scott", "password": "{{PW}}"},
        params=[{"name": "X-API-Version", "in": "header", "value": "2026-03-03"},
                {"name": "tenant", "in": "query", "value": "t1"}],
    )
    consumer = HttpConsumer(consumer_model, variables={"PW": Secret("tiger")}, transport=upstream.transport)
    async with consumer:
        status, headers, stream, close = await consumer.forward(
            "post", "pages/a b/x%2Fy", query="filter=a%2Fb&x=1",
            headers={"Notion-Version": "2022", "Host": "proxy.local", "Connection": "keep-alive",
                     "Content-Length": "999", "X-API-Version": "spoofed"},
            body=chunks(b'{"a":', b"1}"),
        )
        received = b"".join([chunk async for chunk in stream])
        await close()
    sent = upstream.last
    assert sent.url.raw_path == b"/rest/Notion+API/1.0.0/pages/a%20b/x%252Fy?filter=a%2Fb&x=1&tenant=t1"
    assert sent.headers["host"] == "api.example.com"
    assert sent.headers["notion-version"] == "2022"
    assert sent.headers.get_list("x-api-version") == ["2026-03-03"]
    assert sent.headers["authorization"] == "Basic c2NvdHQ6dGlnZXI="
    assert sent.content == b'{"a":1}'
    assert status == 201 and received == b"created"
    names = {k.lower() for k, _ in headers}
    assert "x-upstream" in names
    assert not names & {"connection", "keep-alive", "x-hop", "transfer-encoding"}


async def test_forward_passes_upstream_errors_through_untouched(kit: Any, upstream: Any) -> None:
    upstream.respond = lambda r: httpx2.Response(404, json={"message": "nope"})
    async with HttpConsumer(kit.consumer(), transport=upstream.transport) as consumer:
        status, _, stream, close = await consumer.forward("GET", "x", query="", headers={}, body=None)
        assert status == 404
        assert b"".join([c async for c in stream]) == b'{"message":"nope"}'
        await close()
    assert upstream.last.headers["user-agent"] == f"naftiko/{__version__}"
