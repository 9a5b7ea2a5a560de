"""``naftiko serve``: the process. Binds every socket before anything starts, runs one uvicorn server
per listener in one event loop, serves stdio MCP beside them, and stops on SIGINT/SIGTERM: listeners
stop accepting, in-flight calls get ``grace_period`` seconds, then the MCP session managers and the
upstream clients are closed. A second signal stops at once.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import anyio
import uvicorn

from naftiko_runtime.errors import ServeError
from naftiko_runtime.expose.auth import HttpClientFactory
from naftiko_runtime.expose.guards import is_loopback, is_wildcard
from naftiko_runtime.expose.listeners import Listener, RestRoutesFactory, build_listeners, stdio_server
from naftiko_runtime.model import McpExposure
from naftiko_runtime.runtime import Runtime

__all__ = ["GRACE_PERIOD", "announce", "configure_logging", "freeze_startup_heap", "serve"]

logger = logging.getLogger("naftiko.serve")

GRACE_PERIOD = 10.0
McpEntry = tuple[McpExposure, Runtime]


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
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data)


def configure_logging(log_format: str = "text") -> None:
    """Log to stderr (never stdout: it may be the MCP wire) unless logging is already configured."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("httpx2", "httpcore2", "mcp", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _printer(log_format: str) -> Callable[[str, dict[str, Any]], None]:
    def emit(text: str, data: dict[str, Any]) -> None:
        line = json.dumps(data) if log_format == "json" else text
        print(line, file=sys.stderr, flush=True)

    return emit


def announce(
    emit: Callable[[str, dict[str, Any]], None], listeners: Sequence[Listener], stdio: Sequence[McpEntry]
) -> None:
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
    for exposure, _ in stdio:
        emit(
            f"MCP {exposure.namespace}  stdio",
            {"event": "listening", "kind": "MCP", "namespace": exposure.namespace, "transport": "stdio"},
        )


async def serve(
    runtime: Runtime,
    *,
    address: str | None = None,
    port: int | None = None,
    transport: str | None = None,
    log: Callable[[str], None] | None = None,
    log_format: str = "text",
    allowed_hosts: Sequence[str] = (),
    ready: Callable[[list[Listener]], None] | None = None,
    stop_when: anyio.Event | None = None,
    grace_period: float = GRACE_PERIOD,
    rest_routes_factory: RestRoutesFactory | None = None,
    http_client_factory: HttpClientFactory | None = None,
) -> int:
    """Serve every exposure of ``runtime`` until a signal (or stdin closing, for stdio). Exit code.

    ``log`` receives the human lines (listening addresses, warnings, startup errors); by default
    they go to stderr, as JSON objects when ``log_format == "json"``. ``ready`` is called with the
    listeners (actual ports) once every one accepts connections. Setting ``stop_when`` stops
    gracefully, as a signal would (hot reload uses it).
    """
    configure_logging(log_format)
    emit = _printer(log_format) if log is None else (lambda text, data: log(text))
    async with contextlib.AsyncExitStack() as stack:
        # Catch SIGINT/SIGTERM before any socket listens: one arriving during start-up is then
        # handled gracefully (queued until the watcher runs) instead of killing the process.
        signals = None
        if threading.current_thread() is threading.main_thread():
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
        if not runtime.started:
            await stack.enter_async_context(runtime)
        try:
            return await _serve_started(
                runtime,
                emit,
                address=address,
                port=port,
                transport=transport,
                allowed_hosts=allowed_hosts,
                ready=ready,
                stop_when=stop_when,
                signals=signals,
                grace_period=grace_period,
                rest_routes_factory=rest_routes_factory,
                http_client_factory=http_client_factory,
            )
        except ServeError as exc:
            emit(f"error: {exc}", {"event": "error", "message": str(exc)})
            return 1


