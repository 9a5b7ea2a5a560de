"""Inbound authentication shared by MCP and REST exposures."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from naftiko_runtime.errors import AuthConfigError
from naftiko_runtime.expose.auth import AuthMiddleware, InboundAuth
from naftiko_runtime.expose.oauth2 import OAuth2ResourceServer
from naftiko_runtime.load import load_text
from naftiko_runtime.model import Auth, build
from naftiko_runtime.secrets import Secret

SECRET = "correct-horse-battery"
VARIABLES = {"API_TOKEN": Secret(SECRET), "env.API_TOKEN": Secret(SECRET), "USER": Secret("ada")}
ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
HMAC_SECRET = "a-shared-secret-long-enough-for-hs256"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def request(headers: dict[str, str] | None = None, query: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": "/mcp", "headers": raw, "query_string": query.encode()})


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# ------------------------------------------------------------------------------- static schemes


@pytest.mark.anyio
async def test_bearer_accepts_the_rendered_token_and_rejects_others_without_echoing_secrets() -> None:
    auth = InboundAuth.from_spec({"type": "bearer", "token": "{{API_TOKEN}}"}, VARIABLES)
    assert auth is not None
    assert await auth.check(request({"Authorization": f"Bearer {SECRET}"})) is None
    assert await auth.check(request({"authorization": f"bearer {SECRET}"})) is None
    missing = await auth.check(request())
    wrong = await auth.check(request({"Authorization": "Bearer guess"}))
    other_scheme = await auth.check(request({"Authorization": f"Basic {SECRET}"}))
    for denied in (missing, wrong, other_scheme):
        assert denied is not None and denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer realm=")
        assert SECRET.encode() not in denied.body and b"guess" not in denied.body
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert "error=" not in missing.headers["www-authenticate"]


@pytest.mark.anyio
async def test_bearer_value_is_an_alias_of_token_and_qualified_names_resolve() -> None:
    auth = InboundAuth.from_spec({"type": "bearer", "value": "{{env.API_TOKEN}}"}, VARIABLES)
    assert auth is not None
    assert await auth.check(request({"Authorization": f"Bearer {SECRET}"})) is None


@pytest.mark.anyio
@pytest.mark.parametrize("placement", ["header", None])
async def test_apikey_in_a_header_compares_the_value(placement: str | None) -> None:
    spec = {"type": "apikey", "key": "X-API-Key", "value": "{{API_TOKEN}}", "placement": placement}
    auth = InboundAuth.from_spec(spec, VARIABLES)
    assert auth is not None
    assert await auth.check(request({"x-api-key": SECRET})) is None
    denied = await auth.check(request({"X-API-Key": "nope"}))
    assert denied is not None and denied.status_code == 401
    assert (await auth.check(request(query=f"X-API-Key={SECRET}"))) is not None


@pytest.mark.anyio
async def test_apikey_in_the_query_compares_the_parameter() -> None:
    auth = InboundAuth.from_spec(
        {"type": "apikey", "key": "api_key", "value": "{{API_TOKEN}}", "placement": "query"}, VARIABLES
    )
    assert auth is not None
    assert await auth.check(request(query=f"api_key={SECRET}")) is None
    assert (await auth.check(request(query="api_key=x"))).status_code == 401
    assert (await auth.check(request({"api_key": SECRET}))).status_code == 401


@pytest.mark.anyio
async def test_basic_needs_both_username_and_password() -> None:
    auth = InboundAuth.from_spec({"type": "basic", "username": "{{USER}}", "password": "{{API_TOKEN}}"}, VARIABLES)
    assert auth is not None
    assert await auth.check(request(basic("ada", SECRET))) is None
    for headers in (
        basic("ada", "wrong"),
        basic("eve", SECRET),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {},
    ):
        denied = await auth.check(request(headers))
        assert denied is not None and denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize(
    "spec, names",
    [
        ({"type": "bearer", "token": "{{MISSING_VAR}}"}, ["MISSING_VAR"]),
        ({"type": "bearer"}, ["token"]),
        ({"type": "basic", "username": "ada", "password": ""}, ["password"]),
        ({"type": "apikey", "key": "k", "value": "v", "placement": "cookie"}, ["placement"]),
        ({"type": "digest", "username": "a", "password": "b"}, ["digest"]),
        (
            {
                "type": "oauth2",
                "authorizationServerUri": ISSUER,
                "resource": RESOURCE,
                "tokenValidation": "introspection",
            },
            ["introspection"],
        ),
    ],
)
def test_unenforceable_specs_refuse_to_start_naming_fields_not_values(spec: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(AuthConfigError) as caught:
        InboundAuth.from_spec(spec, VARIABLES)
    for name in names:
        assert name in str(caught.value)
    assert SECRET not in str(caught.value)


def test_no_spec_means_no_checker() -> None:
    assert InboundAuth.from_spec(None, VARIABLES) is None
    assert InboundAuth.from_spec({}, VARIABLES) is None
    assert InboundAuth.from_model(None, VARIABLES) is None


def exposure_auth(authentication: str) -> Auth:
    """An MCP exposure's ``authentication`` as the model builder reads it."""
    text = f"""\
naftiko: "1.0.0-alpha2"
capability:
  exposes:
    - type: mcp
      namespace: guarded
      port: 9100
      authentication: {authentication}
      tools: []
"""
    (exposure,) = build(load_text(text, Path("/auth/capability.yaml"))).exposures
    assert exposure.authentication is not None
    return exposure.authentication


