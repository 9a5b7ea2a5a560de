"""Listeners and lifecycle of ``naftiko serve``.

Every HTTP exposure (MCP, REST) is grouped by ``address:port`` into one Starlette app per listener:
each MCP exposure answers at ``/mcp/<namespace>`` and ``/mcp`` serves the union of the listener's
MCP exposures (or the single one), unless they accept different credentials (then a startup
warning says so). Each listener has one Host/Origin check (DNS rebinding) in front of every route,
one ``/openapi.json`` for all its REST exposures, and the RFC 9728 metadata of its OAuth2
exposures. MCP exposures with ``transport: stdio`` (or all of them with ``--transport stdio``) are
served as one server on stdin/stdout, next to any HTTP listener.

``serve`` owns the process: it enters the ``Runtime`` (an async context manager; a runtime the
caller already started is used as is and left for the caller to close), binds every socket before
anything starts, runs one uvicorn server per listener in one event loop, and stops on
SIGINT/SIGTERM: listeners stop accepting, in-flight calls get ``grace_period`` seconds, then the
MCP session managers and the upstream clients are closed. A second signal stops at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import ipaddress
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko_runtime.errors import BindingError
from naftiko_runtime.expose.auth import (
    METADATA_PATH,
    AuthConfigError,
    AuthMiddleware,
    HttpClientFactory,
    InboundAuth,
    OAuth2ResourceServer,
)
from naftiko_runtime.model import McpExposure, RestExposure
from naftiko_runtime.runtime import CapabilityRuntime, Runtime

__all__ = ["HostGuard", "Listener", "ServeError", "allowed_hosts_for", "announce", "build_listeners", "serve"]

logger = logging.getLogger("naftiko.serve")

MAX_BODY_SIZE = 4 * 1024 * 1024
GRACE_PERIOD = 10.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
RestRoutesFactory = Callable[[RestExposure, CapabilityRuntime], list[BaseRoute]]
McpEntry = tuple[McpExposure, CapabilityRuntime]


class ServeError(Exception):
    """The exposures cannot be served as configured (message is safe to print)."""


@dataclass
class Listener:
    """One ``address:port`` and the app serving every exposure bound there."""

    address: str
    port: int
    app: ASGIApp
    endpoints: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, namespace, path)
    unauthenticated: list[str] = field(default_factory=list)  # namespaces without inbound auth
    warnings: list[str] = field(default_factory=list)  # configuration notes to print at startup
    starlette: Starlette | None = None  # the routed app inside ``app`` (its lifespan runs the MCP managers)

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Enter to serve ``app`` without uvicorn (in-process tests)."""
        assert self.starlette is not None
        return self.starlette.router.lifespan_context(self.starlette)

    def url(self, path: str = "") -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}{path}"


# -------------------------------------------------------------------------------------- security


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(address: str) -> bool:
    return address in ("", "0.0.0.0", "::", "[::]")


def _host(name: str) -> str:
    """A Host header spelling: IPv6 literals in brackets."""
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def _local_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            names.add(str(info[4][0]))
    return {_host(n) for n in names if n}


def allowed_hosts_for(address: str, extra: Sequence[str] = ()) -> tuple[list[str] | None, list[str]]:
    """(allowed Host values, allowed Origin values) for DNS-rebinding protection.

    Derived from the bind address: loopback names for a loopback bind, the address itself for a
    specific one, loopback plus this machine's names for a wildcard bind; ``extra`` adds more
    (``HOST`` or ``HOST:PORT``). An ``extra`` of ``*`` turns the protection off (hosts None), for
    deployments behind a proxy that owns the Host header.
    """
    if "*" in extra:
        return None, []
    names: set[str] = set()
    if _is_loopback(address) or _is_wildcard(address):
        names.update(LOOPBACK_HOSTS)
    if _is_wildcard(address):
        names.update(_local_names())
    else:
        names.add(_host(address))  # the address itself: 127.0.0.2 and ::1 are loopback too
    hosts: list[str] = []
    origins: list[str] = []
    for name in sorted(names) + [h for h in extra if h]:
        has_port = name.rsplit("]", 1)[-1].count(":") == 1
        hosts.extend([name] if has_port else [name, f"{name}:*"])
        for scheme in ("http", "https"):
            origins.extend([f"{scheme}://{name}"] if has_port else [f"{scheme}://{name}", f"{scheme}://{name}:*"])
    return list(dict.fromkeys(hosts)), list(dict.fromkeys(origins))


