"""Listeners: every HTTP exposure grouped by ``address:port`` (``model.listeners.plan``) into one app.

Each MCP exposure answers at ``/mcp/<namespace>`` and ``/mcp`` serves the union of the listener's
MCP exposures (or the single one), unless they accept different credentials (then a startup
warning says so). Each listener has one Host/Origin check in front of every route, one
``/openapi.json`` for all its REST exposures, and the RFC 9728 metadata of its OAuth2 exposures.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from naftiko_runtime.errors import AuthConfigError, ServeError
from naftiko_runtime.expose.auth import (
    AuthMiddleware,
    HttpClientFactory,
    InboundAuth,
)
from naftiko_runtime.expose.endpoints import Plan
from naftiko_runtime.expose.guards import (
    MAX_BODY_SIZE,
    AccessLog,
    BodyLimit,
    HostGuard,
    allowed_hosts_for,
    is_wildcard,
)
from naftiko_runtime.expose.health import Health, health_routes
from naftiko_runtime.expose.limits import Limits
from naftiko_runtime.expose.oauth2 import METADATA_PATH, OAuth2ResourceServer
from naftiko_runtime.model import Auth, Exposure, McpExposure, RestExposure, SkillExposure
from naftiko_runtime.model import listeners as planner
from naftiko_runtime.runtime import Runtime

__all__ = ["Listener", "build_listeners", "stdio_server"]

RestRoutesFactory = Callable[[RestExposure, Runtime], list[BaseRoute]]
Reload = Callable[[], Awaitable[str]]
McpEntry = tuple[McpExposure, Runtime]


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

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Enter to serve ``app``: it runs the listener's MCP session managers."""
        if self.starlette is None:
            return contextlib.nullcontext()
        return self.starlette.router.lifespan_context(self.starlette)

    def url(self, path: str = "") -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}{path}"


def _rest_factory(given: RestRoutesFactory | None) -> tuple[RestRoutesFactory, dict[Any, Any], Any]:
    """The REST routes builder, its exception handlers and the listener-level OpenAPI route builder.

    The default builder leaves ``/openapi.json`` and auth metadata to the listener, which serves one
    of each for all its exposures.
    """
    from naftiko_runtime.expose import rest
    from naftiko_runtime.expose.answers import rest_exception_handlers

    handlers = rest_exception_handlers()
    if given is not None:
        return given, handlers, None
    return functools.partial(rest.build_rest_routes, listener_routes=False), handlers, rest.openapi_route


def _auth(auth: Auth | None, runtime: Runtime, exposure: Exposure,
          http_client_factory: HttpClientFactory | None) -> InboundAuth | None:
    try:
        return InboundAuth.from_model(auth, runtime.owner(exposure).variables, http_client_factory)
    except AuthConfigError as exc:
        raise ServeError(f"exposure {exposure.namespace}: {exc}") from None


def instructions(entries: Sequence[McpEntry]) -> str | None:
    texts = [e.description for e, _ in entries if e.description]
    return "\n\n".join(texts) if texts else None


@dataclass
class _Group:
    address: str
    port: int
    mcp: list[McpEntry] = field(default_factory=list)
    rest: list[tuple[RestExposure, Runtime]] = field(default_factory=list)
    skill: list[tuple[SkillExposure, Runtime]] = field(default_factory=list)


def _groups(runtime: Runtime, address: str | None, port: int | None, transport: str | None) -> list[_Group]:
    capabilities = runtime.capabilities
    for exposure in planner.unlisted(capabilities, port=port, transport=transport):
        raise ServeError(f"exposure {exposure.namespace} has no port to listen on; pass --port")
    groups = []
    for plan in planner.plan(capabilities, address=address, port=port, transport=transport):
        group = _Group(plan.address, plan.port, [(e, runtime) for e, _ in plan.mcp],
                       [(e, runtime) for e, _ in plan.rest], [(e, runtime) for e, _ in plan.skill])
        if group.mcp or group.rest or group.skill:
            groups.append(group)
    return groups


def stdio_server(runtime: Runtime, transport: str | None = None) -> tuple[Any, list[McpEntry]]:
    """The one MCP server for every exposure served on stdin/stdout (None when there is none)."""
    entries = [(e, runtime) for e, _ in planner.stdio(runtime.capabilities, transport)]
    if not entries:
        return None, []
    from naftiko_runtime.expose.mcp import build_server

    name = entries[0][0].namespace if len(entries) == 1 else "naftiko"
    return build_server(entries, name=name, instructions=instructions(entries)), entries


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
    health: Health | None = None,
    reload: Reload | None = None,
    limits: Limits | None = None,
    endpoints: Plan | None = None,
) -> list[Listener]:
    """One ``Listener`` per ``address:port`` of the runtime's HTTP exposures (the runtime is started),
    each with the health endpoints (and ``/metrics`` when metrics are on).

    ``address``/``port`` override every exposure's own; ``transport="http"`` also serves ``stdio``
    exposures over HTTP, ``"stdio"`` leaves MCP off HTTP. ``limits`` gives the MCP session limits.
    With ``endpoints`` (a hot-reloading server) the MCP endpoints come from that plan, which runs
    them; otherwise each listener's lifespan runs its own. Raises ``ServeError``.
    """
    factory, handlers, openapi = _rest_factory(rest_routes_factory)
    health = health or Health(runtime, started=True)
    controls = _controls(runtime, health, allowed_hosts, http_client_factory, reload)
    # Metrics go to the control port when there is one, else to every listener.
    on_listeners = runtime.telemetry.metrics is not None and not controls
    return [
        _ListenerBuilder(group, allowed_hosts, http_client_factory, max_body_size, health, limits or Limits(),
                         endpoints).build(
            factory, handlers, openapi, metrics=on_listeners)
        for group in _groups(runtime, address, port, transport)
    ] + controls


