"""The skill exposure (`type: skill`) on its listener: the catalog, each skill's metadata and files,
tool references that resolve to the tools served beside it, and calling them through the catalog,
against the bundled 100ms simulator (`--sandbox`), with the exposure's bearer authentication."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest

from naftiko_runtime import app
from naftiko_runtime.expose.listeners import build_listeners
from naftiko_runtime.model import Capability

ROOT = Path(__file__).resolve().parents[2]
HMS = ROOT / "capabilities" / "hms-live-streams.yaml"
TOKEN = "skill-token-123"
ROOM = "665f1c2e9a1b2c3d4e5f6a7b"

CAPABILITY = """\
ikanos: "1.0.0-beta5"
info:
  display: Streaming skills
  description: 100ms live streams as Agent Skills.
binds:
  - namespace: env
    keys:
      HMS_MANAGEMENT_TOKEN: HMS_MANAGEMENT_TOKEN
      SKILL_TOKEN: SKILL_TOKEN
capability:
  consumes:
    - import: live-streams
      from: {hms}
  exposes:
    - type: mcp
      port: 9300
      namespace: stream-tools
      tools:
        start-stream:
          description: Start a live stream in a room.
          inputParameters:
            room_id: {{type: string, description: The room.}}
          call: live-streams.startlivestreamforroom
          with: {{room_id: stream-tools.room_id}}
        list-streams:
          description: Every live stream.
          call: live-streams.listlivestreams
    - type: rest
      port: 9300
      namespace: stream-api
      resources:
        streams:
          path: /streams
          operations:
            list-streams-rest:
              method: GET
              call: live-streams.listlivestreams
    - type: skill
      port: 9300
      namespace: stream-skills
      description: Skills for live streaming.
      authentication: {{type: bearer, token: "{{{{SKILL_TOKEN}}}}"}}
      skills:
        streaming:
          description: Start live streams and see which are running.
          license: Apache-2.0
          allowed-tools: start-stream list-streams
          location: {folder}
          tools:
            start-stream:
              description: Start a stream.
              from: {{sourceNamespace: stream-tools, action: start-stream}}
            list-streams:
              description: List the streams.
              from: {{sourceNamespace: stream-tools, action: list-streams}}
            list-over-rest:
              description: List the streams over REST.
              from: {{sourceNamespace: stream-api, action: list-streams-rest}}
            etiquette:
              description: How to name streams.
              instruction: etiquette.md
        watching:
          description: Watch what runs.
          tools:
            list-streams:
              description: List the streams.
              from: {{sourceNamespace: stream-tools, action: list-streams}}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def capability(tmp_path: Path) -> Capability:
    folder = tmp_path / "streaming"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: streaming\n---\n# Streaming\n", encoding="utf-8")
    (folder / "etiquette.md").write_text("Name streams after their room.\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not for you", encoding="utf-8")
    path = tmp_path / "skills.yaml"
    path.write_text(CAPABILITY.format(hms=HMS.as_uri(), folder=folder.as_uri()), encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    (found,) = loaded.capabilities
    return found


@asynccontextmanager
async def listening(capability: Capability, *, auth: bool = True) -> AsyncIterator[httpx2.AsyncClient]:
    async with app.runtime([capability], {"SKILL_TOKEN": TOKEN}, sandbox=True) as runtime:
        (listener,) = build_listeners(runtime)
        headers = {"authorization": f"Bearer {TOKEN}"} if auth else {}
        transport = httpx2.ASGITransport(app=listener.app)
        async with listener.lifespan(), httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:9300",
                                                           headers=headers) as http:
            yield http


@pytest.mark.anyio
async def test_the_catalog_needs_the_exposures_credentials(capability: Capability) -> None:
    async with listening(capability, auth=False) as http:
        for path in ("/skills", "/skills/streaming", "/skills/streaming/SKILL.md", "/skills/streaming/download"):
            assert (await http.get(path)).status_code == 401, path
        called = await http.post("/skills/streaming/tools/list-streams", json={})
        assert called.status_code == 401
        wrong = await http.get("/skills", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await http.get("/streams")).status_code == 200  # the REST exposure declares none


