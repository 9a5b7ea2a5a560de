"""Retries, circuit breaker, bulkhead and rate limit against misbehaving upstreams; the model of
the ``resilience`` block. Time is injected (clock, sleep, random) or driven by events."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx2
import pytest

from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.errors import UnavailableError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from naftiko_runtime.model import CachePolicy, Concurrency, RateLimit, Resilience, RetryPolicy, Timeouts
from naftiko_runtime.telemetry import Telemetry
from naftiko_runtime.telemetry.metrics import Metrics

from .hostile import Clock, Sleeps, consumer, mock

pytestmark = pytest.mark.anyio


class Upstream:
    """Answers each request with the next of ``statuses`` (then 200), with optional headers."""

    def __init__(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx2.Response(status, json={"status": status}, headers=self.headers if status != 200 else None)


def api(spec: dict[str, Any] | None = None, upstream: Any = None, **kwargs: Any) -> HttpConsumer:
    return HttpConsumer(consumer(spec, **{k: kwargs.pop(k) for k in ("operations",) if k in kwargs}),
                        transport=mock(upstream or Upstream()), **kwargs)


async def call(client: HttpConsumer, name: str = "get") -> Any:
    return await client.call(client.consumer.operations[name], {})


# ------------------------------------------------------------------------------------- retries


async def test_a_get_is_retried_by_default_on_503_and_429() -> None:
    upstream, sleeps = Upstream(503, 429), Sleeps()
    async with api(None, upstream, sleep=sleeps) as client:
        assert await call(client) == {"status": 200}
    assert len(upstream.requests) == 3
    assert len(sleeps.delays) == 2


async def test_retry_after_seconds_is_waited_for_on_get() -> None:
    upstream, sleeps = Upstream(503, headers={"retry-after": "2"}), Sleeps()
    async with api(None, upstream, sleep=sleeps) as client:
        assert await call(client) == {"status": 200}
    assert sleeps.delays == [2.0]


async def test_a_long_retry_after_is_waited_for_up_to_its_cap() -> None:
    upstream, sleeps = Upstream(429, 429, headers={"retry-after": "120"}), Sleeps()
    spec = {"resilience": {"retry": {"retryAfterCap": 4}}}
    async with api(spec, upstream, sleep=sleeps) as client:
        assert await call(client) == {"status": 200}
    assert sleeps.delays == [4.0, 4.0]


async def test_retry_after_as_an_http_date_is_read() -> None:
    upstream, sleeps = Upstream(503, headers={"retry-after": email.utils.formatdate(time.time() + 5, usegmt=True)}), \
        Sleeps()
    async with api(None, upstream, sleep=sleeps) as client:
        await call(client)
    assert 3.0 < sleeps.delays[0] <= 5.0


async def test_a_retry_after_past_the_deadline_is_not_waited_for_the_answer_stands() -> None:
    upstream, sleeps = Upstream(503, headers={"retry-after": "20"}), Sleeps()
    spec = {"resilience": {"timeout": {"total": 5}}}
    async with api(spec, upstream, sleep=sleeps) as client:
        with pytest.raises(UpstreamError) as caught:
            await call(client)
    assert caught.value.status == 503
    assert sleeps.delays == []
    assert len(upstream.requests) == 1


async def test_a_post_is_never_retried_even_when_told_when_to_come_back() -> None:
    upstream, sleeps = Upstream(429, headers={"retry-after": "1"}), Sleeps()
    async with api(None, upstream, sleep=sleeps) as client:
        with pytest.raises(UpstreamError) as caught:
            await call(client, "post")
    assert caught.value.status == 429
    assert len(upstream.requests) == 1
    assert sleeps.delays == []


async def test_a_post_is_retried_when_its_operation_declares_it() -> None:
    operations = [{"name": "post", "method": "POST", "resilience": {"retry": {"methods": ["POST"]}}}]
    upstream = Upstream(503)
    async with api(None, upstream, operations=operations, sleep=Sleeps()) as client:
        assert await call(client, "post") == {"status": 200}
    assert len(upstream.requests) == 2


async def test_backoff_has_full_jitter_under_a_doubling_capped_ceiling() -> None:
    draws = iter([0.5, 1.0, 0.0, 1.0])
    upstream, sleeps = Upstream(503, 503, 503, 503), Sleeps()
    spec = {"resilience": {"retry": {"attempts": 5, "backoff": 1, "maxBackoff": 3}}}
    async with api(spec, upstream, sleep=sleeps, random=lambda: next(draws)) as client:
        await call(client)
    assert sleeps.delays == [0.5, 2.0, 0.0, 3.0]  # ceilings 1, 2, 4 -> 3, 8 -> 3


async def test_jittered_delays_stay_within_their_ceilings() -> None:
    spec = {"resilience": {"retry": {"attempts": 6, "backoff": 0.5, "maxBackoff": 2},
                           "circuitBreaker": {"enabled": False}}}
    for _ in range(20):
        sleeps = Sleeps()
        async with api(spec, Upstream(*[502] * 5), sleep=sleeps) as client:
            await call(client)
        assert all(0 <= d <= c for d, c in zip(sleeps.delays, [0.5, 1, 2, 2, 2], strict=True))


async def test_connection_errors_are_retried_for_a_get_never_for_a_post() -> None:
    requests: list[str] = []

    def refuse_once(request: httpx2.Request) -> httpx2.Response:
        requests.append(request.method)
        if len(requests) == 1 or request.method == "POST":
            raise httpx2.ConnectError("connection refused", request=request)
        return httpx2.Response(200, json=[1])

    async with api(None, refuse_once, sleep=Sleeps()) as client:
        assert await call(client) == [1]
        with pytest.raises(UpstreamUnavailable):
            await call(client, "post")
    assert requests == ["GET", "GET", "POST"]


async def test_a_streamed_forward_body_is_never_sent_twice() -> None:
    upstream = Upstream(503)

    async def body() -> AsyncIterator[bytes]:
        yield b"part"

    async with api(None, upstream, sleep=Sleeps()) as client:
        status, _, _, aclose = await client.forward("PUT", "items", query="", headers={}, body=body())
        await aclose()
    assert status == 503
    assert len(upstream.requests) == 1


async def test_retries_off_with_one_attempt() -> None:
    upstream = Upstream(503)
    async with api({"resilience": {"retry": {"attempts": 1}}}, upstream, sleep=Sleeps()) as client:
        with pytest.raises(UpstreamError):
            await call(client)
    assert len(upstream.requests) == 1


# ----------------------------------------------------------------------------- circuit breaker


def metric(metrics: Metrics) -> float:
    return metrics.sample("naftiko_upstream_circuit_state", {"consumer": "api"})


async def test_the_breaker_opens_fails_fast_half_opens_and_closes_on_success() -> None:
    clock, metrics = Clock(), Metrics()
    upstream = Upstream(500, 500, 500)
    spec = {"resilience": {"retry": {"attempts": 1}, "circuitBreaker": {"failures": 3, "resetAfter": 10}}}
    async with api(spec, upstream, clock=clock, sleep=Sleeps(clock), telemetry=Telemetry(metrics=metrics)) as client:
        assert metric(metrics) == 0
        for _ in range(3):
            with pytest.raises(UpstreamError):
                await call(client)
        assert client.health()["circuit"] == "open"
        assert metric(metrics) == 2
        assert b'naftiko_upstream_circuit_state{consumer="api"} 2.0' in metrics.render()

        clock.now += 4
        with pytest.raises(UnavailableError) as caught:
            await call(client)
        assert len(upstream.requests) == 3  # failed fast: nothing sent
        assert caught.value.message == ("api is failing: its circuit breaker is open after 3 consecutive "
                                        "failures; the next try goes through in 6 s")
        assert caught.value.retry_after == 6
        assert caught.value.operation == "api.get"

        clock.now += 6
        assert client.health()["circuit"] == "half-open"
        assert await call(client) == {"status": 200}  # the probe
        assert client.health()["circuit"] == "closed"
        assert metric(metrics) == 0


async def test_a_failed_probe_opens_the_circuit_again() -> None:
    clock, metrics = Clock(), Metrics()
    upstream = Upstream(503, 503, 503)
    spec = {"resilience": {"retry": {"attempts": 1}, "circuitBreaker": {"failures": 2, "resetAfter": 5}}}
    async with api(spec, upstream, clock=clock, telemetry=Telemetry(metrics=metrics)) as client:
        for _ in range(2):
            with pytest.raises(UpstreamError):
                await call(client)
        clock.now += 5
        with pytest.raises(UpstreamError):
            await call(client)  # the probe fails
        assert metric(metrics) == 2
        with pytest.raises(UnavailableError) as caught:
            await call(client)
        assert caught.value.retry_after == 5
        assert len(upstream.requests) == 3


async def test_half_open_lets_one_probe_through_at_a_time() -> None:
    clock = Clock()
    release, probing = anyio.Event(), anyio.Event()
    failures = [500, 500]

    async def upstream(request: httpx2.Request) -> httpx2.Response:
        if failures:
            return httpx2.Response(failures.pop())
        probing.set()
        await release.wait()
        return httpx2.Response(200, json="ok")

    spec = {"resilience": {"retry": {"attempts": 1}, "circuitBreaker": {"failures": 2, "resetAfter": 1}}}
    async with api(spec, upstream, clock=clock) as client:
        for _ in range(2):
            with pytest.raises(UpstreamError):
                await call(client)
        clock.now += 1
        results: list[Any] = []
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: _into(results, call(client)))
            await probing.wait()
            with pytest.raises(UnavailableError):
                await call(client)  # a second caller while the probe runs
            release.set()
        assert results == ["ok"]


async def _into(results: list[Any], awaitable: Any) -> None:
    results.append(await awaitable)


async def test_client_errors_do_not_open_the_circuit_timeouts_do() -> None:
    spec = {"resilience": {"retry": {"attempts": 1}, "circuitBreaker": {"failures": 2}}}
    async with api(spec, Upstream(*[404] * 5)) as client:
        for _ in range(5):
            with pytest.raises(UpstreamError):
                await call(client)
        assert client.health()["circuit"] == "closed"

    def too_slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    async with api(spec, too_slow) as client:
        for _ in range(2):
            with pytest.raises(UpstreamTimeout):
                await call(client)
        assert client.health()["circuit"] == "open"


async def test_calls_the_caller_abandons_do_not_open_the_circuit_the_total_deadline_does() -> None:
    """A client that disconnects (or a shutdown that cuts calls) says nothing about the upstream."""
    spec = {"resilience": {"retry": {"attempts": 1}, "circuitBreaker": {"failures": 2}}}
    async with api(spec, blocking(anyio.Event())) as client:
        for _ in range(3):
            with anyio.move_on_after(0.05):
                await call(client)
        assert client.health()["circuit"] == "closed"

    spec["resilience"]["timeout"] = {"total": 0.05}
    async with api(spec, blocking(anyio.Event())) as client:
        for _ in range(2):
            with pytest.raises(UpstreamTimeout):
                await call(client)
        assert client.health()["circuit"] == "open"


async def test_the_breaker_can_be_turned_off() -> None:
    spec = {"resilience": {"retry": {"attempts": 1}, "circuitBreaker": {"enabled": False, "failures": 1}}}
    upstream = Upstream(*[500] * 3)
    async with api(spec, upstream) as client:
        for _ in range(3):
            with pytest.raises(UpstreamError):
                await call(client)
    assert len(upstream.requests) == 3


# ------------------------------------------------------------------------ bulkhead, rate limit


def blocking(gate: anyio.Event, entered: Callable[[int], None] | None = None) -> Any:
    state = {"now": 0, "most": 0}

    async def upstream(request: httpx2.Request) -> httpx2.Response:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        if entered is not None:
            entered(state["now"])
        await gate.wait()
        state["now"] -= 1
        return httpx2.Response(200, json=state["most"])

    return upstream


async def test_the_bulkhead_refuses_a_call_past_its_limit_and_wait() -> None:
    gate, inside = anyio.Event(), anyio.Event()
    spec = {"resilience": {"concurrency": {"limit": 1, "maxWait": 0}}}
    async with api(spec, blocking(gate, lambda n: inside.set())) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(call, client)
            await inside.wait()
            with pytest.raises(UnavailableError) as caught:
                await call(client)
            gate.set()
        assert caught.value.message == ("api already has 1 requests in flight and none finished within 0 s; "
                                        "call again shortly")
        assert caught.value.retry_after == 1
        assert await call(client) == 1  # its place is free again
        assert client.health()["circuit"] == "closed"  # a refusal is no upstream failure


async def test_a_call_waits_in_the_bulkhead_queue_for_a_place() -> None:
    gate = anyio.Event()
    entered: list[int] = []
    results: list[Any] = []
    client = api({"resilience": {"concurrency": 1}}, blocking(gate, entered.append))
    async with client, anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(lambda: _into(results, call(client)))
        await anyio.wait_all_tasks_blocked()
        assert client.guards.in_flight == 1
        gate.set()
    assert results == [1, 1, 1]  # never two at once
    assert entered == [1, 1, 1]


async def test_the_rate_limit_refuses_past_its_wait_and_refills_with_time() -> None:
    clock = Clock()
    spec = {"resilience": {"rateLimit": {"requests": 2, "per": 1, "maxWait": 0}}}
    upstream = Upstream()
    async with api(spec, upstream, clock=clock, sleep=Sleeps(clock)) as client:
        await call(client)
        await call(client)
        with pytest.raises(UnavailableError) as caught:
            await call(client)
        assert caught.value.message == "api is rate-limited to 2 requests per 1 s; call again in 1 s"
        assert caught.value.retry_after == 1
        clock.now += 0.5  # one token back
        await call(client)
    assert len(upstream.requests) == 3


async def test_the_rate_limit_waits_for_a_token_within_its_bound() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    spec = {"resilience": {"rateLimit": {"requests": 1, "per": 2, "maxWait": 5}}}
    async with api(spec, Upstream(), clock=clock, sleep=sleeps) as client:
        await call(client)
        await call(client)
        await call(client)
    assert sleeps.delays == [2.0, 2.0]


# -------------------------------------------------------------------------------------- model


def test_with_no_yaml_every_consumer_gets_safe_defaults() -> None:
    policy = consumer().resilience
    assert policy == Resilience()
    assert policy.max_response_bytes == 10 * 1024 * 1024
    assert policy.retry.attempts == 3 and policy.retry.statuses == {429, 502, 503, 504}
    assert "POST" not in policy.retry.methods
    assert policy.concurrency == Concurrency(32, 10.0)
    assert policy.rate_limit is None
    assert policy.circuit_breaker.enabled and policy.circuit_breaker.failures == 5
    assert policy.cache.enabled is False


def test_the_older_timeout_and_retry_fields_are_folded_in_and_resilience_wins() -> None:
    policy = consumer({"timeout": {"total": 60, "connect": 2}, "retry": {"attempts": 2, "backoff": 1},
                       "resilience": {"retry": {"backoff": 0.5}}}).resilience
    assert policy.timeouts == Timeouts(connect=2, read=60, total=60)
    assert policy.retry.attempts == 2
    assert policy.retry.backoff == 0.5


def test_an_operation_overrides_its_consumer_field_by_field() -> None:
    operations = [{"name": "get", "method": "GET"},
                  {"name": "slow", "method": "GET",
                   "resilience": {"retry": {"attempts": 5}, "cache": {"ttl": 5}, "timeout": {"total": 90}}}]
    built = consumer({"resilience": {"retry": {"backoff": 2, "statuses": [500]}, "maxResponseBytes": 1000}},
                     operations=operations)
    assert built.operations["get"].resilience is None
    assert built.policy(built.operations["get"]) is built.resilience
    slow = built.policy(built.operations["slow"])
    assert slow.retry == RetryPolicy(attempts=5, backoff=2, statuses=frozenset({500}))
    assert slow.max_response_bytes == 1000
    assert slow.cache == CachePolicy(enabled=True, ttl=5)
    assert slow.timeouts.total == 90


@pytest.mark.parametrize("bad", [
    {"maxResponseBytes": -1}, {"maxResponseBytes": "ten"}, {"maxResponseBytes": True},
    {"retry": {"attempts": 0}}, {"retry": {"attempts": 99}}, {"retry": {"backoff": -1}},
    {"retry": {"backoff": float("nan")}}, {"retry": {"statuses": "503"}}, {"retry": "often"},
    {"timeout": {"total": 0}}, {"concurrency": 0}, {"concurrency": {"limit": "many"}},
    {"rateLimit": {"requests": 0}}, {"rateLimit": {"per": 0}}, {"circuitBreaker": {"failures": -3}},
    {"cache": {"maxBytes": -5, "enabled": "yes"}}, {"resilience": None},
])
def test_bad_values_are_treated_as_absent(bad: dict[str, Any]) -> None:
    policy = consumer({"resilience": bad}).resilience
    expected = Resilience(cache=CachePolicy(enabled=True)) if "cache" in bad else Resilience()
    assert policy == expected


def test_a_bad_operation_value_keeps_the_consumer_value() -> None:
    operations = [{"name": "get", "method": "GET", "resilience": {"retry": {"attempts": -1, "backoff": 3}}}]
    built = consumer({"resilience": {"retry": {"attempts": 4}}}, operations=operations)
    assert built.policy(built.operations["get"]).retry.attempts == 4
    assert built.policy(built.operations["get"]).retry.backoff == 3


def test_concurrency_and_rate_limit_forms() -> None:
    assert consumer({"resilience": {"concurrency": 4}}).resilience.concurrency == Concurrency(4, 10.0)
    assert consumer({"resilience": {"concurrency": {"limit": 2, "maxWait": 0}}}).resilience.concurrency == \
        Concurrency(2, 0.0)
    assert consumer({"resilience": {"rateLimit": {"requests": 5}}}).resilience.rate_limit == RateLimit(5, 1.0, 5.0)
    assert consumer({"resilience": {"rateLimit": {"requests": 5, "enabled": False}}}).resilience.rate_limit is None
