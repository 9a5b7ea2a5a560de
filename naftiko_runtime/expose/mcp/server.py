"""MCP servers and their transports: a low-level ``mcp.server.Server`` per endpoint, Streamable HTTP
and stdio."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from mcp import MCPError, types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from naftiko_runtime import __version__
from naftiko_runtime.expose.mcp.registry import Context, Entry, McpRegistry
from naftiko_runtime.telemetry.metrics import Metrics

__all__ = ["HttpEndpoint", "build_server", "http_endpoint", "run_stdio"]


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
        if isinstance(result, types.CallToolResult) and result.is_error:
            error = "tool_error"
        self.metrics.mcp_request(ctx.method, tool, error, seconds)
        return result


def build_server(entries: Sequence[Entry], *, name: str, instructions: str | None = None) -> Server[Any]:
    """A low-level MCP server for ``entries`` (one exposure, or the union of several).

    Raises ``ServeError`` when two entries expose the same tool or prompt name.
    """
    registry = McpRegistry(entries)
    has_resources = bool(registry.resources)
    server: Server[Any] = Server(
        name,
        version=__version__,
        instructions=instructions,
        get_tool_input_schema=registry.input_schema,
        on_list_tools=registry.list_tools,
        on_call_tool=registry.call_tool,
        on_list_resources=registry.list_resources if has_resources else None,
        on_list_resource_templates=registry.list_resource_templates if has_resources else None,
        on_read_resource=registry.read_resource if has_resources else None,
        on_list_prompts=registry.list_prompts if registry.prompts else None,
        on_get_prompt=registry.get_prompt if registry.prompts else None,
    )
    metrics = entries[0][1].telemetry.metrics if entries else None
    if metrics is not None:
        server.middleware.append(_Measured(metrics))
    return server


# ------------------------------------------------------------------------------------- transports


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """A Streamable HTTP endpoint: ``app`` answers requests once ``run()`` is entered (app lifespan);
    ``sessions()`` counts its open sessions (the older, session-based era)."""

    app: ASGIApp
    run: Callable[[], AbstractAsyncContextManager[None]]
    sessions: Callable[[], int]


def http_endpoint(server: Server[Any], *, stateless: bool, max_body_size: int = 4 * 1024 * 1024) -> HttpEndpoint:
    """Streamable HTTP for both protocol eras, SSE responses (progress works).

    ``stateless`` only affects the 2025-11-25 handshake leg (2026-07-28 requests never have a
    session). Host/Origin (DNS-rebinding) checks are not done here: the listener guards every route
    with them (``expose.server.HostGuard``).
    """
    manager = StreamableHTTPSessionManager(
        app=server,
        json_response=False,
        stateless=stateless,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=max_body_size,
    )
    # An object, not a bound method: Starlette routes call functions as request handlers.
    return HttpEndpoint(app=StreamableHTTPASGIApp(manager), run=manager.run,
                        sessions=lambda: len(manager._server_instances))


async def run_stdio(server: Server[Any]) -> None:
    """Serve ``server`` on stdin/stdout until stdin closes. Anything else must log to stderr."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
