"""``naftiko serve``: the process.

``Server`` binds every socket before anything starts, runs one uvicorn server per listener in one
event loop and stdio MCP beside them. It stops on SIGINT/SIGTERM in two steps: readiness turns false
and new calls are refused (REST: a 503 problem with Retry-After; MCP: an error result) while running
calls get ``grace_period`` seconds to finish; calls still running then are cut with the same clean
answer, and the listeners close. A second signal stops at once. ``swap`` replaces the runtime in
place on the same sockets (hot reload): new requests go to the new version, MCP sessions stay open
(``expose.endpoints``) and running calls finish on the old version.

Each listener's connections are held to ``limits.Limits`` (read from ``NAFTIKO_*`` variables) by
``connections.Gate``; ``accept()`` failures are counted, not logged one traceback each.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import anyio
import uvicorn

from naftiko_runtime.errors import ServeError
from naftiko_runtime.expose.announce import Emit, announce, keep_traces, printer
from naftiko_runtime.expose.auth import HttpClientFactory
from naftiko_runtime.expose.connections import ACCEPT_BATCH, LISTEN_BACKLOG, Gate, quiet_floods
from naftiko_runtime.expose.endpoints import Endpoints, Plan
from naftiko_runtime.expose.guards import is_wildcard
from naftiko_runtime.expose.health import Health
from naftiko_runtime.expose.limits import Limits, connection_cap
from naftiko_runtime.expose.listeners import Listener, Reload, RestRoutesFactory, build_listeners, stdio_server
from naftiko_runtime.expose.versions import Counted, Swappable
from naftiko_runtime.runtime import Runtime
from naftiko_runtime.telemetry.logs import configure as configure_logging

__all__ = ["GRACE_PERIOD", "Server", "announce", "bind_sockets", "configure_logging", "freeze_startup_heap", "serve"]

logger = logging.getLogger("naftiko.serve")

GRACE_PERIOD = 10.0
# A worker accepts one connection per wake-up of its event loop (asyncio takes up to its ``backlog``
# argument at once): every worker is woken for a new connection on the shared socket, so the idler
# ones take the next ones, instead of the first awake taking a whole burst of keep-alive clients.
WORKER_ACCEPT_BATCH = 1


class _Uvicorn(uvicorn.Server):
    """A uvicorn server that leaves signals to ``serve`` and says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.config.backlog < LISTEN_BACKLOG:  # asyncio listened with the accept batch: queue as many as before
            for sock in sockets or ():
                sock.listen(LISTEN_BACKLOG)
        self.listening.set()


