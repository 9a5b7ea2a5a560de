"""HTTP caching of GET answers: freshness, revalidation, never across credentials or callers, bounded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.errors import UpstreamError
from naftiko_runtime.telemetry import CallContext, Telemetry

from .hostile import Clock, consumer, mock

pytestmark = pytest.mark.anyio

OPERATIONS = [
    {"name": "get", "method": "GET", "inputParameters": [{"name": "q", "in": "query"}]},
    {"name": "post", "method": "POST"},
    {"name": "fresh", "method": "GET", "resilience": {"cache": {}}},
]
CACHED = {"resilience": {"cache": {"enabled": True, "ttl": 300}}}


class Upstream:
    """Answers with ``headers`` and a body naming how many requests it has had; a request carrying
    ``If-None-Match``/``If-Modified-Since`` gets ``not_modified`` when that is set."""

    def __init__(self, headers: dict[str, str], not_modified: dict[str, str] | None = None) -> None:
        self.headers = headers
        self.not_modified = not_modified
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        conditional = "if-none-match" in request.headers or "if-modified-since" in request.headers
        if conditional and self.not_modified is not None:
            return httpx2.Response(304, headers=self.not_modified)
        return httpx2.Response(200, json={"n": len(self.requests)}, headers=self.headers)


def client(upstream: Upstream, spec: dict[str, Any] | None = CACHED, clock: Clock | None = None) -> HttpConsumer:
    return HttpConsumer(consumer(spec, operations=OPERATIONS), transport=mock(upstream), clock=clock or Clock())


async def get(api: HttpConsumer, name: str = "get", **params: Any) -> Any:
    return await api.call(api.consumer.operations[name], params)


@contextmanager
def caller(name: str) -> Iterator[None]:
    with Telemetry(log_calls=False).call("tool", "t", CallContext(caller=name)):
        yield


async def test_a_fresh_answer_is_served_from_the_cache_until_its_max_age() -> None:
    clock, upstream = Clock(), Upstream({"cache-control": "max-age=60"})
    async with client(upstream, clock=clock) as api:
        assert await get(api) == {"n": 1}
        clock.now += 59
        assert await get(api) == {"n": 1}
        clock.now += 1
        assert await get(api) == {"n": 2}  # stale, no validator: asked again
    assert len(upstream.requests) == 2


async def test_the_policy_ttl_caps_the_freshness_an_upstream_grants() -> None:
    clock, upstream = Clock(), Upstream({"cache-control": "public, max-age=86400"})
    async with client(upstream, {"resilience": {"cache": {"ttl": 10}}}, clock) as api:
        await get(api)
        clock.now += 10
        assert await get(api) == {"n": 2}


async def test_a_stale_answer_is_revalidated_with_its_etag_and_a_304_serves_it() -> None:
    clock = Clock()
    upstream = Upstream({"cache-control": "no-cache", "etag": '"v1"'}, not_modified={"cache-control": "max-age=30"})
    async with client(upstream, clock=clock) as api:
        assert await get(api) == {"n": 1}
        assert await get(api) == {"n": 1}  # revalidated: 304
        assert upstream.requests[1].headers["if-none-match"] == '"v1"'
        assert await get(api) == {"n": 1}  # the 304 made it fresh for 30 s: not asked
        clock.now += 30
        assert await get(api) == {"n": 1}
    assert len(upstream.requests) == 3


async def test_last_modified_revalidates_with_if_modified_since() -> None:
    stamp = "Wed, 02 Dec 2026 10:00:00 GMT"
    upstream = Upstream({"cache-control": "max-age=0", "last-modified": stamp}, not_modified={})
    async with client(upstream) as api:
        await get(api)
        assert await get(api) == {"n": 1}
    assert upstream.requests[1].headers["if-modified-since"] == stamp


async def test_a_changed_answer_replaces_the_entry() -> None:
    upstream = Upstream({"cache-control": "max-age=0", "etag": '"v1"'})  # ignores validators: always 200
    async with client(upstream) as api:
        assert await get(api) == {"n": 1}
        assert await get(api) == {"n": 2}
        assert await get(api) == {"n": 3}
        assert len(api.cache) == 1


async def test_two_credentials_never_share_an_entry() -> None:
    spec = {**CACHED, "authentication": {"type": "bearer", "token": "{{token}}"}}
    upstream = Upstream({"cache-control": "max-age=60"})
    async with client(upstream, spec) as api:
        assert await get(api, token="alice-secret") == {"n": 1}
        assert await get(api, token="bob-secret") == {"n": 2}
        assert await get(api, token="alice-secret") == {"n": 1}
        keys = list(api.cache._entries)
    assert [r.headers["authorization"] for r in upstream.requests] == ["Bearer alice-secret", "Bearer bob-secret"]
    assert len(keys) == 2
    assert not any("secret" in key for key in keys)


async def test_a_secret_in_the_query_never_appears_in_a_cache_key() -> None:
    spec = {**CACHED, "authentication": {"type": "apikey", "placement": "query", "key": "api_key",
                                         "value": "{{token}}"}}
    upstream = Upstream({"cache-control": "max-age=60"})
    async with client(upstream, spec) as api:
        await get(api, token="k-0123456789")
        await get(api, token="k-9876543210")
        keys = list(api.cache._entries)
    assert upstream.requests[0].url.params["api_key"] == "k-0123456789"
    assert len(keys) == 2 and all(len(key) == 64 and "0123456789" not in key for key in keys)


async def test_a_private_answer_is_kept_only_for_the_caller_that_got_it() -> None:
    upstream = Upstream({"cache-control": "private, max-age=60"})
    async with client(upstream) as api:
        await get(api)
        assert await get(api) == {"n": 2}  # anonymous: never kept
        with caller("alice"):
            assert await get(api) == {"n": 3}
            assert await get(api) == {"n": 3}
        with caller("bob"):
            assert await get(api) == {"n": 4}
        assert await get(api) == {"n": 5}


async def test_a_shared_answer_serves_every_caller_with_the_same_credentials() -> None:
    upstream = Upstream({"cache-control": "max-age=60"})
    async with client(upstream) as api:
        with caller("alice"):
            await get(api)
        with caller("bob"):
            assert await get(api) == {"n": 1}


@pytest.mark.parametrize("headers", [
    {"cache-control": "no-store, max-age=60"},
    {"cache-control": "max-age=60", "set-cookie": "session=abc"},
    {"cache-control": "max-age=60", "vary": "*"},
    {},  # no freshness and no validator
])
async def test_answers_not_to_keep_are_not_kept(headers: dict[str, str]) -> None:
    upstream = Upstream(headers)
    async with client(upstream) as api:
        await get(api)
        assert await get(api) == {"n": 2}
        assert len(api.cache) == 0


async def test_only_gets_with_caching_on_are_cached() -> None:
    upstream = Upstream({"cache-control": "max-age=60"})
    async with client(upstream, None) as api:  # off by default
        await get(api)
        assert await get(api) == {"n": 2}
        assert await get(api, "fresh") == {"n": 3}  # turned on for this operation alone
        assert await get(api, "fresh") == {"n": 3}
    async with client(Upstream({"cache-control": "max-age=60"})) as api:
        await get(api, "post")
        assert await get(api, "post") == {"n": 2}


async def test_an_error_answer_is_not_cached() -> None:
    answers = iter([httpx2.Response(404, json={"message": "no"}, headers={"cache-control": "max-age=60"}),
                    httpx2.Response(200, json="found")])
    async with HttpConsumer(consumer(CACHED, operations=OPERATIONS), transport=mock(lambda r: next(answers))) as api:
        with pytest.raises(UpstreamError):
            await get(api)
        assert await get(api) == "found"


async def test_the_least_recently_used_entry_goes_first_past_the_entry_limit() -> None:
    upstream = Upstream({"cache-control": "max-age=60"})
    async with client(upstream, {"resilience": {"cache": {"maxEntries": 2}}}) as api:
        await get(api, q="a")
        await get(api, q="b")
        await get(api, q="a")  # a is now the most recently used
        await get(api, q="c")  # evicts b
        assert len(api.cache) == 2
        sent = len(upstream.requests)
        await get(api, q="a")
        await get(api, q="c")
        assert len(upstream.requests) == sent
        await get(api, q="b")
        assert len(upstream.requests) == sent + 1


async def test_the_cache_stays_within_its_byte_limit() -> None:
    big = "x" * 600

    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=big if request.url.params.get("q") == "big" else request.url.params["q"],
                               headers={"cache-control": "max-age=60"})

    async with HttpConsumer(consumer({"resilience": {"cache": {"maxBytes": 500}}}, operations=OPERATIONS),
                            transport=mock(respond)) as api:
        for q in "abcdefghij":
            await get(api, q=q)
            assert api.cache.bytes <= 500
        assert 0 < len(api.cache) < 10
        await get(api, q="big")  # larger than the whole cache: not kept, nothing evicted for it
        assert api.cache.bytes <= 500
        assert all(entry.content != f'"{big}"'.encode() for entry in api.cache._entries.values())
