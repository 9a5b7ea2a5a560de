"""A short MCP session against `naftiko serve capabilities/hms-live-streams.yaml`.

    python examples/hms_session.py [URL]        # default http://127.0.0.1:9090/mcp

Lists the tools, starts an HLS stream in a room, sends timed metadata into it, then stops it: what an
agent would do, through the official MCP Python SDK client.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp import Client

ROOM = "665f1c2e9a1b2c3d4e5f6a7b"


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, arguments)
    shown = json.dumps(arguments)
    if result.is_error:
        raise SystemExit(f"{tool} {shown} failed: {result.content[0].text}")
    print(f"> {tool} {shown}")
    return result.structured_content


async def session(url: str) -> None:
    async with Client(url) as client:
        tools = (await client.list_tools()).tools
        print(f"{len(tools)} tools: " + ", ".join(t.name for t in tools))
        options = {"recording": {"hls_vod": True}}  # also keep an on-demand recording
        stream = await call(client, "hms-start-live-stream", {"room_id": ROOM, "body": options})
        print(f"  stream {stream['id']} is {stream['status']}; watch at {stream['playback']['url']}")
        stream = await call(client, "hms-get-live-stream", {"stream_id": stream["id"]})
        print(f"  stream {stream['id']} is {stream['status']}")
        await call(client, "hms-send-timed-metadata",
                   {"stream_id": stream["id"], "body": {"payload": "poll: who wins?", "duration": 10}})
        print("  cue sent to every viewer's player")
        stopped = await call(client, "hms-stop-live-stream", {"room_id": ROOM})
        print("  stopped: " + ", ".join(f"{s['id']} ({s['status']})" for s in stopped["data"]))


def main() -> None:
    anyio.run(session, sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9090/mcp")


if __name__ == "__main__":
    main()
