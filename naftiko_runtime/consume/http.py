"""The HTTP consumer: one pooled ``httpx2.AsyncClient`` per consumed namespace.

``call`` turns a consumed operation and its parameters into a JSON tree (or a typed
``InvocationError``); ``forward`` proxies a REST ``forward`` request and streams the answer back.
Every exchange is bounded and guarded by the operation's ``Resilience`` (``model.nodes``): a total
deadline (30 s by default) over everything, retries with jittered backoff for idempotent methods
only (``Retry-After`` honoured up to a cap), a decoded size limit enforced while the body streams in
(``limits``), and, per consumer, a circuit breaker, a bulkhead and an optional rate limit
(``resilience``); GET answers are cached when the policy opts in (``cache``).
No secret (bind value, rendered credential, fetched token, environment value) ever appears in an
error message or a log line.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections import ChainMap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from random import random as uniform
from typing import Any, cast

import anyio
import httpx2

from naftiko_runtime.consume.auth import Authenticator, AuthPlan
from naftiko_runtime.consume.cache import (
    CacheEntry,
    ResponseCache,
)
from naftiko_runtime.consume.forward import HOP_BY_HOP, connection_tokens, forward_headers, until_deadline
from naftiko_runtime.consume.limits import limited_raw, read_body, too_large
from naftiko_runtime.consume.messages import (
    CLIENT_LOG,
    decode_message,
    parse_json,
    redacted,
    safe_reason,
    upstream_message,
)
from naftiko_runtime.consume.network import remember_sockets
from naftiko_runtime.consume.request import (
    DEFAULT_USER_AGENT,
    Built,
    build,
    consumer_headers,
    encode_forward_path,
    follow,
    resolve_params,
)
from naftiko_runtime.consume.resilience import Circuit, Guards, Slot, retry_after
from naftiko_runtime.errors import (
    DecodeError,
    InvocationError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from naftiko_runtime.model import Consumer, Operation, Resilience, RetryPolicy, Timeouts
from naftiko_runtime.secrets import Redactor, secret_forms
from naftiko_runtime.telemetry import Telemetry, current, traces

__all__ = ["HttpConsumer", "UpstreamResponse"]

log = logging.getLogger("naftiko.consume")

def httpx_timeout(timeouts: Timeouts) -> httpx2.Timeout:
    return httpx2.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.read)


@functools.lru_cache(maxsize=256)
def _timeout_extension(timeouts: Timeouts) -> dict[str, float | None]:
    """The request extension httpx2 reads its time limits from (one per policy, made once)."""
    return httpx_timeout(timeouts).as_dict()


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: httpx2.Headers
    content: bytes
    content_type: str | None
    elapsed_ms: float


@functools.cache
def _shared_tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every consumer. Building one loads the trust store (about
    20 ms each), so 100 consumers would spend 2 s of start-up on identical contexts."""
    return httpx2.create_ssl_context()