@pytest.mark.anyio
async def test_the_catalog_lists_every_skill_with_its_tools(capability: Capability) -> None:
    async with listening(capability) as http:
        listing = (await http.get("/skills")).json()
    assert listing == {"count": 2, "skills": [
        {"name": "streaming", "description": "Start live streams and see which are running.",
         "license": "Apache-2.0", "tools": ["start-stream", "list-streams", "list-over-rest", "etiquette"]},
        {"name": "watching", "description": "Watch what runs.", "tools": ["list-streams"]},
    ]}


@pytest.mark.anyio
async def test_a_skills_metadata_and_tool_references(capability: Capability) -> None:
    async with listening(capability) as http:
        detail = (await http.get("/skills/streaming")).json()
        missing = await http.get("/skills/nope")
    assert detail["name"] == "streaming" and detail["license"] == "Apache-2.0"
    assert detail["allowed-tools"] == "start-stream list-streams"
    tools = {t["name"]: t for t in detail["tools"]}
    assert tools["start-stream"] == {"name": "start-stream", "description": "Start a stream.", "type": "derived",
                                     "invocationRef": {"targetNamespace": "stream-tools", "action": "start-stream",
                                                       "mode": "mcp"}}
    assert tools["list-over-rest"]["invocationRef"]["mode"] == "rest"
    assert tools["etiquette"] == {"name": "etiquette", "description": "How to name streams.",
                                  "type": "instruction", "instruction": "etiquette.md"}
    assert missing.status_code == 404


def test_every_derived_tool_resolves_to_a_served_unit(capability: Capability) -> None:
    served = {(t.exposure, t.name): t for t in capability.tools()} | {
        (r.exposure, r.name): r for r in capability.routes()}
    (skills,) = capability.skills
    for skill in skills.skills:
        for tool in skill.tools:
            if tool.instruction is None:
                assert tool.target is served[(tool.source, tool.action)], (skill.name, tool.name)


@pytest.mark.anyio
async def test_tools_are_called_through_the_skill_exposure_against_the_sandbox(capability: Capability) -> None:
    async with listening(capability) as http:
        started = await http.post("/skills/streaming/tools/start-stream", json={"room_id": ROOM})
        assert started.status_code == 200, started.text
        assert started.json()["room_id"] == ROOM
        over_mcp_tool = (await http.post("/skills/watching/tools/list-streams", json={})).json()
        over_rest = (await http.post("/skills/streaming/tools/list-over-rest")).json()
    assert [s["room_id"] for s in over_mcp_tool["data"]] == [ROOM]
    assert over_rest == over_mcp_tool


@pytest.mark.anyio
async def test_calls_that_cannot_run_are_problems(capability: Capability) -> None:
    async with listening(capability) as http:
        instruction = await http.post("/skills/streaming/tools/etiquette", json={})
        unknown = await http.post("/skills/streaming/tools/nope", json={})
        not_json = await http.post("/skills/streaming/tools/start-stream", content=b"{not json")
        too_deep = await http.post("/skills/streaming/tools/start-stream", content=b"[" * 5000 + b"]" * 5000)
        odd_key = await http.post("/skills/streaming/tools/start-stream",
                                  content=b'{"room_id": "665f1c2e9a1b2c3d4e5f6a7b", "\\ud800": 1}')
        assert odd_key.status_code == 400  # its pointer, escaped, can be sent back
        assert {"pointer": "/\\ud800", "message": "is not valid Unicode text (a lone surrogate)"} in \
            odd_key.json()["errors"]
        assert too_deep.json()["errors"] == [{"pointer": "", "message": "the request body is not valid JSON"}]
        not_object = await http.post("/skills/streaming/tools/start-stream", json=[1])
        missing = await http.post("/skills/streaming/tools/start-stream", json={})
    assert [r.status_code for r in (instruction, unknown, not_json, not_object, missing)] == [404, 404, 400, 400, 400]
    assert all(r.headers["content-type"].startswith("application/problem+json")
               for r in (instruction, unknown, not_json, not_object, missing))
    assert missing.json()["code"] == "invalid-arguments"


