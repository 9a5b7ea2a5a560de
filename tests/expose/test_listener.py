"""One listener serving MCP and REST exposures together: Host/Origin checks, the /mcp union and its
authentication, RFC 9728 metadata paths, one /openapi.json for every REST exposure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from naftiko_runtime import app
from naftiko_runtime.expose.listeners import Listener, build_listeners
from naftiko_runtime.expose.serve import announce
from naftiko_runtime.load import load_text
from naftiko_runtime.model import Capability
from naftiko_runtime.validate import check_documents

TOKENS = {"TOKEN_A": "token-a", "TOKEN_B": "token-b"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def mcp_exposure(namespace: str, auth: str = "") -> str:
    return f"""
    - type: mcp
      port: 9100
      namespace: {namespace}
      {auth}
      tools:
        - name: {namespace}-ping
          description: Answers pong.
          outputParameters:
            - {{name: answer, type: string, value: pong}}
"""


def rest_exposure(namespace: str, path: str, auth: str = "") -> str:
    return f"""
    - type: rest
      port: 9100
      namespace: {namespace}
      {auth}
      resources:
        - path: {path}
          operations:
            - method: GET
              name: {namespace}-get
              outputParameters:
                - {{name: answer, type: string, value: "{namespace}"}}
"""


def capability(
    tmp_path: Path, *exposures: str, name: str = "capability.yaml", binds: str = "{TOKEN_A: TOKEN_A, TOKEN_B: TOKEN_B}"
) -> Capability:
    text = f"""\
naftiko: "1.0.0-alpha2"
info: {{label: {name}, description: Listener tests.}}
binds:
  - namespace: env
    keys: {binds}