@pytest.mark.anyio
async def test_the_model_authentication_gives_the_same_checker_as_the_spec() -> None:
    for text, spec in [
        ('{type: bearer, token: "{{API_TOKEN}}"}', {"type": "bearer", "token": "{{API_TOKEN}}"}),
        ('{type: Bearer, value: "{{env.API_TOKEN}}"}', {"type": "bearer", "value": "{{env.API_TOKEN}}"}),
        ('{type: apikey, key: api_key, value: "{{API_TOKEN}}", placement: query}',
         {"type": "apikey", "key": "api_key", "value": "{{API_TOKEN}}", "placement": "query"}),
        ('{type: basic, username: "{{USER}}", password: "{{API_TOKEN}}"}',
         {"type": "basic", "username": "{{USER}}", "password": "{{API_TOKEN}}"}),
    ]:
        from_model = InboundAuth.from_model(exposure_auth(text), VARIABLES)
        from_spec = InboundAuth.from_spec(spec, VARIABLES)
        assert from_model is not None and from_spec is not None
        assert from_model.identity() == from_spec.identity(), text
    with pytest.raises(AuthConfigError, match="MISSING_VAR"):
        InboundAuth.from_model(exposure_auth('{type: bearer, token: "{{MISSING_VAR}}"}'), VARIABLES)


def test_identities_are_equal_exactly_when_checkers_accept_the_same_credentials() -> None:
    def identity(spec: dict[str, Any], variables: dict[str, Any] | None = None) -> tuple[Any, ...]:
        auth = InboundAuth.from_spec(spec, variables or {})
        assert auth is not None
        return auth.identity()

    bearer = {"type": "bearer", "token": "{{T}}"}
    assert identity(bearer, {"T": "a"}) == identity({"type": "bearer", "value": "a"})
    assert identity(bearer, {"T": "a"}) != identity(bearer, {"T": "b"})  # same spec, other binds
    assert identity({"type": "apikey", "key": "X-Key", "value": "a"}) == identity(
        {"type": "apikey", "key": "x-key", "value": "a", "placement": "header"})
    assert identity({"type": "apikey", "key": "k", "value": "a", "placement": "query"}) != identity(
        {"type": "apikey", "key": "k", "value": "a"})


