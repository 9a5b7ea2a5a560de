"""MCP adapter: every ``type: mcp`` exposure served by a low-level ``mcp.server.Server``.

The only module that imports the MCP SDK. Handlers read a registry computed once from the model
and delegate execution to ``Runtime.invoke``; nothing here knows HTTP or upstream details.

Error policy (the SDK turns any escaping exception into an opaque ``-32603``):
- a tool failure (bad arguments, upstream status, timeout, mapping) is a result with
  ``isError: true`` and a message a model can act on;
- a request that cannot be served at all (unknown tool, resource or prompt, missing prompt
  argument) raises ``MCPError(INVALID_PARAMS)``;
- a dynamic resource that fails raises ``MCPError(INTERNAL_ERROR)`` with the client-safe message.

Sessions (the older, session-based era over HTTP) cost memory until they end, and anyone who can
reach the endpoint can open one with a single ``initialize``. They are held to two limits (see
``limits``): ``session_idle_timeout`` closes a session without requests for that long, and at
``max_sessions`` the longest-idle session that never completed a call is closed to make room for a
new one (``_SessionManager``), where the SDK would refuse every new session with 503 until some
expire. Inbound authentication wraps the endpoint, so no session is opened before it passes.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from mcp import MCPError, types
from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko_runtime import __version__
from naftiko_runtime.errors import (
    DecodeError,
    InputError,
    InvocationError,
    MappingError,
    ServeError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from naftiko_runtime.expose.auth import caller_of
from naftiko_runtime.expose.files import MAX_STATIC_BYTES, mime_type, safe_file, walk_files
from naftiko_runtime.formats import BinaryBody, RawBody
from naftiko_runtime.model import McpExposure, Prompt, Resource, Tool, plain
from naftiko_runtime.runtime import CallContext, Runtime
from naftiko_runtime.telemetry.logs import Tally
from naftiko_runtime.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from naftiko_runtime.jsonschemas import Validator

__all__ = ["HttpEndpoint", "build_server", "http_endpoint", "run_stdio", "tool_result"]

logger = logging.getLogger("naftiko.mcp")

Entry = tuple[McpExposure, Runtime]
Context = ServerRequestContext[Any, Any]

_TEMPLATE_PARAM = re.compile(r"\{([^{}]+)\}")



def json_text(value: Any) -> str:
    """Compact, deterministic text for a result; strings are returned as they are."""
    if isinstance(value, str):
        return str.__str__(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------------------ tools


class _OutputCheck:
    """Checks results against the advertised outputSchema; the JSON Schema library is imported and
    the validator compiled on the first call, not at start-up (about 20 ms)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator: Validator | None = None

    def is_valid(self, value: Any) -> bool:
        if self._validator is None:
            from naftiko_runtime.jsonschemas import Validator

            self._validator = Validator(self.schema)
        return self._validator.is_valid(value)


@dataclass(frozen=True, slots=True)
class _ToolEntry:
    spec: Tool
    runtime: Runtime
    wire: types.Tool
    input_schema: dict[str, Any]
    output_validator: _OutputCheck | None


def _tool_entry(tool: Tool, runtime: Runtime) -> _ToolEntry:
    input_schema = plain(tool.input_schema)
    out = plain(tool.output_schema) if tool.output_schema is not None else None
    annotations = plain(tool.annotations)
    wire = types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description or None,
        input_schema=input_schema,
        output_schema=out,
        annotations=types.ToolAnnotations.model_validate(annotations) if annotations else None,
    )
    return _ToolEntry(tool, runtime, wire, input_schema, _OutputCheck(out) if out else None)


def binary_content(value: BinaryBody, uri: str) -> types.ImageContent | types.AudioContent | types.EmbeddedResource:
    """Bytes as MCP content of their kind: an image, a sound, else an embedded blob resource at ``uri``."""
    data = base64.b64encode(value).decode("ascii")
    media_type = value.media_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("image/"):
        return types.ImageContent(data=data, mime_type=media_type)
    if media_type.startswith("audio/"):
        return types.AudioContent(data=data, mime_type=media_type)
    return types.EmbeddedResource(resource=types.BlobResourceContents(uri=uri, mime_type=value.media_type, blob=data))


def tool_result(value: Any, *, validator: _OutputCheck | None = None, name: str = "result") -> types.CallToolResult:
    """A successful call: JSON text always, ``structuredContent`` when the value is an object; bytes
    (``outputRawFormat: binary``) as base64 content of their media type."""
    if isinstance(value, BinaryBody):
        return types.CallToolResult(content=[binary_content(value, f"naftiko://tools/{name}/result")])
    content: list[types.ContentBlock] = [
        types.TextContent(text=value if isinstance(value, RawBody) else json_text(value))]
    if isinstance(value, dict):
        if validator is not None and not validator.is_valid(value):
            raise _OutputMismatch
        return types.CallToolResult(content=content, structured_content=value)
    if validator is not None:
        raise _OutputMismatch
    return types.CallToolResult(content=content)


