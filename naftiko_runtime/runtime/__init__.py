"""Stage 9, runtime: ``invoke(unit, arguments)`` -> result. The one place where a call is executed.

Every unit kind goes through ``Runtime.invoke``: a tool, a REST route, a dynamic MCP resource, a
prompt, an aggregate function, and (with ``forward``) a REST forward. Arguments are checked against
the unit's input schema before anything is sent, ``with`` wiring applied, the consumed operation
(or the steps, the mock, the function) run and outputs mapped. No bound value ever reaches a
caller: results are redacted. The runtime knows no MCP, no REST and no sandbox: adapters translate
their protocol to ``invoke`` and its result (or the ``InvocationError`` raised) back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from naftiko_runtime import jsontext
from naftiko_runtime.consume import HttpConsumer
from naftiko_runtime.errors import InputError, InvocationError, ShuttingDown
from naftiko_runtime.model import (
    Capability,
    Exposure,
    Forward,
    Prompt,
    Route,
    Unit,
    plain,
)
from naftiko_runtime.runtime.calls import Execution, render_prompt
from naftiko_runtime.secrets import Redactor, Secret
from naftiko_runtime.telemetry import CallContext, Telemetry

__all__ = ["Bound", "CallContext", "ForwardRequest", "ForwardResponse", "Heartbeat", "Runtime", "Upstream"]

@dataclass(frozen=True, slots=True)
class ForwardRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: AsyncIterator[bytes] | bytes | None


@dataclass(frozen=True, slots=True)
class ForwardResponse:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]
    aclose: Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Progress while a call runs long, for callers that asked for progress: the first report after
    ``after`` seconds, then one every ``every`` seconds, ``limit`` at most."""

    after: float = 1.0
    every: float = 2.0
    limit: int = 150
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where one consumer's calls go (``target``: live, upstream, sandbox or injected), for operators."""

    file: str
    namespace: str
    target: str
    url: str


