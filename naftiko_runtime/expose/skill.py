"""Skill exposures (``type: skill``): a catalog of Agent Skills, served at ``/skills`` on its listener.

* ``GET /skills``: every skill with its tools' names;
* ``GET /skills/{name}``: its front matter and tools (a tool derived from a sibling MCP tool or REST
  operation says where it runs; an instruction tool names its file);
* ``GET /skills/{name}/SKILL.md``: the skill's own ``SKILL.md``, or one written from its front
  matter and tools when its folder has none;
* ``GET /skills/{name}/contents`` and ``/contents/{path}``: the files of its ``location`` folder;
  ``GET /skills/{name}/download``: that folder as a zip (bounded);
* ``POST /skills/{name}/tools/{tool}`` (our extension): call a derived tool with a JSON object of
  arguments, through the runtime, as its MCP tool or REST operation would run.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from naftiko_runtime import jsontext
from naftiko_runtime.errors import InputError, InvocationError
from naftiko_runtime.expose.answers import answer, error_problem, problem, told_truncated
from naftiko_runtime.expose.auth import InboundAuth, caller_of
from naftiko_runtime.expose.files import MAX_STATIC_BYTES, mime_type, safe_file, walk_files
from naftiko_runtime.expose.guards import CALLED
from naftiko_runtime.model import McpExposure, Skill, SkillExposure, SkillTool, plain
from naftiko_runtime.model import Route as RestRoute
from naftiko_runtime.runtime import CallContext, Runtime

__all__ = ["skill_markdown", "skill_routes"]

logger = logging.getLogger("naftiko.skill")
MAX_DOWNLOAD_BYTES = 16 * 1024 * 1024
MAX_ARGUMENT_BYTES = 1024 * 1024


def _summary(skill: Skill) -> dict[str, Any]:
    out: dict[str, Any] = {"name": skill.name, "description": skill.description}
    if isinstance(skill.metadata.get("license"), str):
        out["license"] = skill.metadata["license"]
    out["tools"] = [t.name for t in skill.tools]
    return out


def _tool(tool: SkillTool, exposures: Mapping[str, str]) -> dict[str, Any]:
    if tool.instruction is not None:
        return {"name": tool.name, "description": tool.description, "type": "instruction",
                "instruction": tool.instruction}
    return {"name": tool.name, "description": tool.description, "type": "derived",
            "invocationRef": {"targetNamespace": tool.source, "action": tool.action,
                              "mode": exposures.get(tool.source or "", "mcp")}}


def _detail(skill: Skill, exposures: Mapping[str, str]) -> dict[str, Any]:
    front = {k: v for k, v in skill.metadata.items() if not isinstance(v, Mapping) or k == "metadata"}
    return {"name": skill.name, "description": skill.description, **plain(front),
            "location": skill.location, "tools": [_tool(t, exposures) for t in skill.tools]}


def skill_markdown(skill: Skill) -> str:
    """A ``SKILL.md`` for a skill whose folder has none: YAML front matter, then its tools."""
    lines = ["---", f"name: {json.dumps(skill.name)}", f"description: {json.dumps(skill.description or '')}"]
    for key, value in skill.metadata.items():
        lines.append(f"{key}: {json.dumps(plain(value), ensure_ascii=False)}")
    lines += ["---", "", f"# {skill.name}", "", skill.description or "", "", "## Tools", ""]
    for tool in skill.tools:
        where = f" (instructions: `{tool.instruction}`)" if tool.instruction else ""
        lines.append(f"- **{tool.name}**: {tool.description or ''}{where}")
    return "\n".join(lines) + "\n"


class _Catalog:
    def __init__(self, exposure: SkillExposure, runtime: Runtime, auth: InboundAuth | None) -> None:
        self.skills = {s.name: s for s in exposure.skills}
        self.runtime = runtime
        self.auth = auth
        capability = runtime.owner(exposure).capability
        self.modes = {e.namespace: ("mcp" if isinstance(e, McpExposure) else "rest")
                      for e in (*capability.mcp, *capability.rest)}

    async def _denied(self, request: Request) -> Response | None:
        return await self.auth.check(request) if self.auth is not None else None

    def _skill(self, request: Request) -> Skill | None:
        return self.skills.get(request.path_params["name"])

    async def listing(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        return JSONResponse({"count": len(self.skills), "skills": [_summary(s) for s in self.skills.values()]})

    async def detail(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        skill = self._skill(request)
        if skill is None:
            return problem(404, "not-found", f"no skill named {request.path_params['name']!r}")
        return JSONResponse(_detail(skill, self.modes))

    async def markdown(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        skill = self._skill(request)
        if skill is None:
            return problem(404, "not-found", f"no skill named {request.path_params['name']!r}")
        own = safe_file(skill.folder, "SKILL.md") if skill.folder is not None else None
        if own is not None and own.stat().st_size <= MAX_STATIC_BYTES:
            return FileResponse(own, media_type="text/markdown")
        return PlainTextResponse(skill_markdown(skill), media_type="text/markdown")

    async def contents(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        skill = self._skill(request)
        if skill is None or skill.folder is None or not skill.folder.is_dir():
            return problem(404, "not-found", "this skill has no files")
        files = [{"path": rel, "size": (skill.folder / rel).stat().st_size,
                  "type": mime_type(skill.folder / rel, None)} for rel in walk_files(skill.folder)]
        return JSONResponse({"files": files})

    async def file(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        skill = self._skill(request)
        path = safe_file(skill.folder, request.path_params["path"]) if skill and skill.folder else None
        if path is None or path.stat().st_size > MAX_STATIC_BYTES:
            return problem(404, "not-found", "no such file in this skill")
        return FileResponse(path, media_type=mime_type(path, None))

    async def download(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        skill = self._skill(request)
        if skill is None or skill.folder is None or not skill.folder.is_dir():
            return problem(404, "not-found", "this skill has no files")
        buffer, total = io.BytesIO(), 0
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel in walk_files(skill.folder):
                total += (skill.folder / rel).stat().st_size
                if total > MAX_DOWNLOAD_BYTES:
                    return problem(413, "too-large", "the skill's files are too large to download at once")
                archive.write(skill.folder / rel, rel)
        name = f"{skill.name}.zip"
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def call(self, request: Request) -> Response:
        if denied := await self._denied(request):
            return denied
        skill = self._skill(request)
        tool = next((t for t in skill.tools if t.name == request.path_params["tool"]), None) if skill else None
        if tool is None:
            return problem(404, "not-found", "no such tool in this skill")
        if tool.target is None:
            return problem(404, "not-found", f"skill tool {tool.name!r} is an instruction, not a callable tool")
        raw = await request.body()
        try:
            arguments = _arguments(raw, tool.name)
        except InputError as exc:
            return error_problem(exc)
        request.scope[CALLED] = True  # the call leaves its own log line
        context = CallContext(transport="skill", request_id=request.headers.get("x-request-id"),
                              caller=caller_of(request.scope), traceparent=request.headers.get("traceparent"))
        try:
            result = await self.runtime.invoke(tool.target, arguments, context)
        except InvocationError as exc:
            return error_problem(exc)
        except Exception as exc:  # a bug must not take the server down nor leak internals
            logger.error("skill tool %s failed: %s", tool.name, type(exc).__name__)
            logger.debug("skill tool %s failure", tool.name, exc_info=True)
            return problem(500, "internal-error", "the tool failed unexpectedly", operation=tool.name)
        media_type = tool.target.binary_media_type if isinstance(tool.target, RestRoute) else None
        return told_truncated(answer(result, 200, media_type), context)


def _arguments(raw: bytes, tool: str) -> dict[str, Any]:
    """The JSON object of arguments a call posts (none: no arguments); ``InputError`` otherwise."""
    if len(raw) > MAX_ARGUMENT_BYTES:
        raise InputError([{"pointer": "", "message": "the arguments are too large"}], operation=tool)
    try:
        arguments = jsontext.loads(raw) if raw.strip() else {}
    except ValueError:
        raise InputError([{"pointer": "", "message": "the request body is not valid JSON"}], operation=tool) from None
    if not isinstance(arguments, dict):
        raise InputError([{"pointer": "", "message": "the arguments must be a JSON object"}], operation=tool)
    return arguments


def skill_routes(exposure: SkillExposure, runtime: Runtime, auth: InboundAuth | None) -> list[BaseRoute]:
    catalog = _Catalog(exposure, runtime, auth)
    return [
        Route("/skills", catalog.listing, methods=["GET"]),
        Route("/skills/{name}", catalog.detail, methods=["GET"]),
        Route("/skills/{name}/SKILL.md", catalog.markdown, methods=["GET"]),
        Route("/skills/{name}/contents", catalog.contents, methods=["GET"]),
        Route("/skills/{name}/contents/{path:path}", catalog.file, methods=["GET"]),
        Route("/skills/{name}/download", catalog.download, methods=["GET"]),
        Route("/skills/{name}/tools/{tool}", catalog.call, methods=["POST"]),
    ]