def _told_truncated(result: types.CallToolResult, truncated: dict[str, Any]) -> types.CallToolResult:
    """The result with a note that paging stopped at a cap (the model reads text; clients read _meta)."""
    from naftiko_runtime.paging import truncation_note

    meta = {**(result.meta or {}), "naftiko.dev/truncated": truncated}
    return result.model_copy(update={"content": [*result.content, types.TextContent(text=truncation_note(truncated))],
                                      "meta": meta})


class _OutputMismatch(Exception):
    """The mapped result does not match the outputSchema the tool advertises."""


_STATE_WORDS = ("not running", "not live", "not active", "not started", "not found in state", "already",
                "is stopped", "has stopped", "is stopping", "is starting", "inactive", "not in progress")


def _hint(exc: InvocationError) -> str:
    if isinstance(exc, UpstreamError):
        status = exc.status
        said = exc.upstream_message.lower()
        if status in (404, 409) and any(word in said for word in _STATE_WORDS):
            return ("The upstream says the thing is not in a state that allows this; check its current state "
                    "(get or list it) before calling again.")
        if status in (400, 409, 422):
            return "The upstream rejected the request; check the argument values and call again."
        if status in (401, 403):
            return "The upstream refused this server's credentials; changing arguments will not help."
        if status == 404:
            return "The upstream found nothing at that address; check identifiers and call again."
        if status == 429:
            return "The upstream is rate limiting; wait before calling again."
        if status >= 500:
            return "The upstream failed; retrying later may succeed."
        return ""
    if isinstance(exc, UpstreamTimeout):
        return "The upstream did not answer in time; retrying later may succeed."
    if isinstance(exc, UpstreamUnavailable):
        return "The upstream could not be reached; retrying later may succeed."
    if isinstance(exc, DecodeError | MappingError):
        return "The upstream answer could not be used; changing arguments will probably not help."
    return ""


def error_message(tool: str, exc: InvocationError) -> str:
    """What the model reads when a call fails: what happened, where, and what to do about it."""
    if isinstance(exc, InputError):
        lines = [f"Invalid arguments for tool '{tool}'; fix them and call again:"]
        for problem in exc.problems:
            where = problem.get("pointer") or ""
            lines.append(f"- {where if where not in ('', '/') else '(arguments)'}: {problem.get('message')}")
        return "\n".join(lines)
    operation = exc.operation if exc.operation and exc.operation != tool else None
    if isinstance(exc, UpstreamError):
        text = f"Tool '{tool}' failed: upstream operation '{operation or tool}' answered HTTP {exc.status}"
        if exc.upstream_message:
            text += f": {exc.upstream_message}"
    elif operation is not None and operation not in exc.message:
        text = f"Tool '{tool}' failed: upstream operation '{operation}': {exc}"
    else:
        text = f"Tool '{tool}' failed: {exc}"
    hint = _hint(exc)
    return f"{text}\n{hint}" if hint else text


def _error_result(entry: _ToolEntry, text: str, data: dict[str, Any] | None = None) -> types.CallToolResult:
    """An ``isError`` result; bound values are masked again here, whatever produced the message."""
    redactor = entry.runtime.owner(entry.spec).redactor
    structured = None
    if data is not None and entry.output_validator is None:  # an outputSchema would not describe it
        structured = redactor.tree(data)
    return types.CallToolResult(content=[types.TextContent(text=redactor.text(text))],
                                structured_content=structured, is_error=True)


# -------------------------------------------------------------------------------------- resources


@dataclass(frozen=True, slots=True)
class _ResourceEntry:
    spec: Resource
    runtime: Runtime
    pattern: re.Pattern[str] | None  # resource templates
    params: tuple[str, ...]

    @property
    def base_uri(self) -> str:
        return self.spec.uri.rstrip("/")

    @property
    def folder(self) -> Path | None:
        return self.spec.folder