class HttpConsumer:
    """A consumed HTTP API: builds, authenticates and sends its operations' requests."""

    def __init__(
        self, consumer: Consumer, *, variables: Mapping[str, Any] | None = None, base_uri: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None, user_agent: str = DEFAULT_USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] = uniform,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.consumer = consumer
        self.telemetry = telemetry or Telemetry(log_calls=False)
        self.variables: dict[str, Any] = dict(variables or {})
        # a bound variable may build the base URI
        self.base_uri = base_uri or (consumer.base_uri.text(self.variables) if consumer.base_uri else "")
        self.user_agent = user_agent
        self.timeouts = consumer.timeouts
        self.retry = consumer.retry
        self.authenticator = Authenticator(consumer.authentication, clock=clock, client=self._require_client)
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._client: httpx2.AsyncClient | None = None
        self._variable_secrets = secret_forms(self.variables.values())
        policy = consumer.resilience
        self.guards = Guards(consumer.namespace, breaker=policy.circuit_breaker, concurrency=policy.concurrency,
                             rate_limit=policy.rate_limit, clock=clock, sleep=sleep, on_change=self._circuit_changed)
        self.cache = ResponseCache(policy.cache.max_entries, policy.cache.max_bytes, clock)

    def health(self) -> dict[str, Any]:
        """This consumer's state for readiness checks: its circuit, requests in flight, cached answers."""
        breaker = self.guards.breaker
        state = breaker.state
        found: dict[str, Any] = {"circuit": state.label, "in_flight": self.guards.in_flight,
                                 "cached": len(self.cache)}
        if state is Circuit.OPEN:
            found["retry_in"] = round(breaker.retry_in(), 1)
        return found

    def _circuit_changed(self, state: Circuit) -> None:
        if state is Circuit.OPEN:
            log.warning("%s: circuit breaker open after %d consecutive failures; calls fail fast for %g s",
                        self.consumer.namespace, self.guards.breaker.policy.failures,
                        self.guards.breaker.policy.reset_after)
        else:
            log.info("%s: circuit breaker %s", self.consumer.namespace, state.label)
        if self.telemetry.metrics is not None:
            self.telemetry.metrics.circuit_state(self.consumer.namespace, int(state))

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx2.AsyncClient(
                transport=self._transport, timeout=httpx_timeout(self.timeouts), follow_redirects=False,
                verify=_shared_tls_context() if self._transport is None else True,
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
                headers={"User-Agent": self.user_agent},
            )
            remember_sockets(self._client)
            CLIENT_LOG.consumers.add(self)
            if self.telemetry.metrics is not None:
                self.telemetry.metrics.circuit_state(self.consumer.namespace, int(self.guards.breaker.state))

    async def aclose(self) -> None:
        client, self._client = self._client, None
        CLIENT_LOG.consumers.discard(self)
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> HttpConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _require_client(self) -> httpx2.AsyncClient:
        if self._client is None:
            raise RuntimeError(f"HttpConsumer {self.consumer.namespace!r} is not started")
        return self._client

    # ------------------------------------------------------------------ operations

    def build_request(self, op: Operation, params: Mapping[str, Any]) -> httpx2.Request:
        """The request of ``op`` without authentication. Raises ``InputError`` before any I/O."""
        return self._build(op, params).request

    def _build(self, op: Operation, params: Mapping[str, Any]) -> Built:
        return build(self.consumer, op, params, variables=self.variables, base_uri=self.base_uri,
                     user_agent=self.user_agent)

    async def send(self, op: Operation, params: Mapping[str, Any]) -> UpstreamResponse:
        response, _ = await self._send(op, params)
        return response

    async def call(self, op: Operation, params: Mapping[str, Any]) -> Any:
        """Send ``op``; a 2xx body becomes a JSON tree (None when empty), anything else an error."""
        return self.decode(op, await self.fetch(op, params))

    async def fetch(self, op: Operation, params: Mapping[str, Any], *, url: str | None = None) -> UpstreamResponse:
        """Send ``op`` (to ``url`` instead when given: a next-page link on the same server); a
        non-2xx answer raises ``UpstreamError`` naming the operation."""
        response, extra = await self._send(op, params, url)
        if not 200 <= response.status < 300:
            raise self._status_error(op.ref, response, self._secrets(extra))
        return response

    def decode(self, op: Operation, response: UpstreamResponse) -> Any:
        """A 2xx body as a JSON tree in the operation's ``outputRawFormat`` (None when empty)."""
        from naftiko_runtime.formats import convert

        if response.status == 204 or not response.content.strip():
            return None
        declared = op.output_media_type if (op.output_raw_format or "") == "binary" else None
        try:
            return convert(response.content, op.output_raw_format, op.output_schema,
                           content_type=declared or response.content_type)
        except DecodeError as exc:
            message = decode_message(exc.message, response.content, self._secrets())
            raise DecodeError(message, operation=op.ref) from None

    async def _send(self, op: Operation, params: Mapping[str, Any],
                    url: str | None = None) -> tuple[UpstreamResponse, list[Any]]:
        """Send ``op`` (or answer it from the cache); returns the response and this call's own secrets
        (the forms are computed only when something has to be redacted)."""
        built = self._build(op, params)
        if url is not None:
            built.request = follow(built.request, url, op.ref)
        plan = self.authenticator.plan(ChainMap(self.variables, dict(params)), operation=op.ref)
        extra = [*built.secrets, *plan.secrets]
        policy = self.consumer.policy(op)
        request = built.request
        context = current()
        caller = context.caller if context is not None else None
        lookup = self.cache.lookup(request, plan.secrets, caller) if policy.cache.enabled else None
        if lookup is not None and lookup.entry is not None and self.cache.fresh(lookup.entry):
            return _from_cache(lookup.entry), extra
        if lookup is not None and lookup.entry is not None:
            request.headers.update(lookup.entry.validators)  # stale: ask whether it changed
        started = time.perf_counter()
        response, content, _ = await self._exchange(op.ref, request, plan, extra, policy, read=True)
        elapsed = (time.perf_counter() - started) * 1000
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d in %.1f ms", built.request.method,
                      self.redactor(extra).text(str(response.request.url)), response.status_code, elapsed)
        if lookup is not None:
            entry = self.cache.keep(lookup, response, content, policy.cache.ttl)
            if entry is not None:
                return _from_cache(entry, elapsed), extra
        upstream = UpstreamResponse(
            status=response.status_code, headers=response.headers, content=content,
            content_type=response.headers.get("content-type"), elapsed_ms=elapsed,
        )
        return upstream, extra

    def _status_error(self, ref: str, response: UpstreamResponse, secrets: set[str]) -> UpstreamError:
        parsed = parse_json(response.content)
        message = upstream_message(parsed, response.content, secrets) \
            or httpx2.codes.get_reason_phrase(response.status)
        body = Redactor(forms=secrets).tree(parsed) if parsed is not None else None
        error = UpstreamError(response.status, message, operation=ref, body=body)
        log.info("%s", error.message)
        return error

    # ------------------------------------------------------------------ forward

    async def forward(
        self, method: str, path: str, *, query: str, headers: Mapping[str, str],
        body: AsyncIterator[bytes] | bytes | None,
    ) -> tuple[int, list[tuple[str, str]], AsyncIterator[bytes], Callable[[], Awaitable[None]]]:
        """Proxy one request to ``base_uri/path`` with this consumer's auth and consumes-level params.

        Returns the status, the response headers without hop-by-hop ones, the raw body stream and
        a function that closes it.
        """
        ref = self.consumer.namespace
        resolved = resolve_params(self.consumer.parameters, {}, self.variables)
        resolved.headers[:0] = consumer_headers(self.consumer, resolved.context)
        wire_headers = forward_headers(headers, resolved, ref, self.user_agent)  # raises before any body is read
        extra_query = httpx2.QueryParams(tuple(resolved.query)) if resolved.query else None
        url = self.base_uri.rstrip("/") + "/" + encode_forward_path(path, operation=ref)
        query_text = "&".join(q for q in (query.lstrip("?"), str(extra_query or "")) if q)
        if query_text:
            url += "?" + query_text
        plan = self.authenticator.plan(ChainMap(self.variables, {}), operation=ref)
        replayable = body is None or isinstance(body, bytes)
        if plan.resends and not replayable:  # digest/oauth2 may send the body twice: buffer it
            body = b"".join([chunk async for chunk in body])  # type: ignore[union-attr]
            replayable = True
        try:
            request = httpx2.Request(method.upper(), url, headers=cast(Any, wire_headers), content=body)
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            raise InvocationError(f"could not build the forwarded request: {type(exc).__name__}",
                                  operation=ref) from None
        extra = [*resolved.secrets, *plan.secrets]
        policy = self.consumer.resilience
        deadline = anyio.current_time() + policy.timeouts.total
        response, _, release = await self._exchange(ref, request, plan, extra, policy, read=False,
                                                    replayable=replayable)

        async def aclose() -> None:
            release()
            await response.aclose()

        limit = policy.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # said so up front: refuse before streaming
            await aclose()
            raise too_large(ref, limit)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("forward %s %s -> %d", request.method,
                      self.redactor(extra).text(str(response.request.url)), response.status_code)
        dropped = HOP_BY_HOP | connection_tokens(response.headers.get_list("connection"))
        if response.is_stream_consumed:  # already read (in-memory transports): the bytes are decoded
            dropped |= {"content-encoding", "content-length"}
        out = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
        body = until_deadline(limited_raw(response, limit, ref), deadline, ref, policy.timeouts.total)
        return response.status_code, out, body, aclose

    # ------------------------------------------------------------------ the exchange

    def log_secrets(self) -> tuple[set[str], list[str]]:
        """What the HTTP client's own log lines must not show: every secret form, and the names of
        query parameters that carry one."""
        return self._secrets(), self._query_secret_names()

    def _query_secret_names(self) -> list[str]:
        auth = self.consumer.authentication
        if auth is None or auth.type != "apikey":
            return []
        placement, key = auth.get("placement"), auth.get("key")
        if placement is not None and str(placement.raw).lower() == "query" and key is not None:
            return [key.text(self.variables)]
        return []

    def _secrets(self, extra: Iterable[Any] = ()) -> set[str]:
        return self._variable_secrets | secret_forms([*extra, *self.authenticator.tokens()])

    def redactor(self, extra: Iterable[Any] = ()) -> Redactor:
        return Redactor(forms=self._secrets(extra))

    async def _exchange(
        self, ref: str, request: httpx2.Request, plan: AuthPlan, extra: list[Any], policy: Resilience, *,
        read: bool, replayable: bool = True,
    ) -> tuple[httpx2.Response, bytes, Callable[[], None]]:
        """Send with retries under the total deadline (measured, traced, the trace context passed on);
        transport failures become typed errors.

        ``read``: the body is read (bounded) within the deadline and returned, the response closed.
        Otherwise the response is returned open with the release of its bulkhead place."""
        server = request.url.host
        attributes = {"http.request.method": request.method, "server.address": server, "naftiko.operation": ref}
        with self.telemetry.upstream(ref, request.method, server) as record, \
                traces.client_span(request.method, attributes) as span:
            traces.inject(request.headers)
            total = policy.timeouts.total
            try:
                with anyio.fail_after(total) as scope:
                    response, content, release = await self._attempts(
                        ref, request, plan, extra, policy, read=read, replayable=replayable,
                        deadline=scope.deadline)
            except TimeoutError:
                traces.failed(span, UpstreamTimeout.kind)
                raise UpstreamTimeout(
                    f"{ref} did not answer within the total time limit of {total:g} s", operation=ref
                ) from None
            except InvocationError as exc:  # raised inside an auth flow (token endpoint): may echo secrets
                traces.failed(span, exc.kind)
                raise redacted(exc, ref, self._secrets(extra)) from None
            record.status = response.status_code
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:  # the HTTP client conventions: the status is the error type
                    traces.failed(span, str(response.status_code))
            return response, content, release

    async def _attempts(
        self, ref: str, request: httpx2.Request, plan: AuthPlan, extra: list[Any], policy: Resilience, *,
        read: bool, replayable: bool, deadline: float,
    ) -> tuple[httpx2.Response, bytes, Callable[[], None]]:
        client = self._require_client()
        retry = policy.retry
        # never twice a request that may change something, nor one whose body was streamed out
        attempts = retry.attempts if request.method in retry.methods and replayable else 1
        request.extensions["timeout"] = _timeout_extension(policy.timeouts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            delay: float | None = None
            async with self.guards.admit(ref, deadline) as slot:
                try:
                    response = await client.send(request, auth=plan.auth, stream=True)
                    _judge(slot, response.status_code)
                    if response.status_code in retry.statuses and not last:
                        delay = self._retry_delay(response, retry, attempt, deadline)
                    if delay is None:
                        if not read:
                            return response, b"", slot.detach()
                        content = await read_body(response, policy.max_response_bytes, ref)
                        return response, content, _nothing
                    await response.aclose()
                    reason = f"HTTP {response.status_code}"
                except httpx2.TimeoutException as exc:
                    slot.failure()
                    if last:
                        raise self._timeout(ref, exc, policy.timeouts) from None
                    delay, reason = retry.delay(attempt, self._random), type(exc).__name__
                except httpx2.DecodingError:
                    raise DecodeError(f"{ref}: the response body could not be decompressed", operation=ref) from None
                except httpx2.RequestError as exc:
                    slot.failure()
                    if last or not isinstance(exc, httpx2.TransportError):
                        raise self._unavailable(ref, request, exc, extra) from None
                    delay, reason = retry.delay(attempt, self._random), type(exc).__name__
            await self._retry_wait(ref, attempt, attempts, reason, delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, response: httpx2.Response, retry: RetryPolicy, attempt: int,
                     deadline: float) -> float | None:
        """How long to wait before trying again after a retryable status; None when the wait would
        end past the deadline (the answer stands rather than a timeout later)."""
        asked = retry_after(response.headers.get("retry-after"), time.time())
        delay = min(asked, retry.retry_after_cap) if asked is not None else retry.delay(attempt, self._random)
        return delay if anyio.current_time() + delay < deadline else None

    async def _retry_wait(self, ref: str, attempt: int, attempts: int, reason: str, delay: float) -> None:
        log.info("%s: %s, retrying in %.2f s (attempt %d of %d)", ref, reason, delay, attempt + 1, attempts)
        await self._sleep(delay)

    def _timeout(self, ref: str, exc: httpx2.TimeoutException, timeouts: Timeouts) -> UpstreamTimeout:
        limits = {
            httpx2.ConnectTimeout: ("connect", timeouts.connect),
            httpx2.PoolTimeout: ("connection pool", timeouts.read),
            httpx2.WriteTimeout: ("write", timeouts.read),
        }
        kind, limit = limits.get(type(exc), ("read", timeouts.read))
        error = UpstreamTimeout(f"{ref} did not answer within the {kind} time limit of {limit:g} s", operation=ref)
        log.info("%s", error.message)
        return error

    def _unavailable(self, ref: str, request: httpx2.Request, exc: Exception, extra: list[Any]) -> UpstreamUnavailable:
        url = request.url
        host = f"{url.host}:{url.port}" if url.port else url.host
        # the exception's own text may quote a header or URL holding a secret: never show it
        message = self.redactor(extra).text(f"could not reach {host}: {safe_reason(exc)} ({type(exc).__name__})")
        log.info("%s: %s", ref, message)
        return UpstreamUnavailable(message, operation=ref)


def _from_cache(entry: CacheEntry, elapsed_ms: float = 0.0) -> UpstreamResponse:
    return UpstreamResponse(status=entry.status, headers=entry.headers, content=entry.content,
                            content_type=entry.headers.get("content-type"), elapsed_ms=elapsed_ms)


def _judge(slot: Slot, status: int) -> None:
    """What an answer tells the circuit breaker: a 5xx is a failure, anything else shows the upstream works."""
    if status >= 500:
        slot.failure()
    else:
        slot.success()


def _nothing() -> None:
    return None
