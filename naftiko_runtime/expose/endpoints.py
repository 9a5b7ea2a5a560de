"""MCP endpoints that outlive a hot reload.

A session of the session-based MCP era lives in its endpoint's session manager: rebuilding the
endpoint on a reload would end every open session ("Session not found" on the client's next
request). ``Endpoints`` keeps each MCP endpoint of a ``serve`` process by place (address, port,
name) for as long as some version serves it. A version's listeners are built through a ``Plan``:
an endpoint at the same place serving the same kinds of things (tools only, resources, prompts) and
in the same session mode is kept and gets the new version's tools, resources and prompts; any other
is built afresh. ``start`` runs the new endpoints' session managers, ``apply`` switches (no await,
so no request sees half a version) and says which kept endpoints' lists changed and which
endpoints the new version dropped (retired once the old version's calls are over).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

if TYPE_CHECKING:
    from naftiko_runtime.expose.limits import Limits
    from naftiko_runtime.expose.mcp import HttpEndpoint, McpRegistry, McpServer

__all__ = ["Endpoints", "Kept", "Plan"]

Key = tuple[str, int, str]  # address, port, endpoint name (a namespace, or the union)


@dataclass
class Kept:
    """A running endpoint; setting ``retire`` ends its session manager."""

    http: HttpEndpoint
    retire: anyio.Event = field(default_factory=anyio.Event)


class Endpoints:
    """The MCP endpoints of one ``serve`` process, by place."""

    def __init__(self) -> None:
        self.kept: dict[Key, Kept] = {}

    def plan(self) -> Plan:
        return Plan(self)

    def retire_all(self) -> None:
        for kept in self.kept.values():
            kept.retire.set()


@dataclass
class Changes:
    """What ``Plan.apply`` did: servers whose lists changed (to notify) and endpoints now unused."""

    changed: list[tuple[McpServer, list[str]]] = field(default_factory=list)
    dropped: list[Kept] = field(default_factory=list)

    async def notify(self) -> None:
        for server, kinds in self.changed:
            await server.notify(kinds)


class Plan:
    """The MCP endpoints of one version being built."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.reused: dict[Key, tuple[McpRegistry, str | None]] = {}
        self.created: dict[Key, HttpEndpoint] = {}
        self.started: dict[Key, Kept] = {}

    def endpoint(self, key: Key, entries: Sequence[Any], *, instructions: str | None, stateless: bool,
                 max_body_size: int, limits: Limits) -> tuple[HttpEndpoint, bool]:
        """The endpoint at ``key`` for ``entries``: (endpoint, whether it is new). Raises ``ServeError``."""
        from naftiko_runtime.expose.mcp import McpRegistry, McpServer, http_endpoint

        registry = McpRegistry(entries)
        kept = self.endpoints.kept.get(key)
        if kept is not None and kept.http.stateless == stateless and isinstance(kept.http.server, McpServer) \
                and kept.http.server.shape == (bool(registry.resources), bool(registry.prompts)):
            self.reused[key] = (registry, instructions)
            return kept.http, False
        metrics = entries[0][1].telemetry.metrics if entries else None
        server = McpServer(registry, name=key[2], instructions=instructions, list_changed=True, metrics=metrics)
        http = http_endpoint(server, stateless=stateless, max_body_size=max_body_size,
                             session_idle_timeout=limits.session_idle_timeout, max_sessions=limits.max_sessions)
        self.created[key] = http
        return http, True

    async def start(self, group: TaskGroup) -> None:
        """Run the session managers of the endpoints this version adds (before it takes requests)."""
        for key, http in self.created.items():
            kept = Kept(http)
            await group.start(_hold, http.run, kept.retire)
            self.started[key] = kept

    def apply(self) -> Changes:
        """This version's endpoints become the served ones. Call with no await between it and the
        switch of the listeners' apps."""
        from naftiko_runtime.expose.mcp import McpServer

        changes = Changes()
        for key, (registry, instructions) in self.reused.items():
            server = self.endpoints.kept[key].http.server
            assert isinstance(server, McpServer)
            changes.changed.append((server, server.replace(registry, instructions)))
        changes.dropped = [kept for key, kept in self.endpoints.kept.items() if key not in self.reused]
        self.endpoints.kept = {**{key: self.endpoints.kept[key] for key in self.reused}, **self.started}
        return changes

    def discard(self) -> None:
        """This version will not be served: end what ``start`` ran."""
        for kept in self.started.values():
            kept.retire.set()


async def _hold(run: Callable[[], AbstractAsyncContextManager[None]], retire: anyio.Event, *,
                task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    async with run():
        task_status.started()
        await retire.wait()
