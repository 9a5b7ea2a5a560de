"""End to end: `naftiko serve capabilities/hms-live-streams.yaml --sandbox` driven by the MCP SDK client.

No token and no network: the bundled simulator answers in-process. The test walks a stream's whole
life (start, list filtered and paged, get, timed metadata, pause, resume, stop) and the error paths,
checking the JSON the client receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from processes import ROOT, SERVE, child_env, free_port, start, stop, wait_for_port

HMS = ROOT / "capabilities" / "hms-live-streams.yaml"
ROOM = "665f1c2e9a1b2c3d4e5f6a7b"
OTHER_ROOMS = [f"{i:024x}" for i in range(1, 12)]
STREAM_KEYS = {"id", "room_id", "session_id", "status", "meeting_url", "playback", "recording", "destination",
               "created_at", "started_at", "updated_at", "started_by", "stopped_at", "stopped_by",
               "recording_assets"}

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = start([*SERVE, str(HMS), "--sandbox", "--port", str(port)],
                    tmp_path_factory.mktemp("sandbox") / "serve.log", child_env())
    try:
        wait_for_port(process, port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content  # text and structure agree
    return result.structured_content


async def failed(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """The text a model reads. The bundled tools advertise an outputSchema, which an error does not
    match: the error comes as text only, never as structured content."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert result.structured_content is None
    return result.content[0].text


@pytest.mark.anyio
async def test_tools_list_shows_the_body_fields_and_the_answer_shape(mcp_url: str) -> None:
    async with Client(mcp_url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    start_body = tools["hms-start-live-stream"].input_schema["properties"]["body"]
    assert {"meeting_url", "recording", "destination", "transcription"} <= set(start_body["properties"])
    cue = tools["hms-send-timed-metadata"].input_schema["properties"]["body"]
    assert cue["required"] == ["payload", "duration"] and cue["properties"]["duration"]["type"] == "integer"
    for name, tool in tools.items():
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
    assert tools["hms-get-live-stream"].output_schema["required"] == ["id", "status"]
    assert "items" in tools["hms-list-live-streams"].output_schema["properties"]["data"]


@pytest.mark.anyio
async def test_a_stream_lifecycle_through_every_tool(mcp_url: str) -> None:
    async with Client(mcp_url) as client:
        assert await ok(client, "hms-list-live-streams", {"room_id": ROOM}) == {"limit": 10, "data": [], "last": ""}

        started = await ok(client, "hms-start-live-stream",
                           {"room_id": ROOM, "body": {"recording": {"hls_vod": True}}})
        assert set(started) == STREAM_KEYS
        assert started["room_id"] == ROOM and started["status"] == "starting"
        assert started["recording"] == {"hls_vod": True, "single_file_per_layer": False}
        assert (started["started_at"], started["stopped_at"], started["recording_assets"]) == (None, None, None)
        stream = started["id"]

        got = await ok(client, "hms-get-live-stream", {"stream_id": stream})
        assert got == {**started, "status": "running", "started_at": got["started_at"],
                       "updated_at": got["updated_at"]}
        assert got["started_at"] is not None

        cued = await ok(client, "hms-send-timed-metadata",
                        {"stream_id": stream, "body": {"payload": "goal! 1-0", "duration": 5}})
        assert (cued["id"], cued["status"]) == (stream, "running")
        paused = await ok(client, "hms-pause-recording", {"stream_id": stream})
        resumed = await ok(client, "hms-resume-recording", {"stream_id": stream})
        assert (paused["status"], resumed["status"]) == ("running", "running")

        in_room = await ok(client, "hms-list-live-streams", {"room_id": ROOM})
        assert [s["id"] for s in in_room["data"]] == [stream] and in_room["last"] == stream
        running = await ok(client, "hms-list-live-streams", {"status": "running", "room_id": ROOM})
        assert [s["id"] for s in running["data"]] == [stream]

        stopped = await ok(client, "hms-stop-live-stream-by-id", {"stream_id": stream})
        assert (stopped["id"], stopped["status"]) == (stream, "stopping")
        text = await failed(client, "hms-send-timed-metadata",
                            {"stream_id": stream, "body": {"payload": "too late", "duration": "5"}})
        assert "'live-streams.sendtimedmetadata' answered HTTP 404" in text and "hls not running" in text


@pytest.mark.anyio
async def test_listing_pages_through_many_streams(mcp_url: str) -> None:
    async with Client(mcp_url) as client:
        ids = {(await ok(client, "hms-start-live-stream", {"room_id": room, "body": {}}))["id"]
               for room in OTHER_ROOMS}
        # The capability declares cursor pagination: one call walks every page of 10 and merges them.
        listed = await ok(client, "hms-list-live-streams", {"limit": 10, "status": "running"})
        seen = [s["id"] for s in listed["data"]]
        assert len(seen) > 10 and ids <= set(seen) and len(seen) == len(set(seen))
        assert listed["last"] == seen[-1]
        # A caller may still start from a cursor of its own: it gets only what follows.
        rest = await ok(client, "hms-list-live-streams", {"limit": 10, "status": "running", "start": seen[9]})
        assert [s["id"] for s in rest["data"]] == seen[10:]
        for room in OTHER_ROOMS:
            stopped = await ok(client, "hms-stop-live-stream", {"room_id": room})
            assert [s["room_id"] for s in stopped["data"]] == [room]


@pytest.mark.anyio
async def test_error_paths_are_results_a_model_can_act_on(mcp_url: str) -> None:
    async with Client(mcp_url) as client:
        text = await failed(client, "hms-get-live-stream", {"stream_id": "ffffffffffffffffffffffff"})
        assert "'live-streams.getlivestream' answered HTTP 404" in text and "live stream not found" in text
        text = await failed(client, "hms-get-live-stream", {})
        assert text.startswith("Invalid arguments") and "stream_id" in text and "required" in text
        text = await failed(client, "hms-list-live-streams", {"limit": "ten"})
        assert "- /limit:" in text
        # The body's documented fields are checked before the call now (the input schema has them)...
        text = await failed(client, "hms-start-live-stream", {"room_id": ROOM, "body": {"recording": 3}})
        assert "- /body/recording:" in text
        text = await failed(client, "hms-send-timed-metadata", {"stream_id": "f" * 24, "body": {"payload": "x"}})
        assert text.startswith("Invalid arguments") and "duration" in text
        # ...and what only the API knows still reaches it.
        text = await failed(client, "hms-start-live-stream", {"room_id": ROOM, "body": {"meeting_url": "ftp://x"}})
        assert "'live-streams.startlivestreamforroom' answered HTTP 400" in text


def test_live_mode_without_a_token_refuses_to_start_and_names_it(tmp_path: Any) -> None:
    process = start([*SERVE, str(HMS), "--port", str(free_port())], tmp_path / "live.log", child_env())
    try:
        assert process.proc.wait(timeout=30) == 1
    finally:
        stop(process)
    assert "HMS_MANAGEMENT_TOKEN" in process.output()


def test_the_readme_session_script_runs_against_the_sandbox(mcp_url: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "examples" / "hms_session.py"), mcp_url],
                          capture_output=True, text=True, timeout=60, env=child_env(), check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("8 tools: hms-start-live-stream")
    assert any(line.startswith("> hms-send-timed-metadata") for line in lines)
    assert "cue sent" in done.stdout and "(stopping)" in done.stdout