@dataclass(eq=False)
class Bound:
    """One capability's live state: its bound variables and one HTTP consumer per consumed namespace."""

    capability: Capability
    variables: Mapping[str, Secret]
    consumers: Mapping[str, HttpConsumer]
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.variables.values())

    def context(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Template context: parameters, then bind variables (configuration wins over callers).
        ``{{tools.X}}`` and ``{{rest.X}}`` read parameter X, as the published dialect writes them."""
        return {"tools": params, "rest": params, **params, **self.variables}


class Runtime:
    """Every capability being served. Start it (``async with``) before invoking."""

    def __init__(self, bound: Iterable[Bound], *, upstreams: Sequence[Upstream] = (),
                 telemetry: Telemetry | None = None, heartbeat: Heartbeat | None = None) -> None:
        self.bound = list(bound)
        self.upstreams = list(upstreams)
        self.telemetry = telemetry or Telemetry()
        self.heartbeat = heartbeat or Heartbeat()
        self.draining = False  # shutting down: new calls are refused, running ones finish
        self._running: set[anyio.CancelScope] = set()
        self._idle: anyio.Event | None = None  # made only while someone waits for the running calls
        self._owners: dict[Unit | Exposure, Bound] = {}
        for b in self.bound:
            self._owners.update(dict.fromkeys(b.capability.units(), b))
            self._owners.update(dict.fromkeys(b.capability.exposures, b))
        self._validators: dict[Unit, Any] = {}
        self._coercers: dict[Unit, Any] = {}
        self._stack = AsyncExitStack()
        self.started = False

    @property
    def capabilities(self) -> list[Capability]:
        return [b.capability for b in self.bound]

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        self.started = True
        for bound in self.bound:
            for consumer in bound.consumers.values():
                await consumer.start()
                self._stack.push_async_callback(consumer.aclose)

    async def aclose(self) -> None:
        await self._stack.aclose()

    def owner(self, item: Unit | Exposure) -> Bound:
        """The capability state a unit or an exposure belongs to."""
        try:
            return self._owners[item]
        except KeyError:
            label = item.label if isinstance(item, Unit) else item.namespace
            raise InvocationError(f"{label} is not served by this runtime", operation=label) from None

    # -------------------------------------------------------------------------------------- invoke

    async def invoke(self, unit: Unit, arguments: Mapping[str, Any] | None = None,
                     context: CallContext | None = None) -> Any:
        """Check ``arguments`` against ``unit``'s inputs, run it, and return its (redacted) result.

        A prompt returns its messages as ``[(role, text)]``. Raises ``InvocationError``."""
        bound = self.owner(unit)
        context = context or CallContext()
        with self.telemetry.call(unit.kind, unit.label, context):
            # Tracked so that shutdown can wait for the call, or cut it with a clean error.
            self._refuse_when_draining(unit.label)
            scope = anyio.CancelScope()
            self._running.add(scope)
            try:
                with scope:
                    return await self._run(unit, bound, dict(arguments or {}), context)
            finally:
                self._running.discard(scope)
                if not self._running and self._idle is not None:
                    self._idle.set()
                    self._idle = None
            # only a cut (the scope caught its cancellation) ends the block without a result
            raise ShuttingDown("the server shut down before this call finished; call it again",
                               operation=unit.label, retry_after=1)

    async def _run(self, unit: Unit, bound: Bound, args: dict[str, Any], context: CallContext) -> Any:
        args = self.check_arguments(unit, args)
        if isinstance(unit, Prompt):
            return render_prompt(unit, args)
        if isinstance(unit, Route):  # constants: templates over binds and inputs; callers cannot set them
            ctx = bound.context(args)
            args.update({i.name: i.value.native(ctx) for i in unit.constants if i.value is not None})
        if unit.invocation is None:
            raise InvocationError(f"{unit.label} has nothing to run", operation=unit.label)
        try:
            if context.progress is None:  # the usual case: no progress to report, nothing to set up
                result = await Execution(bound, context).run(unit.invocation, args)
            else:
                async with self._heartbeats(context, unit.label):
                    result = await Execution(bound, context).run(unit.invocation, args)
        except InvocationError as exc:
            raise exc.with_operation(unit.label) from None
        return bound.redactor.tree(result)

    @asynccontextmanager
    async def _heartbeats(self, context: CallContext, label: str) -> AsyncIterator[None]:
        """Report progress while the body runs (the caller asked for it)."""
        error: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._beat, context, label)
            try:
                yield
            except Exception as exc:  # raised again below: a task group would wrap it in a group
                error = exc
            finally:
                group.cancel_scope.cancel()
        if error is not None:
            raise error

    async def _beat(self, context: CallContext, label: str) -> None:
        """Values between 0 and 1, rising but never reaching the 1 that reports the end."""
        beat = self.heartbeat
        report = context.progress
        assert report is not None
        await beat.sleep(beat.after)
        for n in range(1, beat.limit + 1):
            waiting = context.upstream[-1].operation if context.upstream else label
            elapsed = beat.after + (n - 1) * beat.every
            try:
                await report(n / (n + 1), f"still waiting for {waiting} after {elapsed:g} s")
            except Exception:  # reporting must never fail the call
                return
            await beat.sleep(beat.every)

    def circuits(self) -> dict[str, str]:
        """Each consumed namespace's circuit breaker state (``closed``, ``half-open``, ``open``), for
        readiness; a namespace consumed by several capabilities shows its worst."""
        order = ["closed", "half-open", "open"]
        found: dict[str, str] = {}
        for bound in self.bound:
            for namespace, consumer in bound.consumers.items():
                state = consumer.health()["circuit"]
                if order.index(state) >= order.index(found.get(namespace, "closed")):
                    found[namespace] = state
        return found

    async def forward(self, unit: Forward, request: ForwardRequest,
                      context: CallContext | None = None) -> ForwardResponse:
        """Proxy one request through a REST ``forward`` to its consumed API (streamed)."""
        bound = self.owner(unit)
        consumer = bound.consumers.get(unit.target)
        context = context or CallContext()
        with self.telemetry.call(unit.kind, unit.label, context):
            self._refuse_when_draining(unit.label)  # its body streams after this returns: never cut, only refused
            if consumer is None:
                raise InvocationError(f"no consumed namespace {unit.target!r} to forward to", operation=unit.label)
            try:
                status, headers, body, aclose = await consumer.forward(
                    request.method, request.path, query=request.query, headers=request.headers, body=request.body)
            except InvocationError as exc:
                raise exc.with_operation(unit.label) from None
            context.status = status
            return ForwardResponse(status, headers, body, aclose)

    # --------------------------------------------------------------------------------- draining

    def _refuse_when_draining(self, label: str) -> None:
        if self.draining:
            raise ShuttingDown("the server is shutting down; call again on another instance",
                               operation=label, retry_after=1)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def idle(self) -> None:
        """Wait until no call is running."""
        if self._running:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    def cut(self) -> None:
        """End every running call now: each answers ``ShuttingDown`` (past its grace)."""
        for scope in list(self._running):
            scope.cancel()

    def check_arguments(self, unit: Unit, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` coerced (numeric and boolean strings where the schema asks for those types and
        the text is unambiguous; see ``coerce``) and checked against the unit's input schema, before
        anything is sent. Raises ``InputError`` naming every problem."""
        validator = self._validators.get(unit)
        if validator is None:
            from naftiko_runtime.coerce import coercer
            from naftiko_runtime.jsonschemas import Validator

            schema = plain(unit.input_schema)
            self._coercers[unit] = coercer(schema)
            validator = self._validators[unit] = Validator(schema)
        coerce = self._coercers.get(unit)
        if coerce is not None:
            args = coerce(args)
        unfit = [{"pointer": pointer or "/", "message": message} for pointer, message in jsontext.unfit(args)]
        if unfit and any(problem["message"] == jsontext.TOO_DEEP for problem in unfit):
            raise InputError(unfit, operation=unit.label)  # the schema check would recurse past the stack
        problems = [{"pointer": problem.pointer or "/", "message": _short(problem.message)}
                    for problem in sorted(validator.problems(args), key=lambda p: p.path)]
        problems += unfit
        if problems:
            raise InputError(problems, operation=unit.label)
        return args


def _short(message: str, limit: int = 200) -> str:
    """Argument errors quote the value; a huge argument must not make a huge error."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