def _bind(address: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and is_wildcard(address):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class Server:
    """Every listener of one ``naftiko serve`` process, for as long as it runs."""

    def __init__(self, runtime: Runtime, emit: Emit, *, address: str | None = None, port: int | None = None,
                 transport: str | None = None, allowed_hosts: Sequence[str] = (),
                 grace_period: float = GRACE_PERIOD, rest_routes_factory: RestRoutesFactory | None = None,
                 http_client_factory: HttpClientFactory | None = None, reload: Reload | None = None,
                 limits: Limits | None = None) -> None:
        self.runtime = runtime
        self.emit = emit
        self.limits = limits or Limits()
        self.options: dict[str, Any] = dict(
            address=address, port=port, transport=transport, allowed_hosts=allowed_hosts,
            rest_routes_factory=rest_routes_factory, http_client_factory=http_client_factory, reload=reload,
            limits=self.limits)
        keep_traces(runtime, emit)
        self.grace_period = grace_period
        self.reload_here = reload  # what SIGHUP runs: swap in the files as they are now, in this process
        self.health = Health(runtime)
        self.endpoints = Endpoints()  # MCP endpoints, kept across hot reloads with their sessions
        self._plan = self.endpoints.plan()
        self.listeners = self._listeners(runtime, self.health, self._plan)
        self.planned = self.keys()  # as configured: port 0 until bound
        self.apps = [Swappable(listener.app) for listener in self.listeners]
        try:
            self.stdio_app, self.stdio = stdio_server(runtime, transport)
        except ServeError as exc:
            raise ServeError(f"stdio: {exc}") from None
        if not self.listeners and self.stdio_app is None:
            raise ServeError("nothing to serve: no MCP or REST exposure")
        self.max_connections, warning = connection_cap(self.limits, len(self.listeners))
        if warning:
            emit(f"warning: {warning}", {"event": "warning", "message": warning})
        self.servers: list[_Uvicorn] = []
        self._stdio_scope: anyio.CancelScope | None = None
        self._stopping = False
        self.failed = False
        self.worker = False  # one of several workers: the supervisor decides when to stop at once
        self._retire = anyio.Event()
        self._retiring: set[Runtime] = set()  # replaced versions still finishing their calls
        self._ended = False

    def _listeners(self, runtime: Runtime, health: Health, plan: Plan) -> list[Listener]:
        return build_listeners(runtime, health=health, endpoints=plan, **self.options)

    @property
    def stopping(self) -> bool:
        """A drain has begun, or serving has ended: no new version may be swapped in."""
        return self._stopping or self._ended

    def keys(self) -> list[tuple[str, int]]:
        return [(listener.address, listener.port) for listener in self.listeners]

    # ------------------------------------------------------------------------------------- run

    async def run(self, sockets: list[socket.socket], ready: Callable[[list[Listener]], None] | None,
                  stop_when: anyio.Event | None, signals: AsyncIterator[int] | None) -> int:
        timeout = max(1, round(self.grace_period))
        batch = WORKER_ACCEPT_BATCH if self.worker else ACCEPT_BATCH
        self.servers = [
            _Uvicorn(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=timeout, ws="none", backlog=batch,
                                    http=Gate(self.limits, self.max_connections, listener.url()).protocol(),
                                    h11_max_incomplete_event_size=self.limits.max_header_bytes))
            for app, listener in zip(self.apps, self.listeners, strict=True)]
        with quiet_floods(asyncio.get_running_loop()):
            return await self._run(sockets, ready, stop_when, signals)

    async def _run(self, sockets: list[socket.socket], ready: Callable[[list[Listener]], None] | None,
                   stop_when: anyio.Event | None, signals: AsyncIterator[int] | None) -> int:
        async with anyio.create_task_group() as self._versions:
            try:
                await self._plan.start(self._versions)
                self._plan.apply()
                self._retire = await self._start_version(self.listeners)
                async with anyio.create_task_group() as outer:
                    if signals is not None:
                        outer.start_soon(self._watch_signals, signals)
                    if stop_when is not None:
                        outer.start_soon(self._stop_on, stop_when)
                    async with anyio.create_task_group() as tg:
                        for server, sock in zip(self.servers, sockets, strict=True):
                            tg.start_soon(self._run_server, server, sock)
                        if self.stdio_app is not None:
                            tg.start_soon(self._run_stdio)
                        tg.start_soon(self._announce_ready, ready)
                    outer.cancel_scope.cancel()
            finally:
                self._ended = True
                self._retire.set()
                self.endpoints.retire_all()
        return 1 if self.failed else 0

    async def _start_version(self, listeners: list[Listener]) -> anyio.Event:
        """Start the lifespans of one version's listeners in a task of their own; setting the
        returned event ends them. (Their MCP endpoints are run by ``self.endpoints``.)"""
        started, retire = anyio.Event(), anyio.Event()

        async def hold() -> None:
            async with contextlib.AsyncExitStack() as stack:
                for listener in listeners:
                    await stack.enter_async_context(listener.lifespan())
                started.set()
                await retire.wait()

        self._versions.start_soon(hold)
        await started.wait()
        return retire

    async def _run_server(self, server: _Uvicorn, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits this way when the app's startup fails
            self.failed = True
            server.listening.set()
            self._close(force=True)

    async def _run_stdio(self) -> None:
        from naftiko_runtime.expose.mcp import run_stdio

        self._stdio_scope = anyio.CancelScope()
        with self._stdio_scope:
            await run_stdio(self.stdio_app)
        await self.stop()  # stdin closed (or a signal): the client is gone, so is everything else

    async def _announce_ready(self, ready: Callable[[list[Listener]], None] | None) -> None:
        for server in self.servers:
            await server.listening.wait()
        if self.failed:
            return
        freeze_startup_heap()
        self.health.started = True
        if ready is not None:
            ready(self.listeners)

    async def _stop_on(self, event: anyio.Event) -> None:
        await event.wait()
        await self.stop()

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        """The first signal drains (in its own task, so a second one is still heard); the second
        stops at once."""
        count = 0
        async with anyio.create_task_group() as tg:
            async for signum in signals:
                if signum == signal.SIGHUP:  # a supervisor asks every worker to reload
                    if self.reload_here is not None and not self._stopping:
                        tg.start_soon(self._reload_on_signal)
                    continue
                count += 1
                if self.worker and count > 1:  # the supervisor forwards what the terminal also sent
                    continue
                logger.info("received %s, %s", signal.Signals(signum).name,
                            "stopping" if count == 1 else "stopping now")
                if count == 1:
                    tg.start_soon(self.stop)
                else:
                    self.runtime.cut()
                    self._close(force=True)

    async def _reload_on_signal(self) -> None:
        assert self.reload_here is not None
        logger.info("reload: %s", await self.reload_here())

    # ------------------------------------------------------------------------------------ stop

    async def stop(self) -> None:
        """Drain, then close: readiness false and new calls refused at once; running calls get the
        grace period, then are cut with a clean error; then the listeners close."""
        if self._stopping:
            return
        self._stopping = True
        self.health.draining = True
        versions = [self.runtime, *self._retiring]  # with versions a hot reload is still closing
        for runtime in versions:
            runtime.draining = True
        with anyio.move_on_after(self.grace_period):
            for runtime in versions:
                await runtime.idle()
        running = sum(runtime.in_flight for runtime in versions)
        if running:
            logger.warning("%d call(s) still running after %g s: ending them", running, self.grace_period)
            for runtime in versions:
                runtime.cut()
            with anyio.move_on_after(1):
                for runtime in versions:
                    await runtime.idle()
        self._close()

    def _close(self, force: bool = False) -> None:
        for server in self.servers:
            server.should_exit = True
            server.force_exit = server.force_exit or force
        if self._stdio_scope is not None:
            self._stdio_scope.cancel()

    # ------------------------------------------------------------------------------------ swap

    async def swap(self, runtime: Runtime) -> bool:
        """Serve ``runtime`` instead, on the same sockets: new requests go to it at once; MCP
        sessions stay open (told when a list changed); requests and calls already running finish on
        the old version, which is closed in the background. Returns once the new version serves;
        False (nothing changed) when it needs other listeners (a port or address change): the
        caller restarts. Raises ``ServeError`` when the server is stopping."""
        if self.stopping:
            raise ServeError("the server is stopping")
        plan = self.endpoints.plan()
        health = Health(runtime, started=True)
        listeners = self._listeners(runtime, health, plan)
        if [(x.address, x.port) for x in listeners] != self.planned or stdio_server(runtime, None)[1]:
            return False
        for listener, serving in zip(listeners, self.listeners, strict=True):
            listener.port = serving.port  # the bound port (`--port 0` picks one)
        try:
            await runtime.start()
            await plan.start(self._versions)
            retire = await self._start_version(listeners)
        except BaseException:
            plan.discard()
            raise
        if self.stopping:  # a signal arrived while the new version was starting
            plan.discard()
            retire.set()
            with anyio.CancelScope(shield=True):
                await runtime.aclose()
            raise ServeError("the server is stopping")
        old_runtime, old_retire = self.runtime, self._retire
        changes = plan.apply()  # from here to the switch of every app: no await
        old_apps = [app.switch(listener.app) for app, listener in zip(self.apps, listeners, strict=True)]
        self.runtime, self.health, self.listeners, self._retire = runtime, health, listeners, retire
        self._retiring.add(old_runtime)
        self._versions.start_soon(changes.notify)
        # In the background: the request that asked for this reload (the control port's) may be one
        # of those the old version is answering.
        retire_old = [old_retire, *(kept.retire for kept in changes.dropped)]
        self._versions.start_soon(self._close_version, old_runtime, old_apps, retire_old)
        return True

    async def _close_version(self, runtime: Runtime, apps: list[Counted], retire: list[anyio.Event]) -> None:
        """A replaced version is not refused anything: a request that reached it just before the
        switch is served by it. It closes once those requests and its calls are over (at most the
        grace period)."""
        with anyio.move_on_after(self.grace_period):
            for app in apps:
                await app.quiet()
            await runtime.idle()
        runtime.cut()
        for event in retire:
            event.set()
        with anyio.CancelScope(shield=True):
            await runtime.aclose()
        self._retiring.discard(runtime)
        freeze_startup_heap()


async def serve(
    runtime: Runtime,
    *,
    address: str | None = None,
    port: int | None = None,
    transport: str | None = None,
    log: Callable[[str], None] | None = None,
    log_format: str = "text",
    log_level: str = "info",
    allowed_hosts: Sequence[str] = (),
    ready: Callable[[list[Listener]], None] | None = None,
    stop_when: anyio.Event | None = None,
    grace_period: float = GRACE_PERIOD,
    rest_routes_factory: RestRoutesFactory | None = None,
    http_client_factory: HttpClientFactory | None = None,
    server_ready: Callable[[Server], None] | None = None,
    reload: Reload | None = None,
    sockets: Sequence[socket.socket] | None = None,
    quiet: bool = False,
    limits: Limits | None = None,
) -> int:
    """Serve every exposure of ``runtime`` until a signal (or stdin closing, for stdio). Exit code.

    ``log`` receives the human lines (listening addresses, warnings, startup errors); by default
    they go to stderr, as JSON objects when ``log_format == "json"``. ``ready`` is called with the
    listeners (actual ports) once every one accepts connections, ``server_ready`` with the
    ``Server`` (hot reload swaps runtimes through it). Setting ``stop_when`` stops gracefully, as
    a signal would. ``sockets`` are listening sockets bound by a supervisor, one per listener in
    order (``--workers``); ``quiet`` leaves the announcement to it. ``limits`` default to
    ``Limits.from_env(os.environ)``.
    """
    configure_logging(log_format, log_level, pid=sockets is not None)  # a worker says which one wrote
    emit: Emit = printer(log_format) if log is None else (lambda text, data: log(text))
    async with contextlib.AsyncExitStack() as stack:
        # Catch SIGINT/SIGTERM before any socket listens: one arriving during start-up is then
        # handled gracefully (queued until the watcher runs) instead of killing the process.
        signals = None
        if threading.current_thread() is threading.main_thread():
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
        if not runtime.started:
            await stack.enter_async_context(runtime)
        control_reload = reload
        if sockets is not None and reload is not None:  # a worker: a control port's reload is for all
            control_reload = _ask_supervisor
        try:
            server = Server(runtime, emit, address=address, port=port, transport=transport,
                            allowed_hosts=allowed_hosts, grace_period=grace_period,
                            rest_routes_factory=rest_routes_factory, http_client_factory=http_client_factory,
                            reload=control_reload, limits=limits or Limits.from_env(os.environ))
            server.reload_here = reload
            bound = list(sockets) if sockets is not None else bind_sockets(server)
        except ServeError as exc:
            emit(f"error: {exc}", {"event": "error", "message": str(exc)})
            return 1
        if sockets is not None:  # pre-bound: take the real ports (port 0 picks one)
            for listener, sock in zip(server.listeners, bound, strict=True):
                listener.port = sock.getsockname()[1]
        try:
            if not quiet:
                announce(emit, server.listeners, server.stdio, runtime, allowed_hosts)
            server.worker = sockets is not None
            if server_ready is not None:
                server_ready(server)
            return await server.run(bound, ready, stop_when, signals)
        finally:
            for sock in bound:
                sock.close()
            if server.runtime is not runtime:  # a version a hot reload started
                with anyio.CancelScope(shield=True):
                    await server.runtime.aclose()


async def _ask_supervisor() -> str:
    """A worker's ``POST /config/reload``: the supervisor checks the files, then every worker swaps."""
    os.kill(os.getppid(), signal.SIGHUP)
    return "requested: the supervisor checks the files, then every worker swaps them in (see the server log)"


def bind_sockets(server: Server) -> list[socket.socket]:
    """One listening socket per listener, in order; ``ServeError`` when one cannot be bound."""
    sockets: list[socket.socket] = []
    try:
        for listener in server.listeners:
            try:
                sockets.append(_bind(listener.address, listener.port))
            except OSError as exc:
                raise ServeError(f"cannot listen on {listener.address}:{listener.port}: {exc.strerror or exc}") \
                    from None
            listener.port = sockets[-1].getsockname()[1]
    except ServeError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def freeze_startup_heap() -> None:
    """Move everything start-up built (imported modules, the model, the SDK servers) out of the
    cyclic GC's reach. A full collection would otherwise walk that whole heap (60-80 ms with the MCP
    SDK loaded) while requests wait: most of the p99 at 16 connections. Afterwards only what calls
    create is scanned. No ``collect()`` on the first start (it would add those 60-80 ms to start-up);
    on a reload, unfreeze and collect first so the previous runtime can be freed.

    The collector, paused for start-up by ``naftiko serve`` (start-up only adds to the heap, so its
    collections found next to nothing and cost 60-70 ms of it), runs again from here.
    """
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    gc.enable()
