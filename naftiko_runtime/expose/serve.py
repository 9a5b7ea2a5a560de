"""``naftiko serve``: the process.

``Server`` binds every socket before anything starts, runs one uvicorn server per listener in one
event loop and stdio MCP beside them. It stops on SIGINT/SIGTERM in two steps: readiness turns false
and new calls are refused (503, a JSON-RPC error) while running calls get ``grace_period`` seconds to
finish; calls still running then are cut with the same clean error, and the listeners close. A
second signal stops at once. ``swap`` replaces the runtime in place on the same sockets (hot
reload): new requests go to the new version while running calls finish on the old one.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import anyio
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from naftiko_runtime.errors import ServeError
from naftiko_runtime.expose.auth import HttpClientFactory
from naftiko_runtime.expose.guards import allowed_hosts_for, is_loopback, is_wildcard
from naftiko_runtime.expose.health import Health
from naftiko_runtime.expose.listeners import Listener, Reload, RestRoutesFactory, build_listeners, stdio_server
from naftiko_runtime.model import McpExposure
from naftiko_runtime.runtime import Runtime
from naftiko_runtime.telemetry.logs import configure as configure_logging

__all__ = ["GRACE_PERIOD", "Server", "announce", "bind_sockets", "configure_logging", "freeze_startup_heap", "serve"]

logger = logging.getLogger("naftiko.serve")

GRACE_PERIOD = 10.0
LISTEN_BACKLOG = 2048
# A worker accepts one connection per wake-up of its event loop (asyncio takes up to its ``backlog``
# argument at once): every worker is woken for a new connection on the shared socket, so the idler
# ones take the next ones, instead of the first awake taking a whole burst of keep-alive clients.
WORKER_ACCEPT_BATCH = 1
McpEntry = tuple[McpExposure, Runtime]
Emit = Callable[[str, dict[str, Any]], None]


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


class _Swappable:
    """The ASGI app uvicorn serves on one socket; ``app`` is replaced in place on a hot reload.
    (Each version's lifespan is run by ``Server``, not by uvicorn.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


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


def _printer(log_format: str) -> Emit:
    def emit(text: str, data: dict[str, Any]) -> None:
        line = json.dumps(data) if log_format == "json" else text
        print(line, file=sys.stderr, flush=True)

    return emit


def announce(emit: Emit, listeners: Sequence[Listener], stdio: Sequence[McpEntry],
             runtime: Runtime | None = None, allowed_hosts: Sequence[str] = ()) -> None:
    """What the process serves, where, who may reach it and where each consumer's calls go."""
    for listener in listeners:
        for kind, namespace, path in listener.endpoints:
            url = listener.url(path)
            emit(f"{kind} {namespace}  {url}", {"event": "listening", "kind": kind, "namespace": namespace, "url": url})
        for text in listener.warnings:
            emit(f"warning: {text}", {"event": "warning", "message": text})
        if listener.unauthenticated and not is_loopback(listener.address):
            names = ", ".join(listener.unauthenticated)
            emit(
                f"warning: {names} on {listener.address}:{listener.port} accept requests without "
                "authentication from anyone who can reach that address",
                {
                    "event": "warning",
                    "message": "unauthenticated exposure on a non-loopback address",
                    "namespaces": listener.unauthenticated,
                    "address": listener.address,
                    "port": listener.port,
                },
            )
        if is_wildcard(listener.address):
            hosts, _ = allowed_hosts_for(listener.address, allowed_hosts)
            shown = "any host" if hosts is None else ", ".join(h for h in hosts if not h.endswith(":*"))
            emit(f"{listener.address}:{listener.port} accepts the Host names {shown}; add others with "
                 "--allowed-host (or NAFTIKO_ALLOWED_HOSTS)",
                 {"event": "allowed-hosts", "address": listener.address, "port": listener.port,
                  "hosts": hosts if hosts is not None else ["*"]})
    for exposure, _ in stdio:
        emit(
            f"MCP {exposure.namespace}  stdio",
            {"event": "listening", "kind": "MCP", "namespace": exposure.namespace, "transport": "stdio"},
        )
    for upstream in runtime.upstreams if runtime is not None else ():
        if upstream.target == "injected":
            continue  # the embedding program chose that transport itself
        where = "the bundled sandbox" if upstream.target == "sandbox" else upstream.url
        emit(f"upstream {upstream.namespace} -> {where} ({upstream.target})",
             {"event": "upstream", "namespace": upstream.namespace, "target": upstream.target, "url": upstream.url})


def _keep_traces(runtime: Runtime, emit: Emit) -> None:
    """A control port asks for the last spans in memory (``observability.traces.local``)."""
    from naftiko_runtime.expose.control import flag
    from naftiko_runtime.telemetry import traces

    for capability in runtime.capabilities:
        for control in capability.controls:
            if flag(control.observability, "traces", "local", "enabled"):
                local = control.observability.get("traces", {}).get("local", {})
                size = local.get("buffer-size", 100) if hasattr(local, "get") else 100
                warning = traces.keep_locally(size if isinstance(size, int) else 100)
                if warning:
                    emit(f"warning: {warning}", {"event": "warning", "message": warning})


class Server:
    """Every listener of one ``naftiko serve`` process, for as long as it runs."""

    def __init__(self, runtime: Runtime, emit: Emit, *, address: str | None = None, port: int | None = None,
                 transport: str | None = None, allowed_hosts: Sequence[str] = (),
                 grace_period: float = GRACE_PERIOD, rest_routes_factory: RestRoutesFactory | None = None,
                 http_client_factory: HttpClientFactory | None = None, reload: Reload | None = None) -> None:
        self.runtime = runtime
        self.emit = emit
        self.options = dict(address=address, port=port, transport=transport, allowed_hosts=allowed_hosts,
                            rest_routes_factory=rest_routes_factory, http_client_factory=http_client_factory,
                            reload=reload)
        _keep_traces(runtime, emit)
        self.grace_period = grace_period
        self.reload_here = reload  # what SIGHUP runs: swap in the files as they are now, in this process
        self.health = Health(runtime)
        self.listeners = self._listeners(runtime, self.health)
        self.apps = [_Swappable(listener.app) for listener in self.listeners]
        try:
            self.stdio_app, self.stdio = stdio_server(runtime, transport)
        except ServeError as exc:
            raise ServeError(f"stdio: {exc}") from None
        if not self.listeners and self.stdio_app is None:
            raise ServeError("nothing to serve: no MCP or REST exposure")
        self.servers: list[_Uvicorn] = []
        self._stdio_scope: anyio.CancelScope | None = None
        self._stopping = False
        self.failed = False
        self.worker = False  # one of several workers: the supervisor decides when to stop at once

    def _listeners(self, runtime: Runtime, health: Health) -> list[Listener]:
        return build_listeners(runtime, health=health, **self.options)  # type: ignore[arg-type]

    def keys(self) -> list[tuple[str, int]]:
        return [(listener.address, listener.port) for listener in self.listeners]

    # ------------------------------------------------------------------------------------- run

    async def run(self, sockets: list[socket.socket], ready: Callable[[list[Listener]], None] | None,
                  stop_when: anyio.Event | None, signals: AsyncIterator[int] | None) -> int:
        timeout = max(1, round(self.grace_period))
        batch = WORKER_ACCEPT_BATCH if self.worker else LISTEN_BACKLOG
        self.servers = [_Uvicorn(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                                timeout_graceful_shutdown=timeout, ws="none", backlog=batch))
                        for app in self.apps]
        async with anyio.create_task_group() as self._versions:
            self._retire = await self._start_version(self.listeners)
            try:
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
                self._retire.set()
        return 1 if self.failed else 0

    async def _start_version(self, listeners: list[Listener]) -> anyio.Event:
        """Start the lifespans of one version's listeners (its MCP session managers) in a task of
        their own; setting the returned event ends them."""
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
        self.runtime.draining = True
        with anyio.move_on_after(self.grace_period):
            await self.runtime.idle()
        if self.runtime.in_flight:
            logger.warning("%d call(s) still running after %g s: ending them", self.runtime.in_flight,
                           self.grace_period)
            self.runtime.cut()
            with anyio.move_on_after(1):
                await self.runtime.idle()
        self._close()

    def _close(self, force: bool = False) -> None:
        for server in self.servers:
            server.should_exit = True
            server.force_exit = server.force_exit or force
        if self._stdio_scope is not None:
            self._stdio_scope.cancel()

    # ------------------------------------------------------------------------------------ swap

    async def swap(self, runtime: Runtime) -> bool:
        """Serve ``runtime`` instead, on the same sockets: new requests go to it at once, running
        calls finish on the old version, which is then closed. False (nothing changed) when the
        new version needs other listeners (a port or address change): the caller restarts."""
        health = Health(runtime, started=True)
        listeners = self._listeners(runtime, health)
        if [(x.address, x.port) for x in listeners] != self.keys() or stdio_server(runtime, None)[1]:
            return False
        await runtime.start()
        retire = await self._start_version(listeners)
        old_runtime, old_retire = self.runtime, self._retire
        for app, listener in zip(self.apps, listeners, strict=True):
            app.app = listener.app
        self.runtime, self.health, self.listeners, self._retire = runtime, health, listeners, retire
        old_runtime.draining = True
        with anyio.move_on_after(self.grace_period):
            await old_runtime.idle()
        old_runtime.cut()
        old_retire.set()
        await old_runtime.aclose()
        freeze_startup_heap()
        return True


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
) -> int:
    """Serve every exposure of ``runtime`` until a signal (or stdin closing, for stdio). Exit code.

    ``log`` receives the human lines (listening addresses, warnings, startup errors); by default
    they go to stderr, as JSON objects when ``log_format == "json"``. ``ready`` is called with the
    listeners (actual ports) once every one accepts connections, ``server_ready`` with the
    ``Server`` (hot reload swaps runtimes through it). Setting ``stop_when`` stops gracefully, as
    a signal would. ``sockets`` are listening sockets bound by a supervisor, one per listener in
    order (``--workers``); ``quiet`` leaves the announcement to it.
    """
    configure_logging(log_format, log_level, pid=sockets is not None)  # a worker says which one wrote
    emit: Emit = _printer(log_format) if log is None else (lambda text, data: log(text))
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
                            reload=control_reload)
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
    """
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
    gc.freeze()
