"""Guards in front of every listener: DNS-rebinding protection (Host/Origin) and request body limits."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko_runtime.expose.answers import status_problem

__all__ = ["CALLED", "MAX_BODY_SIZE", "ROUTE", "AccessLog", "BodyLimit", "HostGuard", "allowed_hosts_for",
           "is_local_address", "is_loopback", "is_wildcard"]

logger = logging.getLogger("naftiko.serve")
requests_log = logging.getLogger("naftiko.http")

MAX_BODY_SIZE = 4 * 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(address: str) -> bool:
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


_LOCAL_KEPT = 64  # addresses found local are remembered, up to this many (127/8 alone has millions)
_LOCAL_SEEN: set[str] = set()


def is_local_address(value: str) -> bool:
    """Whether a Host or Origin value is one of this machine's IP addresses (with a port or none),
    asked of the kernel (a socket binds only a local address), so addresses added after start-up
    count too. Never the unspecified, a multicast or a broadcast address, however written: browsers
    reach local services through 0.0.0.0."""
    name = value.split("://", 1)[-1]
    if name.startswith("["):
        name, _, rest = name[1:].partition("]")
    else:
        name, colon, port = name.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isascii() and rest[1:].isdigit()):
        return False  # only a port may follow the address
    if name in _LOCAL_SEEN:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name (only the names listed are allowed), or IPv6 not in brackets
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast or (address.version == 4 and address.is_reserved):
        return False  # 240/4 holds the broadcast address; IPv6's "reserved" ::/8 holds ::1
    try:
        with socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    if len(_LOCAL_SEEN) < _LOCAL_KEPT:
        _LOCAL_SEEN.add(name)
    return True


def allowed_hosts_for(address: str, extra: Sequence[str] = ()) -> tuple[list[str] | None, list[str]]:
    """(allowed Host values, allowed Origin values) for DNS-rebinding protection.

    Derived from the bind address: loopback names for a loopback bind, the address itself for a
    specific one, loopback plus this machine's names for a wildcard bind (which ``HostGuard`` also
    lets through any of this machine's addresses: ``is_local_address``); ``extra`` adds more
    (``HOST`` or ``HOST:PORT``). An ``extra`` of ``*`` turns the protection off (hosts None), for
    deployments behind a proxy that owns the Host header.
    """
    if "*" in extra:
        return None, []
    names: set[str] = set()
    if is_loopback(address) or is_wildcard(address):
        names.update(LOOPBACK_HOSTS)
    if is_wildcard(address):
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


def _printable(value: str, limit: int = 100) -> str:
    """A header value safe to echo in one line: printable ASCII only, cut at ``limit``."""
    text = "".join(c if c.isascii() and c.isprintable() else "?" for c in value[:limit])
    return text + ("..." if len(value) > limit else "")


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
    ``local_addresses`` (a wildcard bind) also allows this machine's IP addresses, as a scraper or
    a probe sends them: a DNS-rebinding attack needs a name, and an address is not one.
    """

    def __init__(self, app: ASGIApp, hosts: Sequence[str] | None, origins: Sequence[str], *,
                 local_addresses: bool = False) -> None:
        self.app = app
        self.hosts = list(hosts) if hosts is not None else None
        self.origins = list(origins)
        self.local_addresses = local_addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts is not None:
            host, origin = "", None
            for name, value in scope["headers"]:  # one pass over the raw list: this runs per request
                if name == b"host":
                    host = value.decode("latin-1")
                elif name == b"origin":
                    origin = value.decode("latin-1")
            refusal = None
            if not _matches(host, self.hosts) and not (self.local_addresses and is_local_address(host)):
                shown = _printable(host)
                refusal = (421,
                           f"the Host header `{shown}` names a host this server does not serve; to accept it, "
                           f"start the server with --allowed-host {shown.rsplit(':', 1)[0] or '<host>'} "
                           "(or NAFTIKO_ALLOWED_HOSTS)")
            elif origin and not _matches(origin, self.origins) and not (
                    self.local_addresses and is_local_address(origin)):
                refusal = (403, f"requests from the Origin `{_printable(origin)}` are not allowed")
            if refusal is not None:
                status, detail = refusal
                scope[CALLED] = True  # this warning is the request's line
                logger.warning("refused a request: %s", detail)
                await status_problem(status, detail)(scope, receive, send)
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
        chunked = False
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(scope, receive, send)
                return
            chunked = chunked or name == b"transfer-encoding"
        if not chunked:  # no body, or one the server reads only up to its declared length: within the limit
            await self.app(scope, receive, send)
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
    await status_problem(413, "the request body is over the limit of this server")(scope, receive, send)


# ------------------------------------------------------------------------------------- access log

CALLED = "naftiko.called"  # ASGI scope key: the request ran a call, which logged its own line
ROUTE = "naftiko.route"  # ASGI scope key: the REST route (as declared) that answered
_QUIET = ("/health/", "/metrics")


def _is_mcp(path: str) -> bool:
    return path == "/mcp" or path.startswith("/mcp/")


class AccessLog:
    """Every HTTP request of a listener: REST requests are measured (``http_server_request_duration``)
    and, unless a call already logged them, leave one log line; MCP requests are measured by the
    MCP adapter, and health checks and scrapes log only at debug level."""

    def __init__(self, app: ASGIApp, metrics: Any = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_mcp(str(scope.get("path", ""))):  # the MCP adapter measures those
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        path, method = str(scope.get("path", "")), str(scope.get("method", ""))
        route = scope.get(ROUTE)
        if self.metrics is not None and not path.startswith(_QUIET):
            self.metrics.http_request(method, route or "", status, str(status) if status >= 500 else None, seconds)
        if scope.get(CALLED):
            return
        level = logging.DEBUG if path.startswith(_QUIET) else logging.INFO
        if requests_log.isEnabledFor(level):
            fields = {"event": "request", "method": method, "path": path, "status": status,
                      "duration_ms": round(seconds * 1000, 1)}
            requests_log.log(level, f"{method} {path} {status} {fields['duration_ms']}ms", extra={"fields": fields})
