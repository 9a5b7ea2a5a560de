"""C, the MCP reference: a bare low-level ``mcp.server.Server`` with one proxying tool.

    python benchmarks/mcp_c.py --port N --upstream http://127.0.0.1:M

Tool ``get-live-stream {id}`` GETs ``{upstream}/v2/live-streams/{id}`` through one
``httpx2.AsyncClient`` from the server lifespan and returns the object as JSON text plus
``structuredContent`` (what naftiko returns too). ``get_tool_input_schema`` is passed, as the SDK
recommends. Served with the SDK's own ``streamable_http_app`` defaults (SSE mode, stateful legacy
leg, localhost-only host check) on uvicorn with one worker at ``/mcp``. No argument validation, no
output schema: the floor any MCP server built on this SDK stands on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import uvicorn
from mcp import MCPError, types
from mcp.server import Server
from mcp.server.context import ServerRequestContext

TOOL = "get-live-stream"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "string", "description": "Id of the live stream."}},
    "required": ["id"],
}
SCHEMAS = {TOOL: SCHEMA}
TOOLS = types.ListToolsResult(tools=[types.Tool(name=TOOL, description="Get one live stream.", input_schema=SCHEMA)])


def build_server(upstream: str) -> Server[dict[str, Any]]:
    @contextlib.asynccontextmanager
    async def lifespan(server: Server[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        async with httpx2.AsyncClient(base_url=upstream, timeout=10) as client:
            yield {"client": client}

    async def list_tools(
        ctx: ServerRequestContext[dict[str, Any]], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return TOOLS

    async def call_tool(
        ctx: ServerRequestContext[dict[str, Any]], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name != TOOL:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        stream_id = (params.arguments or {}).get("id", "")
        response = await ctx.lifespan_context["client"].get(f"/v2/live-streams/{stream_id}")
        data = response.json()
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(data))], structured_content=data)

    return Server(
        "bench-c",
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=SCHEMAS.get,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    app = build_server(args.upstream).streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="asyncio", http="h11", access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main()
