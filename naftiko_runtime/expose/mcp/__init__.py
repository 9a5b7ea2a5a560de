"""MCP adapter: every ``type: mcp`` exposure served by a low-level ``mcp.server.Server``.

The only package that imports the MCP SDK. Handlers read a registry computed once from the model
and delegate execution to ``Runtime.invoke``; nothing here knows HTTP or upstream details.

Error policy (the SDK turns any escaping exception into an opaque ``-32603``):
- a tool failure (bad arguments, upstream status, timeout, mapping) is a result with
  ``isError: true`` and a message a model can act on;
- a request that cannot be served at all (unknown tool, resource or prompt, missing prompt
  argument) raises ``MCPError(INVALID_PARAMS)``; a call refused or cut because the server is
  shutting down raises ``MCPError(INTERNAL_ERROR)`` with ``retryAfter`` in its data;
- a dynamic resource that fails raises ``MCPError(INTERNAL_ERROR)`` with the client-safe message.

Modules: ``entries`` (what is served, results and failure messages), ``registry`` (the handlers),
``server`` (the SDK server and stdio), ``http`` (Streamable HTTP and its sessions).
"""

from naftiko_runtime.expose.files import safe_file
from naftiko_runtime.expose.mcp.entries import error_message, json_text, tool_result
from naftiko_runtime.expose.mcp.http import HttpEndpoint, http_endpoint
from naftiko_runtime.expose.mcp.registry import McpRegistry, wants_progress
from naftiko_runtime.expose.mcp.server import McpServer, build_server, run_stdio

__all__ = ["HttpEndpoint", "McpRegistry", "McpServer", "build_server", "error_message", "http_endpoint", "json_text",
           "run_stdio", "safe_file", "tool_result", "wants_progress"]
