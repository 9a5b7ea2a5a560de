"""The fake upstream every system under test calls: Starlette on uvicorn, about 1 KB of JSON.

    python benchmarks/upstream.py --port N

``GET /v2/live-streams/{stream_id}`` answers a live-stream object shaped like the 100ms API's,
rebuilt on every request so no system benefits from a cached body. ``GET /health`` answers 204.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def live_stream(stream_id: str) -> dict[str, object]:
    """A ~1 KB live-stream object (the size matters, the values do not)."""
    room = "65659e0fd5bd6d9d0a7e0b21"
    return {
        "id": stream_id,
        "room_id": room,
        "session_id": "6565a5a0c1a9d2b8e4f0aa10",
        "status": "running",
        "meeting_url": f"https://bench.app.100ms.live/streaming/meeting/{room}",
        "destination": "hls-default",
        "recording": {"hls_vod": True, "single_file_per_layer": False, "upload_info": {"type": "s3"}},
        "playback": {
            "url": f"https://cdn.example.invalid/beam/{room}/{stream_id}/master.m3u8",
            "thumbnails_url": f"https://cdn.example.invalid/beam/{room}/{stream_id}/thumbnails/",
        },
        "started_by": "6565a59fd5bd6d9d0a7e0f2e",
        "started_at": "2026-11-29T10:21:43.118Z",
        "updated_at": "2026-11-29T10:22:05.402Z",
        "recording_assets": [
            {
                "id": f"{stream_id[:20]}a{i:03d}",
                "type": "hls-vod",
                "status": "pending",
                "path": f"s3://bench-recordings/{room}/{stream_id}/{i}/",
            }
            for i in range(3)
        ],
        "metadata": {"region": "in", "layers": ["1080p", "720p", "480p", "360p"], "dvr": True, "latency": "low"},
    }


async def get_live_stream(request: Request) -> Response:
    return JSONResponse(live_stream(request.path_params["stream_id"]))


async def health(request: Request) -> Response:
    return Response(status_code=204)


app = Starlette(routes=[Route("/v2/live-streams/{stream_id}", get_live_stream), Route("/health", health)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="asyncio", http="h11", access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main()
