"""Documents the server fetches for itself (OAuth2 metadata, JWKS): bounded, no redirects."""

from __future__ import annotations

import httpx2
import pytest

from naftiko_runtime.consume.documents import DocumentUnavailable, get_json

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client(handler: object) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler), follow_redirects=False)  # type: ignore[arg-type]


async def test_a_json_document_is_read() -> None:
    async with client(lambda r: httpx2.Response(200, json={"keys": []})) as c:
        assert await get_json(c, "https://as.example/jwks") == {"keys": []}


async def test_a_document_over_the_limit_is_refused_without_reading_it_all() -> None:
    sent: list[int] = []

    async def endless():  # type: ignore[no-untyped-def]
        while True:
            sent.append(1)
            yield b"x" * 65536

    async with client(lambda r: httpx2.Response(200, content=endless())) as c:
        with pytest.raises(DocumentUnavailable):
            await get_json(c, "https://as.example/jwks", limit=256 * 1024)
    assert len(sent) <= 6  # stopped just past the limit, not at the end of an endless body


@pytest.mark.parametrize("response", [httpx2.Response(302, headers={"location": "https://evil.example/"}),
                                      httpx2.Response(500), httpx2.Response(200, content=b"not json")])
async def test_redirects_errors_and_non_json_are_unavailable(response: httpx2.Response) -> None:
    async with client(lambda r: response) as c:
        with pytest.raises(DocumentUnavailable):
            await get_json(c, "https://as.example/.well-known/oauth-authorization-server")