def test_only_a_query_api_key_names_query_parameters_carrying_the_credential() -> None:
    query = InboundAuth.from_spec({"type": "apikey", "key": "api_key", "value": "v", "placement": "query"}, {})
    header = InboundAuth.from_spec({"type": "apikey", "key": "X-Key", "value": "v"}, {})
    bearer = InboundAuth.from_spec({"type": "bearer", "token": "t"}, {})
    assert query is not None and header is not None and bearer is not None
    assert query.query_parameters() == ("api_key",)
    assert header.query_parameters() == bearer.query_parameters() == ()


@pytest.mark.anyio
async def test_middleware_guards_http_requests_of_the_wrapped_app() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    auth = InboundAuth.from_spec({"type": "bearer", "token": "t1"}, {})
    assert auth is not None
    app = AuthMiddleware(Starlette(routes=[Route("/", hello)]), auth)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/")).status_code == 401
        assert (await client.get("/", headers={"Authorization": "Bearer t1"})).text == "hello"


# ----------------------------------------------------------------------------------------- OAuth2


class AuthorizationServer:
    """Discovery + JWKS over an httpx2.MockTransport, counting fetches."""

    def __init__(self, *, oidc_only: bool = False, down: bool = False) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.keys = {"rsa-1": self.rsa}
        self.oidc_only = oidc_only
        self.down = down
        self.fetches: list[str] = []

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(
                jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())
                if isinstance(key, rsa.RSAPrivateKey)
                else jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())
            )
            keys.append({**jwk, "kid": kid, "use": "sig"})
        keys.append({"kty": "oct", "kid": "shared", "k": base64.urlsafe_b64encode(HMAC_SECRET.encode()).decode()})
        return {"keys": keys}

    def __call__(self, req: httpx2.Request) -> httpx2.Response:
        self.fetches.append(req.url.path)
        if self.down:
            raise httpx2.ConnectError("refused", request=req)
        if req.url.path == "/.well-known/oauth-authorization-server" and not self.oidc_only:
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"})
        if req.url.path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/oidc/keys"})
        if req.url.path in ("/keys", "/oidc/keys"):
            return httpx2.Response(200, json=self.jwks())
        return httpx2.Response(404)

    def token(self, *, kid: str = "rsa-1", algorithm: str = "RS256", key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": RESOURCE,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "scope": "mcp:read mcp:write",
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, key if key is not None else self.keys[kid], algorithm=algorithm, headers={"kid": kid}
        )


@pytest.fixture(scope="module")
def authorization_server() -> AuthorizationServer:
    return AuthorizationServer()


def resource_server(server: AuthorizationServer, **spec: Any) -> OAuth2ResourceServer:
    full = {
        "type": "oauth2",
        "authorizationServerUri": ISSUER + "/",
        "resource": RESOURCE,
        "scopes": ["mcp:read"],
        **spec,
    }
    auth = InboundAuth.from_spec(full, VARIABLES, lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(server)))
    assert isinstance(auth, OAuth2ResourceServer)
    return auth


def bearer(token: str) -> Request:
    return request({"Authorization": f"Bearer {token}"})


@pytest.mark.anyio
async def test_oauth2_accepts_a_valid_token_and_caches_the_key_set(authorization_server: AuthorizationServer) -> None:
    authorization_server.fetches.clear()
    auth = resource_server(authorization_server)
    for _ in range(3):
        req = bearer(authorization_server.token())
        assert await auth.check(req) is None
    assert req.scope["naftiko.auth"]["sub"] == "user-1"
    assert authorization_server.fetches == ["/.well-known/oauth-authorization-server", "/keys"]


@pytest.mark.anyio
async def test_oauth2_missing_token_gets_a_challenge_pointing_at_the_metadata(
    authorization_server: AuthorizationServer,
) -> None:
    denied = await resource_server(authorization_server).check(request())
    assert denied is not None and denied.status_code == 401
    challenge = denied.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"' in challenge


