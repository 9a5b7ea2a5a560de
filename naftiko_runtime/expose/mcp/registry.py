"""The handlers of one MCP endpoint: tools, resources and prompts of one or several exposures, each
call delegated to ``Runtime.invoke``."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from mcp import MCPError, types
from mcp.server.context import ServerRequestContext

from naftiko_runtime.errors import InvocationError, ServeError, ShuttingDown
from naftiko_runtime.expose.auth import caller_of
from naftiko_runtime.expose.files import mime_type, safe_file, walk_files
from naftiko_runtime.expose.mcp.entries import (
    OutputMismatch,
    PromptEntry,
    ResourceEntry,
    ToolEntry,
    error_message,
    error_result,
    file_contents,
    json_text,
    prompt_entry,
    resource_entry,
    told_truncated,
    tool_entry,
    tool_result,
)
from naftiko_runtime.formats import BinaryBody
from naftiko_runtime.model import McpExposure
from naftiko_runtime.runtime import CallContext, Runtime

__all__ = ["Context", "Entry", "McpRegistry", "call_context", "report_progress", "wants_progress"]

logger = logging.getLogger("naftiko.mcp")

Entry = tuple[McpExposure, Runtime]
Context = ServerRequestContext[Any, Any]


# --------------------------------------------------------------------------------------- registry


class McpRegistry:
    """Tools, resources and prompts of one or several exposures, computed once; the handlers."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.tools: dict[str, ToolEntry] = {}
        self.resources: list[ResourceEntry] = []
        self.prompts: dict[str, PromptEntry] = {}
        for exposure, runtime in entries:
            for tool in exposure.tools:
                if tool.name in self.tools:
                    raise ServeError(f"tool name '{tool.name}' is exposed twice on the same MCP endpoint")
                self.tools[tool.name] = tool_entry(tool, runtime)
            self.resources.extend(resource_entry(r, runtime) for r in exposure.resources)
            for prompt in exposure.prompts:
                if prompt.name in self.prompts:
                    raise ServeError(f"prompt name '{prompt.name}' is exposed twice on the same MCP endpoint")
                self.prompts[prompt.name] = prompt_entry(prompt, runtime)
        self._tool_list = types.ListToolsResult(tools=[t.wire for t in self.tools.values()])

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self.tools.get(name)
        return entry.input_schema if entry else None

    # -------------------------------------------------------------------------------------- tools

    async def list_tools(self, ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return self._tool_list

    async def call_tool(self, ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        entry = self.tools.get(params.name)
        if entry is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        name = entry.spec.name
        context = call_context(ctx)
        if context.progress is not None:
            await context.progress(0, f"calling {name}")
        try:
            value = await entry.runtime.invoke(entry.spec, params.arguments or {}, context)
            result = tool_result(value, validator=entry.output_validator, name=name)
            if context.truncated is not None:
                result = told_truncated(result, context.truncated)
        except ShuttingDown as exc:  # the server is going away, not the tool failing: call again elsewhere
            raise MCPError(types.INTERNAL_ERROR, exc.message,
                           {"error": exc.kind, "retryAfter": exc.retry_after}) from None
        except InvocationError as exc:
            return error_result(entry, error_message(name, exc), exc.as_dict())
        except OutputMismatch:
            logger.warning("tool %s: result does not match its advertised outputSchema", name)
            return error_result(
                entry,
                f"Tool '{name}' produced a result that does not match its declared "
                "output schema; this is a server configuration problem.",
            )
        except Exception:  # a bug must still answer the model, never as an opaque protocol error
            logger.exception("tool %s failed unexpectedly", name)
            return error_result(entry, f"Tool '{name}' failed because of an internal error in the server.")
        if context.progress is not None:
            await context.progress(1, f"{name} done")
        return result

    # ---------------------------------------------------------------------------------- resources

    async def list_resources(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        listed: list[types.Resource] = []
        for entry in self.resources:
            spec = entry.spec
            if entry.folder is not None:
                for rel in walk_files(entry.folder) if entry.folder.is_dir() else ():
                    listed.append(
                        types.Resource(
                            name=f"{spec.name}/{rel}",
                            title=f"{spec.title}: {rel}" if spec.title else None,
                            uri=f"{entry.base_uri}/{rel}",
                            description=spec.description,
                            mime_type=mime_type(Path(rel), spec.mime_type),
                        )
                    )
            elif entry.pattern is None:
                listed.append(
                    types.Resource(
                        name=spec.name,
                        title=spec.title,
                        uri=spec.uri,
                        description=spec.description,
                        mime_type=spec.mime_type or "application/json",
                    )
                )
        return types.ListResourcesResult(resources=listed)

    async def list_resource_templates(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        templates = [
            types.ResourceTemplate(
                name=e.spec.name,
                title=e.spec.title,
                uri_template=e.spec.uri,
                description=e.spec.description,
                mime_type=e.spec.mime_type or "application/json",
            )
            for e in self.resources
            if e.pattern is not None
        ]
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def read_resource(self, ctx: Context, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        for entry in self.resources:
            if entry.folder is None and entry.pattern is None and entry.spec.uri == uri:
                return await self._read_dynamic(ctx, entry, uri, {})
        for entry in self.resources:
            if entry.folder is not None and uri.startswith(entry.base_uri + "/"):
                path = safe_file(entry.folder, uri[len(entry.base_uri) + 1 :])
                if path is None:
                    break  # never fall through to another folder with a refused path
                return types.ReadResourceResult(contents=[file_contents(uri, path, entry.spec.mime_type)])
        for entry in self.resources:
            match = entry.pattern.match(uri) if entry.pattern is not None else None
            if match is not None:
                args = {name: unquote(value) for name, value in zip(entry.params, match.groups(), strict=True)}
                return await self._read_dynamic(ctx, entry, uri, args)
        raise MCPError(types.INVALID_PARAMS, f"Unknown resource: {uri}")

    async def _read_dynamic(self, ctx: Context, entry: ResourceEntry, uri: str,
                            args: dict[str, Any]) -> types.ReadResourceResult:
        try:
            value = await entry.runtime.invoke(entry.spec, args, call_context(ctx))
        except InvocationError as exc:
            message = entry.runtime.owner(entry.spec).redactor.text(error_message(entry.spec.name, exc))
            raise MCPError(types.INTERNAL_ERROR, message) from None
        except Exception:
            logger.exception("resource %s failed unexpectedly", entry.spec.name)
            raise MCPError(types.INTERNAL_ERROR, f"Resource {uri} failed because of an internal error") from None
        mime = entry.spec.mime_type or "application/json"
        if isinstance(value, BinaryBody):  # bytes: a base64 blob of the declared (else upstream) media type
            blob = base64.b64encode(value).decode("ascii")
            return types.ReadResourceResult(contents=[types.BlobResourceContents(
                uri=uri, mime_type=entry.spec.mime_type or value.media_type, blob=blob)])
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=json_text(value))]
        )

    # ------------------------------------------------------------------------------------ prompts

    async def list_prompts(self, ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[p.wire for p in self.prompts.values()])

    async def get_prompt(self, ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        entry = self.prompts.get(params.name)
        if entry is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}")
        arguments = params.arguments or {}
        missing = [a.name for a in entry.spec.inputs if a.required and not arguments.get(a.name)]
        if missing:
            raise MCPError(types.INVALID_PARAMS, f"Prompt '{params.name}' needs the arguments: {', '.join(missing)}")
        known = {a.name for a in entry.spec.inputs}
        try:
            rendered = await entry.runtime.invoke(entry.spec, {k: v for k, v in arguments.items() if k in known},
                                                  call_context(ctx))
        except InvocationError as exc:
            logger.error("prompt %s: %s", params.name, exc)
            raise MCPError(types.INTERNAL_ERROR, f"Prompt '{params.name}' is unavailable") from None
        messages = [types.PromptMessage(role="assistant" if role == "assistant" else "user",
                                        content=types.TextContent(text=text)) for role, text in rendered]
        return types.GetPromptResult(description=entry.spec.description, messages=messages)


def call_context(ctx: Context) -> CallContext:
    """What the runtime records of an MCP request: its id, who made it, how to report progress."""
    scope = getattr(ctx.request, "scope", None)

    async def progress(value: float, message: str) -> None:
        await report_progress(ctx, value, message)

    return CallContext(transport="mcp", request_id=str(ctx.request_id) if ctx.request_id is not None else None,
                       caller=caller_of(scope) if isinstance(scope, dict) else None,
                       progress=progress if wants_progress(ctx) else None)


def wants_progress(ctx: Context) -> bool:
    """Whether the client asked for progress: a ``progressToken`` in the request's ``_meta``.

    The SDK's in-process dispatch (``Client(server)`` on 2026-07-28) carries no token: it hands the
    client's callback to the request's dispatch context instead, which the SDK does not expose, so
    it is looked for (a few wrappers deep); if the SDK changes, in-process clients merely get no
    progress."""
    if ctx.meta and ctx.meta.get("progress_token") is not None:
        return True
    outbound = getattr(ctx.session, "_request_outbound", None)
    for _ in range(4):
        if outbound is None:
            return False
        if getattr(outbound, "_on_progress", None) is not None:
            return True
        outbound = getattr(outbound, "_inner", None)
    return False


async def report_progress(ctx: Context, progress: float, message: str) -> None:
    """Report progress when the caller asked for it; never let reporting fail a call."""
    try:
        await ctx.session.report_progress(progress, 1, message)
    except Exception:
        logger.debug("progress notification not delivered", exc_info=True)
