"""How hard one consumer may hit its upstream: circuit breaker, bulkhead, rate limit; Retry-After.

One ``Guards`` per consumer holds the state. Each attempt is admitted (``Guards.admit``): the breaker
first (an open circuit fails fast, before any wait), then the rate limit, then a place in the
bulkhead; its outcome is reported back to the breaker when the attempt ends. A refusal is an
``UnavailableError`` that names the consumer and says when to call again. Time comes from the
consumer's injected clock and sleep, so tests drive it without waiting.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from naftiko_runtime.errors import UnavailableError
from naftiko_runtime.model import CircuitBreakerPolicy, Concurrency, RateLimit

__all__ = ["Circuit", "CircuitBreaker", "Guards", "Slot", "TokenBucket", "retry_after"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header in seconds from ``now`` (wall-clock seconds): a number or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # not an HTTP date (those are in GMT)
            return None
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


# ---------------------------------------------------------------------------------- circuit breaker


class Circuit(enum.IntEnum):
    """Breaker states; the values are what the ``naftiko_upstream_circuit_state`` gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class CircuitBreaker:
    """Opens after ``failures`` consecutive failed attempts; while open every attempt is refused until
    ``reset_after`` has passed, then one probe goes through (half-open): its success closes the
    circuit, its failure opens it again for another ``reset_after``."""

    def __init__(self, name: str, policy: CircuitBreakerPolicy, clock: Clock,
                 on_change: Callable[[Circuit], None] = lambda state: None) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self.on_change = on_change
        self._state = Circuit.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> Circuit:
        """The state now (an open circuit whose wait is over reads as half-open)."""
        if self._state is Circuit.OPEN and self.clock() >= self._opened_at + self.policy.reset_after:
            return Circuit.HALF_OPEN
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when it would now)."""
        return max(0.0, self._opened_at + self.policy.reset_after - self.clock())

    def before(self, ref: str) -> None:
        """Let an attempt through, or raise ``UnavailableError``."""
        if not self.policy.enabled:
            return
        state = self.state
        if state is Circuit.HALF_OPEN and self._state is Circuit.OPEN:
            self._set(Circuit.HALF_OPEN)
        if state is Circuit.CLOSED:
            return
        if state is Circuit.HALF_OPEN and not self._probing:
            self._probing = True
            return
        wait = self.retry_in() if state is Circuit.OPEN else 1.0
        raise UnavailableError(
            f"{self.name} is failing: its circuit breaker is open after {self.policy.failures} consecutive "
            f"failures; the next try goes through in {math.ceil(wait)} s", operation=ref, retry_after=math.ceil(wait))

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        if self._state is not Circuit.CLOSED:
            self._set(Circuit.CLOSED)

    def failure(self) -> None:
        if not self.policy.enabled:
            return
        self._failures += 1
        if self._probing or (self._state is Circuit.CLOSED and self._failures >= self.policy.failures):
            self._probing = False
            self._opened_at = self.clock()
            self._set(Circuit.OPEN)

    def release(self) -> None:
        """An attempt that ended without telling (cancelled, refused before sending): free the probe."""
        self._probing = False

    def _set(self, state: Circuit) -> None:
        self._state = state
        self.on_change(state)


# ------------------------------------------------------------------------------------ rate limit


class TokenBucket:
    """``requests`` tokens per ``per`` seconds, at most ``requests`` saved up. A request that has to
    wait reserves its token first (the count goes below zero), so waiters are served in order."""

    def __init__(self, policy: RateLimit, clock: Clock, sleep: Sleep) -> None:
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.rate = policy.requests / policy.per
        self.tokens = float(policy.requests)
        self.updated = clock()

    async def take(self, name: str, ref: str) -> None:
        now = self.clock()
        self.tokens = min(float(self.policy.requests), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        wait = (1.0 - self.tokens) / self.rate if self.tokens < 1.0 else 0.0
        if wait > self.policy.max_wait:
            raise UnavailableError(
                f"{name} is rate-limited to {self.policy.requests} requests per {self.policy.per:g} s; "
                f"call again in {math.ceil(wait)} s", operation=ref, retry_after=math.ceil(wait))
        self.tokens -= 1.0
        if wait > 0:
            await self.sleep(wait)


# ---------------------------------------------------------------------------------------- guards


@dataclass(eq=False)
class Slot:
    """One admitted attempt. ``success``/``failure`` tell the breaker how it went; ``detach`` keeps
    the bulkhead place after the attempt (a forwarded body still streaming) and returns its release."""

    guards: Guards
    outcome: bool | None = None
    detached: bool = False

    def success(self) -> None:
        self.outcome = True

    def failure(self) -> None:
        self.outcome = False

    def detach(self) -> Callable[[], None]:
        self.detached = True
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.guards.bulkhead.release()

        return release


class Guards:
    """The breaker, bulkhead and rate limit of one consumer."""

    def __init__(self, name: str, *, breaker: CircuitBreakerPolicy, concurrency: Concurrency,
                 rate_limit: RateLimit | None, clock: Clock, sleep: Sleep,
                 on_change: Callable[[Circuit], None] = lambda state: None) -> None:
        self.name = name
        self.concurrency = concurrency
        self.breaker = CircuitBreaker(name, breaker, clock, on_change)
        self.bulkhead = anyio.Semaphore(concurrency.limit)
        self.bucket = TokenBucket(rate_limit, clock, sleep) if rate_limit is not None else None

    @property
    def in_flight(self) -> int:
        return self.concurrency.limit - self.bulkhead.value

    @asynccontextmanager
    async def admit(self, ref: str, deadline: float | None = None) -> AsyncIterator[Slot]:
        """Admit one attempt; ``deadline`` (anyio time) is the call's total time limit: an attempt cut
        by it counts as a failure, one cut because the caller went away counts as nothing."""
        self.breaker.before(ref)
        try:
            if self.bucket is not None:
                await self.bucket.take(self.name, ref)
            await self._enter(ref)
        except BaseException:
            self.breaker.release()
            raise
        slot = Slot(self)
        try:
            yield slot
        except anyio.get_cancelled_exc_class():
            if slot.outcome is None and deadline is not None and anyio.current_time() >= deadline:
                slot.outcome = False  # cut by the total deadline while sending or reading: the upstream was too slow
            raise
        finally:
            if not slot.detached:
                self.bulkhead.release()
            if slot.outcome is True:
                self.breaker.success()
            elif slot.outcome is False:
                self.breaker.failure()
            else:
                self.breaker.release()

    async def _enter(self, ref: str) -> None:
        try:
            self.bulkhead.acquire_nowait()  # the usual case: a slot is free (no cancel scope to set up)
            return
        except anyio.WouldBlock:
            pass
        wait = self.concurrency.max_wait
        if wait > 0:
            with anyio.move_on_after(wait):
                await self.bulkhead.acquire()
                return
        raise UnavailableError(
            f"{self.name} already has {self.concurrency.limit} requests in flight and none finished within "
            f"{self.concurrency.max_wait:g} s; call again shortly", operation=ref, retry_after=1)