@pytest.mark.anyio
@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"iss": "https://evil.example.com"}, "another authorization server"),
        ({"aud": "https://other.example.com"}, "not meant for this resource"),
        ({"exp": None}, "'exp'"),
    ],
)
async def test_oauth2_rejects_tokens_failing_time_issuer_or_audience_checks(
    authorization_server: AuthorizationServer, claims: dict[str, Any], reason: str
) -> None:
    denied = await resource_server(authorization_server).check(bearer(authorization_server.token(**claims)))
    assert denied is not None and denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["www-authenticate"]
    assert reason in json.loads(denied.body)["detail"]


@pytest.mark.anyio
async def test_oauth2_audience_overrides_resource_and_issuer_trailing_slash_is_ignored(
    authorization_server: AuthorizationServer,
) -> None:
    auth = resource_server(authorization_server, audience="api://naftiko")
    assert await auth.check(bearer(authorization_server.token(aud="api://naftiko", iss=ISSUER + "/"))) is None
    assert (await auth.check(bearer(authorization_server.token()))).status_code == 401


@pytest.mark.anyio
async def test_oauth2_missing_scope_is_403_insufficient_scope(authorization_server: AuthorizationServer) -> None:
    auth = resource_server(authorization_server, scopes=["mcp:read", "mcp:admin"])
    denied = await auth.check(bearer(authorization_server.token()))
    assert denied is not None and denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert 'scope="mcp:read mcp:admin"' in denied.headers["www-authenticate"]
    assert await auth.check(bearer(authorization_server.token(scope=None, scp=["mcp:read", "mcp:admin"]))) is None


@pytest.mark.anyio
async def test_oauth2_refuses_symmetric_and_foreign_signatures(authorization_server: AuthorizationServer) -> None:
    auth = resource_server(authorization_server)
    hmac_token = jwt.encode(
        {"iss": ISSUER, "aud": RESOURCE, "exp": int(time.time()) + 60},
        HMAC_SECRET,
        algorithm="HS256",
        headers={"kid": "shared"},
    )
    forged = authorization_server.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    for token in (hmac_token, forged, "not.a.jwt"):
        denied = await auth.check(bearer(token))
        assert denied is not None and denied.status_code == 401


@pytest.mark.anyio
async def test_oauth2_unknown_kid_refetches_the_key_set_once_within_the_floor() -> None:
    server = AuthorizationServer()
    auth = resource_server(server)
    assert await auth.check(bearer(server.token())) is None
    server.keys["ec-2"] = server.ec
    rotated = server.token(kid="ec-2", algorithm="ES256")
    denied = await auth.check(bearer(rotated))  # within the refresh floor: no refetch yet
    assert denied is not None and denied.status_code == 401
    assert server.fetches.count("/keys") == 1
    auth._attempted_at = auth._fetched_at = -1000.0  # the floor has passed
    assert await auth.check(bearer(rotated)) is None
    assert server.fetches.count("/keys") == 2


@pytest.mark.anyio
async def test_oauth2_discovery_falls_back_to_openid_configuration() -> None:
    server = AuthorizationServer(oidc_only=True)
    assert await resource_server(server).check(bearer(server.token())) is None
    assert server.fetches == [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/oidc/keys",
    ]


@pytest.mark.anyio
async def test_oauth2_unreachable_authorization_server_is_503_not_401() -> None:
    server = AuthorizationServer(down=True)
    auth = resource_server(server)
    for _ in range(2):  # the second request, within the refresh floor, does not refetch
        denied = await auth.check(bearer(server.token()))
        assert denied is not None and denied.status_code == 503
    assert len(server.fetches) == 2  # both discovery documents tried, once


@pytest.mark.anyio
async def test_oauth2_serves_rfc9728_protected_resource_metadata(authorization_server: AuthorizationServer) -> None:
    auth = resource_server(authorization_server)
    app = Starlette(routes=auth.routes())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as client:
        with_path = await client.get("/.well-known/oauth-protected-resource/mcp")
        root = await client.get("/.well-known/oauth-protected-resource")
    assert (
        with_path.json()
        == root.json()
        == {
            "resource": RESOURCE,
            "authorization_servers": [ISSUER + "/"],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:read"],
        }
    )