async def _serve_started(
    runtime: Runtime,
    emit: Callable[[str, dict[str, Any]], None],
    *,
    address: str | None,
    port: int | None,
    transport: str | None,
    allowed_hosts: Sequence[str],
    ready: Callable[[list[Listener]], None] | None,
    stop_when: anyio.Event | None,
    signals: AsyncIterator[int] | None,
    grace_period: float,
    rest_routes_factory: RestRoutesFactory | None,
    http_client_factory: HttpClientFactory | None,
) -> int:
    listeners = build_listeners(
        runtime,
        address=address,
        port=port,
        transport=transport,
        allowed_hosts=allowed_hosts,
        rest_routes_factory=rest_routes_factory,
        http_client_factory=http_client_factory,
    )
    try:
        stdio_app, stdio = stdio_server(runtime, transport)
    except ServeError as exc:
        raise ServeError(f"stdio: {exc}") from None
    if not listeners and stdio_app is None:
        raise ServeError("nothing to serve: no MCP or REST exposure")
    sockets: list[socket.socket] = []
    try:
        for listener in listeners:
            try:
                sockets.append(_bind(listener.address, listener.port))
            except OSError as exc:
                raise ServeError(
                    f"cannot listen on {listener.address}:{listener.port}: {exc.strerror or exc}"
                ) from None
            listener.port = sockets[-1].getsockname()[1]
        announce(emit, listeners, stdio)
        _warn_unserved(runtime, emit)
        return await _run(listeners, sockets, stdio_app, ready, grace_period, stop_when, signals)
    finally:
        for sock in sockets:
            sock.close()


def _warn_unserved(runtime: Runtime, emit: Callable[[str, dict[str, Any]], None]) -> None:
    """Skill and control adapters validate but are not served yet: say so instead of ignoring them."""
    for capability in runtime.capabilities:
        for exposure in (*capability.skills, *capability.controls):
            name = exposure.namespace or exposure.type
            emit(f"warning: {exposure.type} adapter {name} (port {exposure.port}) is not served by this "
                 "runtime yet", {"event": "warning", "kind": exposure.type, "namespace": exposure.namespace})


async def _run(
    listeners: list[Listener],
    sockets: list[socket.socket],
    stdio_server: Any,
    ready: Callable[[list[Listener]], None] | None,
    grace_period: float,
    stop_when: anyio.Event | None = None,
    signals: AsyncIterator[int] | None = None,
) -> int:
    servers = [
        _Uvicorn(
            uvicorn.Config(
                listener.app,
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=max(1, round(grace_period)),
                ws="none",
            )
        )
        for listener in listeners
    ]
    failed = False
    stdio_scope = anyio.CancelScope()

    def stop(force: bool = False) -> None:
        for server in servers:
            server.should_exit = True
            server.force_exit = server.force_exit or force
        stdio_scope.cancel()

    async def run_server(server: _Uvicorn, sock: socket.socket) -> None:
        nonlocal failed
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits this way when the app's startup fails
            failed = True
            server.listening.set()
            stop()

    async def run_stdio() -> None:
        from naftiko_runtime.expose.mcp import run_stdio as serve_stdio

        with stdio_scope:
            await serve_stdio(stdio_server)
        stop()  # stdin closed (or a signal): the client is gone, so is everything else

    async def announce_ready() -> None:
        for server in servers:
            await server.listening.wait()
        if not failed:
            freeze_startup_heap()
        if ready is not None and not failed:
            ready(listeners)

    async def stop_on_request(event: anyio.Event) -> None:
        await event.wait()
        stop()

    async with anyio.create_task_group() as outer:
        if signals is not None:
            outer.start_soon(_watch_signals, stop, signals)
        if stop_when is not None:
            outer.start_soon(stop_on_request, stop_when)
        async with anyio.create_task_group() as tg:
            for server, sock in zip(servers, sockets, strict=True):
                tg.start_soon(run_server, server, sock)
            if stdio_server is not None:
                tg.start_soon(run_stdio)
            tg.start_soon(announce_ready)
        outer.cancel_scope.cancel()
    return 1 if failed else 0


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


async def _watch_signals(stop: Callable[[bool], None], signals: AsyncIterator[int]) -> None:
    count = 0
    async for signum in signals:
        count += 1
        logger.info("received %s, %s", signal.Signals(signum).name, "stopping" if count == 1 else "stopping now")
        stop(count > 1)
