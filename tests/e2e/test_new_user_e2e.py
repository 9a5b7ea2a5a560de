"""The new user's path, as the README tells it: `naftiko init` -> `naftiko validate` -> `naftiko serve`
-> a call from the MCP SDK client, against a local fake of the upstream API. Blank, and from an
OpenAPI document whose operation takes a request body."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from mcp import Client
from processes import Process, child_env, free_port, stop, wait_for_port

pytestmark = pytest.mark.timeout(90)

NAFTIKO = shutil.which("naftiko", path=str(Path(sys.executable).parent)) or "naftiko"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Fake(BaseHTTPRequestHandler):
    """GET /get echoes its query (as Postman Echo does); POST /notes stores a note if the key is right."""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        host = f"http://{self.headers['host']}"
        self._answer(200, {"args": dict(parse_qsl(parts.query)), "url": host + self.path})

    def do_POST(self) -> None:
        if self.headers.get("x-api-key") != "key-123":
            self._answer(401, {"message": "bad key"})
            return
        note = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self._answer(201, {"id": "n-1", **note})


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def naftiko(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NAFTIKO, *args], cwd=cwd, env=child_env(), capture_output=True, text=True,
                          timeout=60, check=False)


def serving(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[Process, int]:
    port = free_port()
    log = cwd / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([NAFTIKO, "serve", *args, "--port", str(port)], cwd=cwd, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    process = Process(proc, log)
    wait_for_port(process, port)
    return process, port


@pytest.mark.anyio
async def test_init_validate_serve_call(tmp_path: Path, upstream: str) -> None:
    made = naftiko("init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    checked = naftiko("validate", "capability.yaml", cwd=tmp_path)
    assert checked.returncode == 0 and "1 file valid" in checked.stderr, checked.stdout + checked.stderr
    process, port = serving(["capability.yaml", "--upstream", f"echo-api={upstream}"], tmp_path, child_env())
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            result = await client.call_tool("echo", {"message": "hello"})
    finally:
        stop(process)
    assert tools["echo"].input_schema["required"] == ["message"]
    assert result.is_error is False, result.content[0].text
    assert result.structured_content == {"message": "hello", "url": f"{upstream}/get?message=hello"}


NOTES = {
    "openapi": "3.0.3",
    "info": {"title": "Notes", "version": "1"},
    "servers": [{"url": "https://notes.example.test"}],
    "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
                   "schemas": {"Note": {"type": "object", "required": ["text"], "properties": {
                       "text": {"type": "string", "description": "What to remember."},
                       "pinned": {"type": "boolean"}}}}},
    "security": [{"key": []}],
    "paths": {"/notes": {"post": {
        "operationId": "addNote", "summary": "Add a note",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Note"}}}},
        "responses": {"201": {"description": "Added", "content": {"application/json": {
            "schema": {"allOf": [{"$ref": "#/components/schemas/Note"},
                                 {"type": "object", "properties": {"id": {"type": "string"}}}]}}}}}}}},
}


@pytest.mark.anyio
async def test_from_openapi_with_a_request_body(tmp_path: Path, upstream: str) -> None:
    (tmp_path / "notes.json").write_text(json.dumps(NOTES), encoding="utf-8")
    made = naftiko("init", "--from-openapi", "notes.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "NOTES_API_KEY" in made.stderr
    assert naftiko("validate", "capability.yaml", cwd=tmp_path).returncode == 0
    (tmp_path / ".env").write_text("NOTES_API_KEY=key-123\n", encoding="utf-8")
    process, port = serving(["capability.yaml", "--env-file", ".env", "--upstream", f"notes={upstream}"],
                            tmp_path, child_env())
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            tool = next(t for t in (await client.list_tools()).tools if t.name == "add-note")
            refused = await client.call_tool("add-note", {"body": {"pinned": "true"}})
            added = await client.call_tool("add-note", {"body": {"text": "milk", "pinned": "true"}})
    finally:
        stop(process)
    assert tool.input_schema["properties"]["body"]["required"] == ["text"]
    assert tool.output_schema is not None and "id" in json.dumps(tool.output_schema)
    assert refused.is_error is True and "text" in refused.content[0].text
    assert added.is_error is False, added.content[0].text
    assert added.structured_content == {"id": "n-1", "text": "milk", "pinned": True}
