"""Outbound authentication: what each kind puts on the wire, digest handshakes and OAuth2 tokens."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs
from urllib.request import parse_http_list

import anyio
import httpx2
import pytest

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.consume.auth import renew_margin
from naftiko_runtime.errors import UpstreamError
from naftiko_runtime.secrets import Secret

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://auth.example.com/oauth/token"


async def call_with(kit: Any, upstream: Any, auth: dict[str, Any], variables: dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> httpx2.Request:
    op = kit.op()
    async with HttpConsumer(kit.consumer(op, auth=auth), variables=variables or {},
                            transport=upstream.transport) as consumer:
        await consumer.call(op, params or {})
    return upstream.last


# ------------------------------------------------------------------------------------ static kinds


@pytest.mark.parametrize("field", ["token", "value"])
async def test_bearer_sends_the_rendered_token_from_token_or_its_value_alias(
    kit: Any, upstream: Any, field: str
) -> None:
    auth = {"type": "bearer", field: "{{env.HMS_MANAGEMENT_TOKEN}}", "placement": "header"}
    request = await call_with(kit, upstream, auth, {"env.HMS_MANAGEMENT_TOKEN": Secret("mgmt-token-1")})
    assert request.headers["authorization"] == "Bearer mgmt-token-1"


async def test_bearer_fields_may_use_call_parameters(kit: Any, upstream: Any) -> None:
    request = await call_with(kit, upstream, {"type": "bearer", "token": "{{REGISTRY_TOKEN}}-{{tenant}}"},
                              {"REGISTRY_TOKEN": Secret("abc")}, {"tenant": "t9"})
    assert request.headers["authorization"] == "Bearer abc-t9"


async def test_basic_sends_base64_of_username_and_password(kit: Any, upstream: Any) -> None:
    request = await call_with(kit, upstream, {"type": "basic", "username": "scott", "password": "{{PW}}"},
                              {"PW": Secret("tiger")})
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"scott:tiger").decode()


async def test_apikey_goes_in_a_header_by_default(kit: Any, upstream: Any) -> None:
    request = await call_with(kit, upstream, {"type": "apikey", "key": "X-API-Key", "value": "{{K}}"},
                              {"K": Secret("key-123")})
    assert request.headers["x-api-key"] == "key-123"
    assert request.url.query == b""


async def test_apikey_in_the_query_is_url_encoded(kit: Any, upstream: Any) -> None:
    auth = {"type": "apikey", "key": "appid", "value": "{{K}}", "placement": "query"}
    request = await call_with(kit, upstream, auth, {"K": Secret("a b/c&d")})
    assert request.url.query == b"appid=a+b%2Fc%26d"
    assert request.url.params["appid"] == "a b/c&d"
    assert "x-api-key" not in request.headers


async def test_inbound_only_oauth2_on_a_consumer_sends_no_credentials(kit: Any, upstream: Any) -> None:
    auth = {"type": "oauth2", "authorizationServerUri": "https://as.example.com", "resource": "https://r"}
    request = await call_with(kit, upstream, auth)
    assert "authorization" not in request.headers
    assert len(upstream.requests) == 1


# ------------------------------------------------------------------------------------ digest


def digest_fields(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    assert scheme == "Digest"
    pairs = (item.split("=", 1) for item in parse_http_list(rest))
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


async def test_digest_answers_the_servers_challenge_with_a_valid_response(kit: Any, upstream: Any) -> None:
    realm, nonce, password = "shipyard", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "s3cr3t"
    verified: list[bool] = []

    def respond(request: httpx2.Request) -> httpx2.Response:
        header = request.headers.get("authorization")
        if header is None:
            challenge = f'Digest realm="{realm}", qop="auth", nonce="{nonce}", opaque="5ccc069c"'
            return httpx2.Response(401, headers={"www-authenticate": challenge})
        f = digest_fields(header)
        ha1 = md5(f"{f['username']}:{realm}:{password}")
        ha2 = md5(f"{request.method}:{f['uri']}")
        expected = md5(f"{ha1}:{f['nonce']}:{f['nc']}:{f['cnonce']}:{f['qop']}:{ha2}")
        verified.append(f["response"] == expected and f["opaque"] == "5ccc069c" and f["username"] == "ann")
        return httpx2.Response(200 if verified[-1] else 403, json={"ok": verified[-1]})

    upstream.respond = respond
    request = await call_with(kit, upstream, {"type": "digest", "username": "ann", "password": "{{PW}}"},
                              {"PW": Secret(password)})
    assert verified == [True]
    assert len(upstream.requests) == 2
    assert digest_fields(request.headers["authorization"])["uri"] == "/v1/items"


async def test_digest_reuses_the_last_challenge_so_later_calls_need_one_round_trip(
    kit: Any, upstream: Any
) -> None:
    def respond(request: httpx2.Request) -> httpx2.Response:
        if "authorization" not in request.headers:
            return httpx2.Response(401, headers={"www-authenticate": 'Digest realm="r", qop="auth", nonce="n1"'})
        return httpx2.Response(200, json={})

    upstream.respond = respond
    op = kit.op()
    auth = {"type": "digest", "username": "ann", "password": "pw-123"}
    async with HttpConsumer(kit.consumer(op, auth=auth), transport=upstream.transport) as consumer:
        await consumer.call(op, {})
        await consumer.call(op, {})
    assert len(upstream.requests) == 3


# ------------------------------------------------------------------------------------ OAuth2


class AuthServer:
    """A token endpoint plus an API that accepts only the tokens listed in ``valid``."""

    def __init__(self, *, expires_in: Any = 3600, valid: set[str] | None = None) -> None:
        self.token_requests: list[httpx2.Request] = []
        self.api_requests: list[httpx2.Request] = []
        self.api_tokens: list[str] = []  # as received: a resent request is the same object, mutated
        self.expires_in = expires_in
        self.valid = valid
        self.release: anyio.Event | None = None

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if str(request.url) == TOKEN_URL:
            self.token_requests.append(request)
            if self.release is not None:
                await self.release.wait()
            body: dict[str, Any] = {"access_token": f"tok-{len(self.token_requests)}", "token_type": "Bearer"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            return httpx2.Response(200, json=body)
        self.api_requests.append(request)
        token = request.headers.get("authorization", "")[len("Bearer "):]
        self.api_tokens.append(token)
        if self.valid is not None and token not in self.valid:
            return httpx2.Response(401, json={"message": f"token {token} rejected"})
        return httpx2.Response(200, json={"token": token})


OAUTH = {"type": "oauth2", "tokenEndpoint": TOKEN_URL, "clientId": "{{CLIENT_ID}}",
         "clientSecret": "{{CLIENT_SECRET}}", "scopes": ["read", "write"], "audience": "https://api.example.com"}
CREDENTIALS = {"CLIENT_ID": Secret("client-1"), "CLIENT_SECRET": Secret("s3cret-value")}


def oauth_consumer(kit: Any, upstream: Any, server: AuthServer, clock: Any = None) -> tuple[Any, Any]:
    upstream.respond = server
    op = kit.op()
    extra = {"clock": clock} if clock else {}
    consumer = HttpConsumer(kit.consumer(op, auth=OAUTH), variables=CREDENTIALS, transport=upstream.transport,
                            **extra)
    return consumer, op


async def test_oauth2_posts_client_credentials_with_basic_client_auth(kit: Any, upstream: Any) -> None:
    server = AuthServer()
    consumer, op = oauth_consumer(kit, upstream, server)
    async with consumer:
        assert await consumer.call(op, {}) == {"token": "tok-1"}
    (token_request,) = server.token_requests
    assert token_request.method == "POST"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"client-1:s3cret-value").decode()
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"], "scope": ["read write"], "audience": ["https://api.example.com"],
    }
    assert server.api_tokens == ["tok-1"]


async def test_oauth2_token_is_cached_across_calls(kit: Any, upstream: Any) -> None:
    server = AuthServer()
    consumer, op = oauth_consumer(kit, upstream, server)
    async with consumer:
        for _ in range(3):
            await consumer.call(op, {})
    assert len(server.token_requests) == 1
    assert len(server.api_requests) == 3


@pytest.mark.timeout(10)
async def test_twenty_concurrent_calls_share_one_token_request(kit: Any, upstream: Any) -> None:
    server = AuthServer()
    server.release = anyio.Event()
    consumer, op = oauth_consumer(kit, upstream, server)
    results: list[Any] = []

    async def one() -> None:
        results.append(await consumer.call(op, {}))

    async with consumer, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        server.release.set()
    assert len(server.token_requests) == 1
    assert results == [{"token": "tok-1"}] * 20


async def test_oauth2_renews_the_token_shortly_before_it_expires(kit: Any, upstream: Any) -> None:
    now = [1000.0]
    server = AuthServer(expires_in=100)  # renewal margin: min(60, 10) = 10 s
    consumer, op = oauth_consumer(kit, upstream, server, clock=lambda: now[0])
    async with consumer:
        await consumer.call(op, {})
        now[0] += 89
        assert await consumer.call(op, {}) == {"token": "tok-1"}
        now[0] += 2
        assert await consumer.call(op, {}) == {"token": "tok-2"}
    assert len(server.token_requests) == 2


def test_renewal_margin_is_the_smaller_of_60_seconds_and_a_tenth_of_the_lifetime() -> None:
    assert renew_margin(3600) == 60
    assert renew_margin(300) == 30


async def test_a_401_fetches_a_new_token_once_and_retries_once(kit: Any, upstream: Any) -> None:
    server = AuthServer(valid={"tok-2"})
    consumer, op = oauth_consumer(kit, upstream, server)
    async with consumer:
        assert await consumer.call(op, {}) == {"token": "tok-2"}
        assert await consumer.call(op, {}) == {"token": "tok-2"}
    assert len(server.token_requests) == 2
    assert server.api_tokens == ["tok-1", "tok-2", "tok-2"]


async def test_a_second_401_is_reported_without_more_retries_and_without_the_token(
    kit: Any, upstream: Any
) -> None:
    server = AuthServer(valid=set())
    consumer, op = oauth_consumer(kit, upstream, server)
    async with consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    assert caught.value.status == 401
    assert len(server.token_requests) == 2 and len(server.api_requests) == 2
    assert "tok-2" not in str(caught.value)
    assert caught.value.upstream_message == "token *** rejected"


async def test_a_token_without_expiry_is_kept_until_the_api_refuses_it(kit: Any, upstream: Any) -> None:
    now = [0.0]
    server = AuthServer(expires_in=None)
    consumer, op = oauth_consumer(kit, upstream, server, clock=lambda: now[0])
    async with consumer:
        await consumer.call(op, {})
        now[0] += 1e6
        await consumer.call(op, {})
    assert len(server.token_requests) == 1


async def test_a_refused_token_request_is_an_upstream_error_without_the_client_secret(
    kit: Any, upstream: Any
) -> None:
    def respond(request: httpx2.Request) -> httpx2.Response:
        body = {"error": "invalid_client", "error_description": "secret s3cret-value is wrong"}
        return httpx2.Response(400, json=body)

    upstream.respond = respond
    op = kit.op(name="list")
    consumer = HttpConsumer(kit.consumer(op, auth=OAUTH), variables=CREDENTIALS, transport=upstream.transport)
    async with consumer:
        with pytest.raises(UpstreamError) as caught:
            await consumer.call(op, {})
    error = caught.value
    assert (error.status, error.operation) == (400, "api.list")
    assert "invalid_client" in error.upstream_message
    assert "s3cret-value" not in str(error)
    assert len(upstream.requests) == 1  # only the token request: the API was never called


async def test_forward_with_oauth2_buffers_a_streamed_body_so_a_401_retry_can_resend_it(
    kit: Any, upstream: Any
) -> None:
    server = AuthServer(valid={"tok-2"})
    bodies: list[bytes] = []

    async def respond(request: httpx2.Request) -> httpx2.Response:
        if str(request.url) != TOKEN_URL:
            bodies.append(request.content)
        return await server(request)

    upstream.respond = respond

    async def chunks() -> Any:
        yield b"part-1,"
        yield b"part-2"

    consumer = HttpConsumer(kit.consumer(auth=OAUTH), variables=CREDENTIALS, transport=upstream.transport)
    async with consumer:
        status, _, stream, close = await consumer.forward("POST", "items", query="", headers={}, body=chunks())
        assert b"".join([c async for c in stream]) == b'{"token":"tok-2"}'
        await close()
    assert status == 200
    assert bodies == [b"part-1,part-2", b"part-1,part-2"]