def _matches(value: str, allowed: Sequence[str]) -> bool:
    """Exact match, or ``NAME:*`` allowing NAME with any (numeric) port."""
    if value in allowed:
        return True
    name, _, port = value.rpartition(":")
    return bool(name) and port.isascii() and port.isdigit() and f"{name}:*" in allowed


class HostGuard:
    """DNS-rebinding protection for a whole listener (MCP, REST, metadata alike).

    A Host header that is not allowed gets 421, an Origin header that is not allowed gets 403 (no
    Origin is fine: same-origin and non-browser clients). ``hosts=None`` allows everything.
    """

    def __init__(self, app: ASGIApp, hosts: Sequence[str] | None, origins: Sequence[str]) -> None:
        self.app = app
        self.hosts = list(hosts) if hosts is not None else None
        self.origins = list(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            headers = Headers(scope=scope)
            host, origin = headers.get("host", ""), headers.get("origin")
            refusal = None
            if not _matches(host, self.hosts):
                refusal = (421, "Misdirected request", "the Host header names a host this server does not serve")
            elif origin and not _matches(origin, self.origins):
                refusal = (403, "Forbidden", "requests from this Origin are not allowed")
            if refusal is not None:
                status, title, detail = refusal
                logger.warning("refused a request: %s", detail)
                body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
                await JSONResponse(body, status, media_type="application/problem+json")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether declared or streamed.

    A streamed body that grows too large is answered 413 at once; the app then reads a
    disconnect, and whatever it still sends or raises is dropped.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_SIZE) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(scope, receive, send)
                return
        state = {"seen": 0, "started": False, "rejected": False}

        async def guarded_send(message: Message) -> None:
            if state["rejected"]:
                return
            state["started"] = True
            await send(message)

        async def counting_receive() -> Message:
            if state["rejected"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.limit:
                    if not state["started"]:
                        await _too_large(scope, receive, send)
                    state["rejected"] = True
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["rejected"]:
                raise


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("Request body too large", status_code=413)(scope, receive, send)


# -------------------------------------------------------------------------------------- listeners


def _rest_factory(given: RestRoutesFactory | None) -> tuple[RestRoutesFactory | None, dict[Any, Any], Any]:
    """The REST routes builder, its exception handlers and the listener-level OpenAPI route builder.

    The default builder (``expose.rest``) leaves ``/openapi.json`` and auth metadata to the listener,
    which serves one of each for all its exposures.
    """
    try:
        from naftiko_runtime.expose import rest
    except ImportError:
        return given, {}, None
    handlers = rest.rest_exception_handlers()
    if given is not None:
        return given, handlers, None
    return functools.partial(rest.build_rest_routes, listener_routes=False), handlers, rest.openapi_route


def _effective_transport(exposure: McpExposure, transport: str | None) -> str:
    return transport or exposure.transport or "http"


def stdio_entries(runtime: Runtime, transport: str | None = None) -> list[McpEntry]:
    """The MCP exposures served on stdin/stdout."""
    return [(e, u) for e, u in runtime.mcp_exposures() if _effective_transport(e, transport) == "stdio"]


def _auth(
    spec: Any, unit: CapabilityRuntime, namespace: str, http_client_factory: HttpClientFactory | None
) -> InboundAuth | None:
    try:
        return InboundAuth.from_spec(dict(spec) if spec else None, unit.variables, http_client_factory)
    except AuthConfigError as exc:
        raise ServeError(f"exposure {namespace}: {exc}") from None


def _instructions(entries: Sequence[McpEntry]) -> str | None:
    texts = [e.description for e, _ in entries if e.description]
    return "\n\n".join(texts) if texts else None


@dataclass
class _Group:
    address: str
    port: int
    mcp: list[McpEntry] = field(default_factory=list)
    rest: list[tuple[RestExposure, CapabilityRuntime]] = field(default_factory=list)


def _groups(runtime: Runtime, address: str | None, port: int | None, transport: str | None) -> list[_Group]:
    groups: dict[tuple[str, int], _Group] = {}

    def group(exposure: McpExposure | RestExposure) -> _Group:
        bind_port = port if port is not None else exposure.port
        if bind_port is None:
            raise ServeError(f"exposure {exposure.namespace} has no port to listen on; pass --port")
        bind_address = address or exposure.address or "127.0.0.1"
        key = (bind_address, int(bind_port))
        return groups.setdefault(key, _Group(*key))

    for exposure, unit in runtime.mcp_exposures():
        if _effective_transport(exposure, transport) == "http":
            group(exposure).mcp.append((exposure, unit))
    for unit in runtime.units:
        for rest in unit.capability.exposures:
            if isinstance(rest, RestExposure):
                group(rest).rest.append((rest, unit))
    return list(groups.values())


def build_listeners(
    runtime: Runtime,
    *,
    address: str | None = None,
    port: int | None = None,
    rest_routes_factory: RestRoutesFactory | None = None,
    transport: str | None = None,
    allowed_hosts: Sequence[str] = (),
    http_client_factory: HttpClientFactory | None = None,
    max_body_size: int = MAX_BODY_SIZE,
) -> list[Listener]:
    """One ``Listener`` per ``address:port`` of the runtime's HTTP exposures (the runtime is started).

    ``address``/``port`` override every exposure's own; ``transport="http"`` also serves ``stdio``
    exposures over HTTP, ``"stdio"`` leaves MCP off HTTP. Raises ``ServeError``.
    """
    factory, handlers, openapi = _rest_factory(rest_routes_factory)
    return [
        _ListenerBuilder(group, allowed_hosts, http_client_factory, max_body_size).build(factory, handlers, openapi)
        for group in _groups(runtime, address, port, transport)
    ]


class _ListenerBuilder:
    """Routes and MCP endpoints of one group of exposures sharing ``address:port``."""

    def __init__(
        self,
        group: _Group,
        allowed_hosts: Sequence[str],
        http_client_factory: HttpClientFactory | None,
        max_body_size: int,
    ) -> None:
        self.group = group
        self.hosts, self.origins = allowed_hosts_for(group.address, allowed_hosts)
        self.http_client_factory = http_client_factory
        self.max_body_size = max_body_size
        self.routes: list[BaseRoute] = []
        self.runs: list[Callable[[], contextlib.AbstractAsyncContextManager[None]]] = []
        self.listener = Listener(group.address, group.port, app=_not_built)
        # RFC 9728 metadata path -> (namespace, checker) of every exposure claiming it
        self.metadata: dict[str, list[tuple[str, OAuth2ResourceServer]]] = {}

    def build(self, rest_factory: RestRoutesFactory | None, handlers: dict[Any, Any], openapi: Any) -> Listener:
        self._mcp()
        self._rest(rest_factory, openapi)
        self._metadata_routes()
        self.listener.starlette = _app(self.routes, self.runs, handlers)
        body_limited = BodyLimit(self.listener.starlette, self.max_body_size)
        self.listener.app = HostGuard(body_limited, self.hosts, self.origins)
        return self.listener

    def _endpoint(self, entries: Sequence[McpEntry], name: str, auth: InboundAuth | None) -> ASGIApp:
        from naftiko_runtime.expose.mcp import build_server, http_endpoint

        try:
            server = build_server(entries, name=name, instructions=_instructions(entries))
        except ValueError as exc:
            raise ServeError(f"{self.group.address}:{self.group.port}: {exc}") from None
        http = http_endpoint(server, stateless=any(e.stateless for e, _ in entries), max_body_size=self.max_body_size)
        self.runs.append(http.run)
        return AuthMiddleware(http.app, auth) if auth is not None else http.app

    def _claim(self, namespace: str, auth: InboundAuth | None, *endpoint_paths: str) -> None:
        """OAuth2 metadata for ``auth``: at each endpoint path's RFC 9728 form, at the path derived
        from its ``resource``, and at the bare well-known path."""
        if not isinstance(auth, OAuth2ResourceServer):
            return
        paths = [METADATA_PATH + p for p in endpoint_paths] + [auth.metadata_path, METADATA_PATH]
        for path in dict.fromkeys(paths):
            self.metadata.setdefault(path, []).append((namespace, auth))

    def _mcp(self) -> None:
        entries = self.group.mcp
        auths: list[InboundAuth | None] = []
        apps: list[ASGIApp] = []
        for exposure, unit in entries:
            auth = _auth(exposure.authentication, unit, exposure.namespace, self.http_client_factory)
            app = self._endpoint([(exposure, unit)], exposure.namespace, auth)
            path = f"/mcp/{exposure.namespace}"
            self.routes += [Route(path, app), Route(path + "/", app)]
            self.listener.endpoints.append(("MCP", exposure.namespace, path))
            self._claim(exposure.namespace, auth, path)
            if auth is None:
                self.listener.unauthenticated.append(exposure.namespace)
            auths.append(auth)
            apps.append(app)
        if len(entries) == 1:  # the only exposure is also /mcp
            self.routes += [Route("/mcp", apps[0]), Route("/mcp/", apps[0])]
            self.listener.endpoints[-1] = ("MCP", entries[0][0].namespace, "/mcp")
            self._claim(entries[0][0].namespace, auths[0], "/mcp")
        elif entries:
            self._union(entries, auths)

    def _union(self, entries: Sequence[McpEntry], auths: Sequence[InboundAuth | None]) -> None:
        """``/mcp`` serves every exposure at once behind the one credential they accept (exposures
        without authentication add no requirement). When members accept different credentials no
        request could satisfy them all, so each stays at its own path only."""
        distinct = {a.identity(): a for a in auths if a is not None}
        if len(distinct) > 1:
            names = ", ".join(e.namespace for (e, _), a in zip(entries, auths, strict=True) if a is not None)
            self.listener.warnings.append(
                f"MCP exposures {names} on {self.group.address}:{self.group.port} use different authentication: "
                "/mcp does not serve them together; use /mcp/<namespace>"
            )
            return
        auth = next(iter(distinct.values()), None)
        union = self._endpoint(entries, "naftiko", auth)
        self.routes += [Route("/mcp", union), Route("/mcp/", union)]
        self.listener.endpoints.insert(0, ("MCP", "(all)", "/mcp"))
        self._claim("(all)", auth, "/mcp")

    def _rest(self, factory: RestRoutesFactory | None, openapi: Any) -> None:
        for rest, unit in self.group.rest:
            if factory is None:
                raise ServeError(f"REST exposure {rest.namespace} cannot be served: no REST adapter installed")
            try:
                self.routes += factory(rest, unit)
            except AuthConfigError as exc:
                raise ServeError(f"exposure {rest.namespace}: {exc}") from None
            self._claim(rest.namespace, _auth(rest.authentication, unit, rest.namespace, self.http_client_factory))
            self.listener.endpoints.append(("REST", rest.namespace, "/"))
            if not rest.authentication:
                self.listener.unauthenticated.append(rest.namespace)
        if openapi is not None and self.group.rest:
            self.routes.append(openapi(self.group.rest))

    def _metadata_routes(self) -> None:
        """One metadata route per claimed path, unless exposures with different OAuth2 settings claim it."""
        for path, claims in self.metadata.items():
            if len({auth.identity() for _, auth in claims}) == 1:
                self.routes.append(claims[0][1].metadata_route(path))
            elif path != METADATA_PATH:  # the bare path is expected to be ambiguous with several resources
                names = ", ".join(dict.fromkeys(name for name, _ in claims))
                self.listener.warnings.append(
                    f"exposures {names} need different oauth2 metadata at {path}, so it is not served; "
                    "give each its own resource"
                )


async def _not_built(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("listener app not built")


def _app(
    routes: list[BaseRoute],
    runs: Sequence[Callable[[], contextlib.AbstractAsyncContextManager[None]]],
    handlers: dict[Any, Any],
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for run in runs:  # the MCP session managers live as long as the listener
                await stack.enter_async_context(run())
            yield

    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


# ------------------------------------------------------------------------------------------ serve


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
        if family == socket.AF_INET6 and _is_wildcard(address):
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
        if listener.unauthenticated and not _is_loopback(listener.address):
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
        if not runtime.units:
            try:
                await stack.enter_async_context(runtime)
            except BindingError as exc:
                emit(f"error: {exc}", {"event": "error", "message": str(exc)})
                return 1
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
    stdio = stdio_entries(runtime, transport)
    stdio_server = None
    if stdio:
        from naftiko_runtime.expose.mcp import build_server

        try:
            name = stdio[0][0].namespace if len(stdio) == 1 else "naftiko"
            stdio_server = build_server(stdio, name=name, instructions=_instructions(stdio))
        except ValueError as exc:
            raise ServeError(f"stdio: {exc}") from None
    if not listeners and stdio_server is None:
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
        return await _run(listeners, sockets, stdio_server, ready, grace_period, stop_when, signals)
    finally:
        for sock in sockets:
            sock.close()


def _warn_unserved(runtime: Runtime, emit: Callable[[str, dict[str, Any]], None]) -> None:
    """Skill and control adapters validate but are not served yet: say so instead of ignoring them."""
    from naftiko_runtime.model import OtherExposure

    for unit in runtime.units:
        for exposure in unit.capability.exposures:
            if isinstance(exposure, OtherExposure):
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