def _controls(runtime: Runtime, health: Health, allowed_hosts: Sequence[str],
              http_client_factory: HttpClientFactory | None, reload: Reload | None) -> list[Listener]:
    """One listener per control exposure, on its own port (``--port`` does not move it)."""
    from naftiko_runtime.expose.control import control_app

    found = []
    for plan in planner.plan(runtime.capabilities):
        for control, _ in plan.control:
            auth = _auth(control.authentication, runtime, control, http_client_factory)
            listener = Listener(plan.address, plan.port, app=_not_built)
            listener.endpoints.append(("CONTROL", control.namespace or "control", "/"))
            hosts, origins = allowed_hosts_for(plan.address, allowed_hosts)
            app = control_app(control, health, auth, reload, metrics=runtime.telemetry.metrics is not None)
            listener.app = AccessLog(HostGuard(app, hosts, origins, local_addresses=is_wildcard(plan.address)), None)
            found.append(listener)
    return found


class _ListenerBuilder:
    """Routes and MCP endpoints of one group of exposures sharing ``address:port``."""

    def __init__(
        self,
        group: _Group,
        allowed_hosts: Sequence[str],
        http_client_factory: HttpClientFactory | None,
        max_body_size: int,
        health: Health,
        limits: Limits,
        endpoints: Plan | None = None,
    ) -> None:
        self.group = group
        self.limits = limits
        self.health = health
        self.endpoints = endpoints
        self.hosts, self.origins = allowed_hosts_for(group.address, allowed_hosts)
        self.http_client_factory = http_client_factory
        self.max_body_size = max_body_size
        self.routes: list[BaseRoute] = []
        self.runs: list[Callable[[], contextlib.AbstractAsyncContextManager[None]]] = []
        self.listener = Listener(group.address, group.port, app=_not_built)
        # RFC 9728 metadata path -> (namespace, checker) of every exposure claiming it
        self.metadata: dict[str, list[tuple[str, OAuth2ResourceServer]]] = {}

    def build(self, rest_factory: RestRoutesFactory, handlers: dict[Any, Any], openapi: Any, *,
              metrics: bool) -> Listener:
        registry = self.health.runtime.telemetry.metrics
        self.routes += health_routes(self.health, registry if metrics else None)
        self._mcp()
        self._rest(rest_factory, openapi)
        self._skills()
        self._metadata_routes()
        self.listener.starlette = _app(self.routes, self.runs, handlers)
        body_limited = BodyLimit(self.listener.starlette, self.max_body_size)
        guard = HostGuard(body_limited, self.hosts, self.origins, local_addresses=is_wildcard(self.group.address))
        self.listener.app = AccessLog(guard, registry)
        return self.listener

    def _endpoint(self, entries: Sequence[McpEntry], name: str, auth: InboundAuth | None) -> ASGIApp:
        from naftiko_runtime.expose.mcp import build_server, http_endpoint

        stateless = any(e.stateless for e, _ in entries)
        try:
            if self.endpoints is not None:
                http, new = self.endpoints.endpoint((self.group.address, self.group.port, name), entries,
                                                    instructions=instructions(entries), stateless=stateless,
                                                    max_body_size=self.max_body_size, limits=self.limits)
            else:
                server = build_server(entries, name=name, instructions=instructions(entries))
                http, new = http_endpoint(server, stateless=stateless, max_body_size=self.max_body_size,
                                          session_idle_timeout=self.limits.session_idle_timeout,
                                          max_sessions=self.limits.max_sessions), True
                self.runs.append(http.run)
        except ServeError as exc:
            raise ServeError(f"{self.group.address}:{self.group.port}: {exc}") from None
        if new and self.health.runtime.telemetry.metrics is not None:
            self.health.runtime.telemetry.metrics.count_sessions(http.sessions)
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
        for exposure, runtime in entries:
            auth = _auth(exposure.authentication, runtime, exposure, self.http_client_factory)
            app = self._endpoint([(exposure, runtime)], exposure.namespace, auth)
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

    def _rest(self, factory: RestRoutesFactory, openapi: Any) -> None:
        for rest, runtime in self.group.rest:
            try:
                self.routes += factory(rest, runtime)
            except AuthConfigError as exc:
                raise ServeError(f"exposure {rest.namespace}: {exc}") from None
            self._claim(rest.namespace, _auth(rest.authentication, runtime, rest, self.http_client_factory))
            self.listener.endpoints.append(("REST", rest.namespace, "/"))
            if not rest.authentication:
                self.listener.unauthenticated.append(rest.namespace)
        if openapi is not None and self.group.rest:
            self.routes.append(openapi(self.group.rest))

    def _skills(self) -> None:
        from naftiko_runtime.expose.skill import skill_routes

        for exposure, runtime in self.group.skill:
            auth = _auth(exposure.authentication, runtime, exposure, self.http_client_factory)
            self.routes += skill_routes(exposure, runtime, auth)
            self._claim(exposure.namespace, auth, "/skills")
            self.listener.endpoints.append(("SKILLS", exposure.namespace, "/skills"))
            if auth is None:
                self.listener.unauthenticated.append(exposure.namespace)

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
