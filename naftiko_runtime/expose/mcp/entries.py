"""What an MCP endpoint serves, computed once per exposure: tool, resource and prompt entries, how
results and failures become MCP results, and the messages a model reads when a call fails."""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp import MCPError, types

from naftiko_runtime.errors import (
    DecodeError,
    InputError,
    InvocationError,
    MappingError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from naftiko_runtime.expose.files import MAX_STATIC_BYTES, mime_type
from naftiko_runtime.formats import BinaryBody, RawBody
from naftiko_runtime.model import Prompt, Resource, Tool, plain
from naftiko_runtime.runtime import Runtime

if TYPE_CHECKING:
    from naftiko_runtime.jsonschemas import Validator

__all__ = ["OutputCheck", "OutputMismatch", "PromptEntry", "ResourceEntry", "ToolEntry", "binary_content",
           "error_message", "error_result", "file_contents", "json_text", "prompt_entry", "resource_entry",
           "told_truncated", "tool_entry", "tool_result"]

logger = logging.getLogger("naftiko.mcp")

_TEMPLATE_PARAM = re.compile(r"\{([^{}]+)\}")



def json_text(value: Any) -> str:
    """Compact, deterministic text for a result; strings are returned as they are."""
    if isinstance(value, str):
        return str.__str__(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------------------ tools


class OutputCheck:
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
class ToolEntry:
    spec: Tool
    runtime: Runtime
    wire: types.Tool
    input_schema: dict[str, Any]
    output_validator: OutputCheck | None


def tool_entry(tool: Tool, runtime: Runtime) -> ToolEntry:
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
    return ToolEntry(tool, runtime, wire, input_schema, OutputCheck(out) if out else None)


def binary_content(value: BinaryBody, uri: str) -> types.ImageContent | types.AudioContent | types.EmbeddedResource:
    """Bytes as MCP content of their kind: an image, a sound, else an embedded blob resource at ``uri``."""
    data = base64.b64encode(value).decode("ascii")
    media_type = value.media_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("image/"):
        return types.ImageContent(data=data, mime_type=media_type)
    if media_type.startswith("audio/"):
        return types.AudioContent(data=data, mime_type=media_type)
    return types.EmbeddedResource(resource=types.BlobResourceContents(uri=uri, mime_type=value.media_type, blob=data))


def tool_result(value: Any, *, validator: OutputCheck | None = None, name: str = "result") -> types.CallToolResult:
    """A successful call: JSON text always, ``structuredContent`` when the value is an object; bytes
    (``outputRawFormat: binary``) as base64 content of their media type."""
    if isinstance(value, BinaryBody):
        return types.CallToolResult(content=[binary_content(value, f"naftiko://tools/{name}/result")])
    content: list[types.ContentBlock] = [
        types.TextContent(text=value if isinstance(value, RawBody) else json_text(value))]
    if isinstance(value, dict):
        if validator is not None and not validator.is_valid(value):
            raise OutputMismatch
        return types.CallToolResult(content=content, structured_content=value)
    if validator is not None:
        raise OutputMismatch
    return types.CallToolResult(content=content)


def told_truncated(result: types.CallToolResult, truncated: dict[str, Any]) -> types.CallToolResult:
    """The result with a note that paging stopped at a cap (the model reads text; clients read _meta)."""
    from naftiko_runtime.paging import truncation_note

    meta = {**(result.meta or {}), "naftiko.dev/truncated": truncated}
    return result.model_copy(update={"content": [*result.content, types.TextContent(text=truncation_note(truncated))],
                                      "meta": meta})


class OutputMismatch(Exception):
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


def error_result(entry: ToolEntry, text: str, data: dict[str, Any] | None = None) -> types.CallToolResult:
    """An ``isError`` result; bound values are masked again here, whatever produced the message."""
    redactor = entry.runtime.owner(entry.spec).redactor
    structured = None
    if data is not None and entry.output_validator is None:  # an outputSchema would not describe it
        structured = redactor.tree(data)
    return types.CallToolResult(content=[types.TextContent(text=redactor.text(text))],
                                structured_content=structured, is_error=True)


# -------------------------------------------------------------------------------------- resources


@dataclass(frozen=True, slots=True)
class ResourceEntry:
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


def resource_entry(spec: Resource, runtime: Runtime) -> ResourceEntry:
    if spec.folder is not None and not spec.folder.is_dir():
        logger.warning("resource %s: %s is not a folder; it lists no files", spec.name, spec.location)
    dynamic_template = spec.is_template and spec.folder is None
    pattern, params = _template_pattern(spec.uri) if dynamic_template else (None, ())
    return ResourceEntry(spec, runtime, pattern, params)


def file_contents(
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
class PromptEntry:
    spec: Prompt
    runtime: Runtime
    wire: types.Prompt


def prompt_entry(spec: Prompt, runtime: Runtime) -> PromptEntry:
    arguments = [
        types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in spec.inputs
    ]
    wire = types.Prompt(name=spec.name, title=spec.title, description=spec.description, arguments=arguments or None)
    return PromptEntry(spec, runtime, wire)