def _template_pattern(uri: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    parts: list[str] = []
    last = 0
    for match in _TEMPLATE_PARAM.finditer(uri):
        parts.append(re.escape(uri[last : match.start()]))
        parts.append("([^/?#]+)")
        names.append(match.group(1).strip())
        last = match.end()
    parts.append(re.escape(uri[last:]))
    return re.compile("^" + "".join(parts) + "$"), tuple(names)


def _resource_entry(spec: Resource, runtime: Runtime) -> _ResourceEntry:
    if spec.folder is not None and not spec.folder.is_dir():
        logger.warning("resource %s: %s is not a folder; it lists no files", spec.name, spec.location)
    dynamic_template = spec.is_template and spec.folder is None
    pattern, params = _template_pattern(spec.uri) if dynamic_template else (None, ())
    return _ResourceEntry(spec, runtime, pattern, params)


def _file_contents(
    uri: str, path: Path, declared: str | None
) -> types.TextResourceContents | types.BlobResourceContents:
    if path.stat().st_size > MAX_STATIC_BYTES:
        raise MCPError(types.INVALID_PARAMS, f"Resource {uri} is too large to read")
    data = path.read_bytes()
    mime = mime_type(path, declared)
    try:
        return types.TextResourceContents(uri=uri, mime_type=mime, text=data.decode("utf-8"))
    except UnicodeDecodeError:
        return types.BlobResourceContents(uri=uri, mime_type=mime, blob=base64.b64encode(data).decode("ascii"))


# ---------------------------------------------------------------------------------------- prompts


@dataclass(frozen=True, slots=True)
class _PromptEntry:
    spec: Prompt
    runtime: Runtime
    wire: types.Prompt


def _prompt_entry(spec: Prompt, runtime: Runtime) -> _PromptEntry:
    arguments = [
        types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in spec.inputs
    ]
    wire = types.Prompt(name=spec.name, title=spec.title, description=spec.description, arguments=arguments or None)
    return _PromptEntry(spec, runtime, wire)


# --------------------------------------------------------------------------------------- registry


class McpRegistry:
    """Tools, resources and prompts of one or several exposures, computed once; the handlers."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.tools: dict[str, _ToolEntry] = {}
        self.resources: list[_ResourceEntry] = []
        self.prompts: dict[str, _PromptEntry] = {}
        for exposure, runtime in entries:
            for tool in exposure.tools:
                if tool.name in self.tools:
                    raise ServeError(f"tool name '{tool.name}' is exposed twice on the same MCP endpoint")
                self.tools[tool.name] = _tool_entry(tool, runtime)
            self.resources.extend(_resource_entry(r, runtime) for r in exposure.resources)
            for prompt in exposure.prompts:
                if prompt.name in self.prompts:
                    raise ServeError(f"prompt name '{prompt.name}' is exposed twice on the same MCP endpoint")
                self.prompts[prompt.name] = _prompt_entry(prompt, runtime)
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
        context = _call_context(ctx)
        if context.progress is not None:
            await context.progress(0, f"calling {name}")
        try:
            value = await entry.runtime.invoke(entry.spec, params.arguments or {}, context)
            result = tool_result(value, validator=entry.output_validator, name=name)
            if context.truncated is not None:
                result = _told_truncated(result, context.truncated)
        except InvocationError as exc:
            return _error_result(entry, error_message(name, exc), exc.as_dict())
        except _OutputMismatch:
            logger.warning("tool %s: result does not match its advertised outputSchema", name)
            return _error_result(
                entry,
                f"Tool '{name}' produced a result that does not match its declared "
                "output schema; this is a server configuration problem.",
            )
        except Exception:  # a bug must still answer the model, never as an opaque protocol error
            logger.exception("tool %s failed unexpectedly", name)
            return _error_result(entry, f"Tool '{name}' failed because of an internal error in the server.")
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
                return types.ReadResourceResult(contents=[_file_contents(uri, path, entry.spec.mime_type)])
        for entry in self.resources:
            match = entry.pattern.match(uri) if entry.pattern is not None else None
            if match is not None:
                args = {name: unquote(value) for name, value in zip(entry.params, match.groups(), strict=True)}
                return await self._read_dynamic(ctx, entry, uri, args)
        raise MCPError(types.INVALID_PARAMS, f"Unknown resource: {uri}")

    async def _read_dynamic(self, ctx: Context, entry: _ResourceEntry, uri: str,
                            args: dict[str, Any]) -> types.ReadResourceResult:
        try:
            value = await entry.runtime.invoke(entry.spec, args, _call_context(ctx))
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
                                                  _call_context(ctx))
        except InvocationError as exc:
            logger.error("prompt %s: %s", params.name, exc)
            raise MCPError(types.INTERNAL_ERROR, f"Prompt '{params.name}' is unavailable") from None
        messages = [types.PromptMessage(role="assistant" if role == "assistant" else "user",
                                        content=types.TextContent(text=text)) for role, text in rendered]
        return types.GetPromptResult(description=entry.spec.description, messages=messages)


def _call_context(ctx: Context) -> CallContext:
    """What the runtime records of an MCP request: its id, who made it, how to report progress."""
    scope = getattr(ctx.request, "scope", None)

    async def progress(value: float, message: str) -> None:
        await _progress(ctx, value, message)

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


async def _progress(ctx: Context, progress: float, message: str) -> None:
    """Report progress when the caller asked for it; never let reporting fail a call."""
    try:
        await ctx.session.report_progress(progress, 1, message)
    except Exception:
        logger.debug("progress notification not delivered", exc_info=True)


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
    return HttpEndpoint(app=_SessionEndpoint(manager), run=manager.run, sessions=manager.count)


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


async def run_stdio(server: Server[Any]) -> None:
    """Serve ``server`` on stdin/stdout until stdin closes. Anything else must log to stderr."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
