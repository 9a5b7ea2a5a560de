"""MCP servers and their transports: a low-level ``mcp.server.Server`` per endpoint, Streamable HTTP
and stdio."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import anyio
from mcp import MCPError, types
from mcp.server import Server
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server

from naftiko_runtime import __version__
from naftiko_runtime.expose.mcp.registry import Context, Entry, McpRegistry
from naftiko_runtime.telemetry.metrics import Metrics

__all__ = ["McpServer", "build_server", "run_stdio"]


class _Measured:
    """Context-tier middleware: every MCP request's duration, by method, tool and error type."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, ctx: Context, call_next: Callable[[Context], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        name = ctx.params.get("name") if ctx.params else None
        tool = name if ctx.method == "tools/call" and isinstance(name, str) else None
        error: str | None = None
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            error = str(exc.error.code)
            raise
        except Exception as exc:
            error = type(exc).__qualname__
            raise
        finally:
            seconds = time.perf_counter() - started
            if error is not None:
                self.metrics.mcp_request(ctx.method, tool, error, seconds)
        if _is_tool_error(result):
            error = "tool_error"
        self.metrics.mcp_request(ctx.method, tool, error, seconds)
        return result


def _is_tool_error(result: Any) -> bool:
    """A failed tool call, as the handler returned it or already in its wire form (a dict): the SDK
    serialises results inside the middleware chain."""
    if isinstance(result, types.CallToolResult):
        return result.is_error is True
    return isinstance(result, dict) and result.get("isError") is True


class McpServer(Server[Any]):
    """An SDK server whose handlers read ``registry``; a hot reload replaces the registry in place, so
    open sessions (of the session-based era) keep working and are told when a list changed.

    ``list_changed`` advertises ``listChanged`` for tools, prompts and resources in the handshake (the
    server can then notify); the 2026-07-28 era delivers such notifications only on
    ``subscriptions/listen`` streams, which this server does not serve."""

    def __init__(self, registry: McpRegistry, *, name: str, instructions: str | None = None,
                 list_changed: bool = False, metrics: Metrics | None = None) -> None:
        self.registry = registry
        self.list_changed = list_changed
        self.open_sessions: Callable[[], Collection[str]] | None = None  # set by the HTTP transport
        self._sessions: dict[str, ServerSession] = {}  # session id -> a handle on its standalone stream
        resources, prompts = bool(registry.resources), bool(registry.prompts)
        self.shape = (resources, prompts)  # which handlers are registered: a replacement must need the same
        super().__init__(
            name,
            version=__version__,
            instructions=instructions,
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources if resources else None,
            on_list_resource_templates=self._list_resource_templates if resources else None,
            on_read_resource=self._read_resource if resources else None,
            on_list_prompts=self._list_prompts if prompts else None,
            on_get_prompt=self._get_prompt if prompts else None,
        )
        self.middleware.append(self._remember_session)
        if metrics is not None:
            self.middleware.append(_Measured(metrics))

    def create_initialization_options(self, notification_options: NotificationOptions | None = None,
                                      *args: Any, **kwargs: Any) -> InitializationOptions:
        if notification_options is None and self.list_changed:
            notification_options = NotificationOptions(prompts_changed=True, resources_changed=True,
                                                       tools_changed=True)
        return super().create_initialization_options(notification_options, *args, **kwargs)

    # ------------------------------------------------------------------------------- replacing

    def replace(self, registry: McpRegistry, instructions: str | None) -> list[str]:
        """Serve ``registry`` from now on (calls already running finish with the old one). Returns
        the lists that changed (``tools``, ``prompts``, ``resources``), for ``notify``."""
        old, self.registry = self.registry, registry
        self.instructions = instructions
        return [kind for kind, listing in _LISTINGS.items() if listing(old) != listing(registry)]

    async def notify(self, changed: Sequence[str], *, timeout: float = 2.0) -> int:
        """Send ``notifications/<kind>/list_changed`` to every open session; how many were told."""
        if not changed or not self.list_changed:
            return 0
        self._forget_closed()
        told = 0
        for session in list(self._sessions.values()):
            with anyio.move_on_after(timeout), contextlib.suppress(Exception):  # best effort, never blocks a swap
                for kind in changed:
                    await getattr(session, _SENDERS[kind])()
                told += 1
        return told

    async def _remember_session(self, ctx: Context, call_next: Callable[[Context], Awaitable[Any]]) -> Any:
        """Keep one handle per session of the session-based era (only its requests carry a session
        id): its standalone stream is where list changes are sent."""
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get("mcp-session-id") if headers is not None else None
        if session_id and session_id not in self._sessions:
            self._forget_closed()
            self._sessions[session_id] = ctx.session
        return await call_next(ctx)

    def _forget_closed(self) -> None:
        if self.open_sessions is not None:
            open_now = self.open_sessions()
            for session_id in [s for s in self._sessions if s not in open_now]:
                del self._sessions[session_id]

    # -------------------------------------------------------------- handlers: the current registry

    def _input_schema(self, name: str) -> Any:
        return self.registry.input_schema(name)

    async def _list_tools(self, ctx: Context, params: Any) -> Any:
        return await self.registry.list_tools(ctx, params)

    async def _call_tool(self, ctx: Context, params: Any) -> Any:
        return await self.registry.call_tool(ctx, params)

    async def _list_resources(self, ctx: Context, params: Any) -> Any:
        return await self.registry.list_resources(ctx, params)

    async def _list_resource_templates(self, ctx: Context, params: Any) -> Any:
        return await self.registry.list_resource_templates(ctx, params)

    async def _read_resource(self, ctx: Context, params: Any) -> Any:
        return await self.registry.read_resource(ctx, params)

    async def _list_prompts(self, ctx: Context, params: Any) -> Any:
        return await self.registry.list_prompts(ctx, params)

    async def _get_prompt(self, ctx: Context, params: Any) -> Any:
        return await self.registry.get_prompt(ctx, params)


_LISTINGS: dict[str, Callable[[McpRegistry], Any]] = {
    "tools": lambda r: [t.wire for t in r.tools.values()],
    "prompts": lambda r: [p.wire for p in r.prompts.values()],
    "resources": lambda r: [(e.spec.name, e.spec.uri, e.spec.description, e.spec.mime_type, e.folder)
                            for e in r.resources],
}


_SENDERS = {"tools": "send_tool_list_changed", "prompts": "send_prompt_list_changed",
            "resources": "send_resource_list_changed"}


def build_server(entries: Sequence[Entry], *, name: str, instructions: str | None = None,
                 list_changed: bool = False) -> McpServer:
    """A low-level MCP server for ``entries`` (one exposure, or the union of several).

    Raises ``ServeError`` when two entries expose the same tool or prompt name.
    """
    metrics = entries[0][1].telemetry.metrics if entries else None
    return McpServer(McpRegistry(entries), name=name, instructions=instructions, list_changed=list_changed,
                     metrics=metrics)


# ------------------------------------------------------------------------------------- transports


async def run_stdio(server: Server[Any]) -> None:
    """Serve ``server`` on stdin/stdout until stdin closes. Anything else must log to stderr."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