@pytest.mark.anyio
async def test_skill_files_are_served_and_nothing_outside_its_folder(capability: Capability) -> None:
    async with listening(capability) as http:
        own = await http.get("/skills/streaming/SKILL.md")
        written = await http.get("/skills/watching/SKILL.md")
        contents = (await http.get("/skills/streaming/contents")).json()
        etiquette = await http.get("/skills/streaming/contents/etiquette.md")
        escape = await http.get("/skills/streaming/contents/..%2Fsecret.txt")
        download = await http.get("/skills/streaming/download")
        none = await http.get("/skills/watching/contents")
    assert own.text.startswith("---\nname: streaming") and own.headers["content-type"].startswith("text/markdown")
    assert written.text.startswith("---\nname: \"watching\"") and "**list-streams**" in written.text
    assert sorted(f["path"] for f in contents["files"]) == ["SKILL.md", "etiquette.md"]
    assert etiquette.text == "Name streams after their room.\n"
    assert escape.status_code == 404 and "not for you" not in escape.text
    assert sorted(zipfile.ZipFile(io.BytesIO(download.content)).namelist()) == ["SKILL.md", "etiquette.md"]
    assert none.status_code == 404


FILES = """\
naftiko: "1.0.0-alpha2"
info: {label: Files, description: Files as skills.}
capability:
  consumes:
    - type: http
      namespace: files
      baseUri: https://files.example.test
      resources:
        - name: files
          path: /files/{name}
          operations:
            - name: get-bytes
              method: GET
              outputRawFormat: binary
              inputParameters: [{name: name, in: path}]
            - name: get-text
              method: GET
              outputRawFormat: csv
              inputParameters: [{name: name, in: path}]
            - name: delete-file
              method: DELETE
              inputParameters: [{name: name, in: path}]
  exposes:
    - type: mcp
      port: 9301
      namespace: file-tools
      tools:
        - {name: get-bytes, description: Bytes., call: files.get-bytes}
        - {name: get-text, description: Text., call: files.get-text}
        - {name: delete-file, description: Delete., call: files.delete-file}
    - type: skill
      port: 9301
      namespace: file-skills
      skills:
        - name: files
          description: Files.
          tools:
            - {name: get-bytes, description: Bytes., from: {sourceNamespace: file-tools, action: get-bytes}}
            - {name: get-text, description: Text., from: {sourceNamespace: file-tools, action: get-text}}
            - {name: delete-file, description: Delete., from: {sourceNamespace: file-tools, action: delete-file}}
"""


def files_upstream(request: httpx2.Request) -> httpx2.Response:
    if request.method == "DELETE":
        return httpx2.Response(204)
    if request.url.path.endswith(".png"):
        return httpx2.Response(200, content=b"\x89PNG\r\n\x1a\n\xff\x00", headers={"content-type": "image/png"})
    return httpx2.Response(200, content="name,size\na.txt,3\n", headers={"content-type": "text/csv"})


@pytest.mark.anyio
async def test_text_bytes_and_nothing_answer_as_rest_would(tmp_path: Path) -> None:
    """Found while testing: a binary result made the skill call fail with a bare 500 (bytes into JSON)."""
    path = tmp_path / "files.yaml"
    path.write_text(FILES, encoding="utf-8")
    loaded = app.load([path], {})
    assert not loaded.failed(), [str(d) for d in loaded.diagnostics]
    transports = {"files": httpx2.MockTransport(files_upstream)}
    async with app.runtime(loaded.capabilities, {}, transports=transports) as runtime:
        (listener,) = build_listeners(runtime)
        transport = httpx2.ASGITransport(app=listener.app)
        async with listener.lifespan(), httpx2.AsyncClient(transport=transport,
                                                           base_url="http://127.0.0.1:9301") as http:
            picture = await http.post("/skills/files/tools/get-bytes", json={"name": "a.png"})
            text = await http.post("/skills/files/tools/get-text", json={"name": "a.txt"})
            gone = await http.post("/skills/files/tools/delete-file", json={"name": "a.txt"})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.content == b"\x89PNG\r\n\x1a\n\xff\x00"
    assert text.status_code == 200 and text.text == "name,size\na.txt,3\n"  # nothing mapped: as it came
    assert text.headers["content-type"].startswith("text/csv")
    assert gone.status_code == 204 and gone.content == b""
