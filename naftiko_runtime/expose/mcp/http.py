"""Streamable HTTP for both protocol eras, and the sessions of the older, session-based one.

Sessions cost memory until they end, and anyone who can reach the endpoint can open one with a
single ``initialize``. They are held to two limits (``expose.limits``): ``session_idle_timeout``
closes a session without requests for that long, and at ``max_sessions`` the longest-idle session
that never completed a call is closed to make room for a new one (``_SessionManager``), where the
SDK would refuse every new session with 503 until some expire. Inbound authentication wraps the
endpoint, so no session is opened before it passes, and a session answers only the caller who
opened it.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko_runtime.expose.auth import caller_of
from naftiko_runtime.expose.mcp.server import McpServer
from naftiko_runtime.telemetry.logs import Tally

__all__ = ["HttpEndpoint", "http_endpoint"]

logger = logging.getLogger("naftiko.mcp")


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """A Streamable HTTP endpoint: ``app`` answers requests once ``run()`` is entered (app lifespan);
    ``sessions()`` counts its open sessions (the older, session-based era)."""

    app: ASGIApp
    run: Callable[[], AbstractAsyncContextManager[None]]
    sessions: Callable[[], int]
    server: Server[Any]
    stateless: bool


def http_endpoint(server: Server[Any], *, stateless: bool, max_body_size: int = 4 * 1024 * 1024,
                  session_idle_timeout: float = 300.0, max_sessions: int = 1000) -> HttpEndpoint:
    """Streamable HTTP for both protocol eras, SSE responses (progress works).

    ``stateless`` only affects the 2025-11-25 handshake leg (2026-07-28 requests never have a
    session). Host/Origin (DNS-rebinding) checks are not done here: the listener guards every route
    with them (``expose.guards.HostGuard``).
    """
    manager = _SessionManager(
        app=server,
        json_response=False,
        stateless=stateless,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=max_body_size,
        session_idle_timeout=session_idle_timeout,
        max_sessions=max_sessions,
    )
    if isinstance(server, McpServer):
        server.open_sessions = manager._server_instances.keys
    return HttpEndpoint(app=_SessionEndpoint(manager), run=manager.run, sessions=manager.count, server=server,
                        stateless=stateless)


class _SessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, making room at ``max_sessions`` instead of refusing new sessions.

    The session closed to make room is the longest-idle one that never completed a call, else the
    longest-idle one; a session with a request in flight (an open GET stream included) is never
    closed, and when every one has, the SDK's 503 stands. This hooks ``_admit_session``, which the
    SDK calls under its session-creation lock before it registers a session.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.used: weakref.WeakSet[StreamableHTTPServerTransport] = weakref.WeakSet()  # completed a call
        self.tally = Tally(logger, "MCP sessions closed to make room")

    def count(self) -> int:
        return len(self._server_instances)

    def session(self, scope: Scope) -> StreamableHTTPServerTransport | None:
        """The open session a request names, if any."""
        if not self._server_instances:
            return None
        wanted = MCP_SESSION_ID_HEADER.encode()
        value = next((v for k, v in scope["headers"] if k == wanted), None)
        return self._server_instances.get(value.decode("latin-1")) if value is not None else None

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
            self._make_room()
        return super()._admit_session(requestor)

    def _make_room(self) -> None:
        idle = [(key, t) for key, t in self._server_instances.items() if _expiry(t) is not None]
        if not idle or self._task_group is None:
            return
        key, transport = min(idle, key=lambda item: (item[1] in self.used, _expiry(item[1])))
        del self._server_instances[key]  # its id answers 404 from now on
        self._session_owners.pop(key, None)
        self._task_group.start_soon(transport.terminate)  # which ends the session's server task
        self.tally.add("never used" if transport not in self.used else "used")


def _expiry(transport: StreamableHTTPServerTransport) -> float | None:
    """When an idle session would expire; None while a request is in flight or it is still opening."""
    scope = transport.idle_scope
    return scope.deadline if scope is not None and math.isfinite(scope.deadline) else None


class _SessionEndpoint:
    """The ASGI app of an endpoint (an object: Starlette routes call functions as request handlers).
    A session whose POST is answered 200 (a request, not only notifications) has completed a call."""

    def __init__(self, manager: _SessionManager) -> None:
        self.manager = manager
        self.app = StreamableHTTPASGIApp(manager)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = caller_of(scope)
        if caller is not None and "user" not in scope:
            # The SDK ties a session to the principal that opened it: another caller who learns its
            # id gets 404, as if it did not exist.
            scope = {**scope, "user": AuthenticatedUser(AccessToken(token="", client_id=caller, scopes=[]))}
        transport = self.manager.session(scope) if scope.get("method") == "POST" else None
        if transport is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status == 200:
            self.manager.used.add(transport)


class _ClientGone(logging.Filter):
    """The SDK logs a traceback at error level for every client that disconnects before its request
    body arrived, which the body timeout does on purpose (and counts): not a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ClientDisconnect))


logging.getLogger("mcp.server.streamable_http").addFilter(_ClientGone())