capability:
  exposes:{"".join(exposures)}"""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (checked,), diagnostics = check_documents([load_text(text, path)])
    assert not [d for d in diagnostics if str(d.severity) == "error"], [str(d) for d in diagnostics]
    assert checked.capability is not None
    return checked.capability


@asynccontextmanager
async def listening(*capabilities: Capability, **options: Any) -> AsyncIterator[tuple[Listener, httpx2.AsyncClient]]:
    async with app.runtime(capabilities, TOKENS) as runtime:
        (listener,) = build_listeners(runtime, **options)
        transport = httpx2.ASGITransport(app=listener.app)
        base_url = "http://127.0.0.1:9100"
        async with listener.lifespan(), httpx2.AsyncClient(transport=transport, base_url=base_url) as http:
            yield listener, http


async def initialize(http: httpx2.AsyncClient, path: str, token: str | None = None) -> int:
    headers = {**MCP_HEADERS, **({"authorization": f"Bearer {token}"} if token else {})}
    return (await http.post(path, json=INIT, headers=headers)).status_code


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def bearer(variable: str) -> str:
    return f'authentication: {{type: bearer, token: "{{{{{variable}}}}}"}}'


def oauth2(resource: str, issuer: str = "https://as.test") -> str:
    return f"authentication: {{type: oauth2, authorizationServerUri: '{issuer}', resource: '{resource}'}}"


# ------------------------------------------------------------------------------------- Host / Origin


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/things", "/openapi.json", "/.well-known/oauth-protected-resource", "/nowhere"])
async def test_foreign_host_and_origin_are_refused_on_every_route_not_only_mcp(tmp_path: Path, path: str) -> None:
    cap = capability(tmp_path, rest_exposure("api", "/things", oauth2("http://127.0.0.1:9100/things")))
    async with listening(cap) as (_, http):
        rebound = await http.get(path, headers={"host": "evil.example.com"})
        cross_site = await http.get(path, headers={"origin": "http://evil.example.com"})
        local = await http.get(path, headers={"origin": "http://localhost:5173"})
    assert rebound.status_code == 421
    assert cross_site.status_code == 403
    assert rebound.headers["content-type"].startswith("application/problem+json")
    assert local.status_code not in (403, 421)


@pytest.mark.anyio
async def test_mcp_and_rest_share_one_host_check_that_extra_allowed_hosts_extend(tmp_path: Path) -> None:
    cap = capability(tmp_path, mcp_exposure("tools"), rest_exposure("api", "/things"))
    async with listening(cap, allowed_hosts=["api.example.com"]) as (_, http):
        allowed = [
            (await http.get("/things", headers={"host": "api.example.com"})).status_code,
            (await http.post("/mcp", json=INIT, headers={**MCP_HEADERS, "host": "api.example.com"})).status_code,
        ]
        refused = [
            (await http.get("/things", headers={"host": "other.example.com"})).status_code,
            (await http.post("/mcp", json=INIT, headers={**MCP_HEADERS, "host": "other.example.com"})).status_code,
            (await http.get("/things", headers={"host": "localhost:evil"})).status_code,
        ]
    assert allowed == [200, 200]
    assert refused == [421, 421, 421]


@pytest.mark.anyio
async def test_a_star_allowed_host_turns_the_check_off(tmp_path: Path) -> None:
    cap = capability(tmp_path, rest_exposure("api", "/things"))
    async with listening(cap, allowed_hosts=["*"]) as (_, http):
        response = await http.get("/things", headers={"host": "proxy.internal", "origin": "https://app.example"})
    assert response.status_code == 200


# ----------------------------------------------------------------------------------- the /mcp union


@pytest.mark.anyio
async def test_exposures_with_different_credentials_get_no_union_and_a_warning(tmp_path: Path) -> None:
    cap = capability(tmp_path, mcp_exposure("alpha", bearer("TOKEN_A")), mcp_exposure("beta", bearer("TOKEN_B")))
    async with listening(cap) as (listener, http):
        union = await initialize(http, "/mcp", "token-a")
        alpha = await initialize(http, "/mcp/alpha", "token-a")
        beta = await initialize(http, "/mcp/beta", "token-b")
        crossed = await initialize(http, "/mcp/beta", "token-a")
    assert [path for _, _, path in listener.endpoints] == ["/mcp/alpha", "/mcp/beta"]
    assert (union, alpha, beta, crossed) == (404, 200, 200, 401)
    lines: list[str] = []
    announce(lambda text, data: lines.append(text), [listener], [])
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert "alpha, beta" in warning and "different authentication" in warning and "/mcp/<namespace>" in warning
    assert "token-a" not in "".join(lines)


@pytest.mark.anyio
async def test_exposures_of_one_capability_with_one_authentication_keep_the_union(tmp_path: Path) -> None:
    cap = capability(tmp_path, mcp_exposure("alpha", bearer("TOKEN_A")), mcp_exposure("beta", bearer("TOKEN_A")))
    async with listening(cap) as (listener, http):
        union = await initialize(http, "/mcp", "token-a")
        denied = await initialize(http, "/mcp", "token-b")
    assert listener.endpoints[0] == ("MCP", "(all)", "/mcp")
    assert listener.warnings == []
    assert (union, denied) == (200, 401)


@pytest.mark.anyio
async def test_a_same_spec_bound_to_different_values_is_different_authentication(tmp_path: Path) -> None:
    first = capability(tmp_path, mcp_exposure("alpha", bearer("TOKEN_A")), name="a.yaml")
    # the same `authentication` text, but b.yaml's TOKEN_A comes from the TOKEN_B environment variable
    second = capability(tmp_path, mcp_exposure("beta", bearer("TOKEN_A")), name="b.yaml", binds="{TOKEN_A: TOKEN_B}")
    async with listening(first, second) as (listener, http):
        assert await initialize(http, "/mcp/beta", "token-b") == 200
    assert "/mcp" not in [path for _, _, path in listener.endpoints]
    assert listener.warnings


@pytest.mark.anyio
async def test_an_exposure_without_authentication_joins_the_union_behind_the_others_credential(
    tmp_path: Path,
) -> None:
    cap = capability(tmp_path, mcp_exposure("alpha", bearer("TOKEN_A")), mcp_exposure("beta"))
    async with listening(cap) as (listener, http):
        union = await initialize(http, "/mcp", "token-a")
        denied = await initialize(http, "/mcp")
        open_beta = await initialize(http, "/mcp/beta")
    assert listener.endpoints[0] == ("MCP", "(all)", "/mcp")
    assert listener.warnings == []
    assert (union, denied, open_beta) == (200, 401, 200)


@pytest.mark.anyio
async def test_exposures_without_authentication_keep_the_union(tmp_path: Path) -> None:
    cap = capability(tmp_path, mcp_exposure("alpha"), mcp_exposure("beta"))
    async with listening(cap) as (listener, http):
        assert await initialize(http, "/mcp") == 200
    assert listener.warnings == []


# ---------------------------------------------------------------------------------- RFC 9728 metadata


@pytest.mark.anyio
async def test_each_oauth2_exposure_has_its_metadata_at_its_own_path_and_the_bare_path_is_not_guessed(
    tmp_path: Path,
) -> None:
    cap = capability(
        tmp_path,
        mcp_exposure("alpha", oauth2("https://mcp.example/alpha", "https://as-a.test")),
        mcp_exposure("beta", oauth2("https://mcp.example/beta", "https://as-b.test")),
    )
    async with listening(cap) as (_, http):
        alpha = await http.get("/.well-known/oauth-protected-resource/mcp/alpha")
        beta = await http.get("/.well-known/oauth-protected-resource/mcp/beta")
        by_resource = await http.get("/.well-known/oauth-protected-resource/beta")
        bare = await http.get("/.well-known/oauth-protected-resource")
        denied = await http.post("/mcp/beta", json=INIT, headers=MCP_HEADERS)
    assert alpha.json()["authorization_servers"] == ["https://as-a.test"]
    assert beta.json()["resource"] == "https://mcp.example/beta"
    assert by_resource.json() == beta.json()
    assert bare.status_code == 404
    # the challenge names a metadata URL that is served
    assert (
        'resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/beta"'
        in (denied.headers["www-authenticate"])
    )


@pytest.mark.anyio
async def test_a_single_oauth2_exposure_also_answers_at_mcp_and_the_bare_path(tmp_path: Path) -> None:
    cap = capability(tmp_path, mcp_exposure("alpha", oauth2("https://mcp.example/mcp")))
    async with listening(cap) as (listener, http):
        paths = ["/.well-known/oauth-protected-resource" + p for p in ("", "/mcp", "/mcp/alpha")]
        answers = [(await http.get(p)).json()["resource"] for p in paths]
    assert answers == ["https://mcp.example/mcp"] * 3
    assert listener.warnings == []


# ----------------------------------------------------------------------------------------- OpenAPI


@pytest.mark.anyio
async def test_one_openapi_document_describes_every_rest_exposure_on_the_listener(tmp_path: Path) -> None:
    first = capability(tmp_path, rest_exposure("api", "/things", bearer("TOKEN_A")), name="a.yaml")
    second = capability(tmp_path, rest_exposure("admin", "/admin/things"), name="b.yaml")
    async with listening(first, second) as (_, http):
        document = (await http.get("/openapi.json")).json()
        things = (await http.get("/things", headers={"authorization": "Bearer token-a"})).json()
        admin = (await http.get("/admin/things")).json()
    assert set(document["paths"]) == {"/things", "/admin/things"}
    assert document["paths"]["/things"]["get"]["security"] == [{"api-auth": []}]
    assert "security" not in document["paths"]["/admin/things"]["get"]
    assert "security" not in document
    assert document["components"]["securitySchemes"] == {"api-auth": {"type": "http", "scheme": "bearer"}}
    assert (things, admin) == ({"answer": "api"}, {"answer": "admin"})
