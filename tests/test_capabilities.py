"""Everything shipped in capabilities/ and examples/ validates, builds and runs offline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, corpus_path
from starlette.applications import Starlette
from starlette.testclient import TestClient

from naftiko_runtime import app
from naftiko_runtime.expose.rest import build_rest_app, build_rest_routes
from naftiko_runtime.model import Capability, plain
from naftiko_runtime.validate import validate_paths

SHIPPED = sorted([*ROOT.glob("capabilities/*.yaml"), *ROOT.glob("examples/**/*.yaml")])
ROOM = "665f1c2e9a1b2c3d4e5f6a7b"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_capability_is_clean_and_builds(path: Path) -> None:
    checked, diagnostics = validate_paths([path])
    assert [str(d) for d in diagnostics] == []
    capability = checked[0].capability
    assert capability is not None and capability.exposures


def shipped(relative: str) -> Capability:
    """A shipped capability as ``naftiko serve`` loads it (it must load without any diagnostic)."""
    loaded = app.load([ROOT / relative], {})
    assert [str(d) for d in loaded.diagnostics] == []
    (capability,) = loaded.capabilities
    return capability


def published_text() -> str:
    return corpus_path("hms", "capabilities", "live-streams.yaml").read_text(encoding="utf-8")


def published_tools() -> list[dict[str, Any]]:
    return yaml.safe_load(published_text())["capability"]["exposes"][0]["tools"]


def test_bundled_capability_keeps_the_published_tools_exactly() -> None:
    ours = yaml.safe_load((ROOT / "capabilities" / "hms-live-streams.yaml").read_text(encoding="utf-8"))
    tools = {t["name"]: t for t in ours["capability"]["exposes"][0]["tools"]}
    for published in published_tools():
        mine = tools[published["name"]]
        for key in ("description", "hints", "call"):
            assert mine[key] == published[key], (published["name"], key)
        # The one addition: `schema` (our extension) describes the answer; the mapping is unchanged.
        outputs = [{k: v for k, v in o.items() if k != "schema"} for o in mine["outputParameters"]]
        assert outputs == published["outputParameters"], published["name"]
        assert all(o["schema"]["type"] == "object" for o in mine["outputParameters"])
        assert {k: v for k, v in mine.get("with", {}).items() if k in published.get("with", {})} == \
            published.get("with", {})


def test_bundled_capability_keeps_the_published_consumed_operations() -> None:
    published = yaml.safe_load(published_text())["capability"]["consumes"][0]
    ours = yaml.safe_load((ROOT / "capabilities" / "hms-live-streams.yaml").read_text(encoding="utf-8"))
    consumer = ours["capability"]["consumes"][0]
    assert (consumer["baseUri"], consumer["authentication"]) == (published["baseUri"], published["authentication"])
    mine = {r["name"]: r for r in consumer["resources"]}
    for resource in published["resources"]:
        assert mine[resource["name"]]["path"] == resource["path"]
        for op, theirs in zip(mine[resource["name"]]["operations"], resource["operations"], strict=True):
            assert {k: op[k] for k in ("name", "method", "outputParameters")} == \
                {k: theirs[k] for k in ("name", "method", "outputParameters")}


def test_new_tools_have_hints_and_described_inputs() -> None:
    tools = list(shipped("capabilities/hms-live-streams.yaml").tools())
    new = {"hms-get-live-stream", "hms-stop-live-stream-by-id", "hms-pause-recording", "hms-resume-recording"}
    for tool in tools:
        schema = plain(tool.input_schema)
        if tool.name in new:
            assert set(tool.annotations) >= {"readOnlyHint", "destructiveHint", "idempotentHint"}
            assert schema["required"] == ["stream_id"]
        if tool.name in new or tool.name == "hms-list-live-streams":
            assert all(p.get("description") for p in schema["properties"].values())
    assert new <= {t.name for t in tools}


@pytest.fixture
def stream_status() -> Iterator[TestClient]:
    """The REST example served against the 100ms simulator."""
    capability = shipped("examples/hms-stream-status/capability.yaml")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with app.runtime([capability], {}, sandbox=True) as runtime:
            for exposure in capability.rest:
                rest_app.router.routes.extend(build_rest_routes(exposure, runtime))
            yield

    rest_app = build_rest_app([], lifespan=lifespan)
    with TestClient(rest_app, base_url="http://example.test") as client:
        yield client


def test_rest_example_starts_finds_and_stops_a_rooms_stream(stream_status: TestClient) -> None:
    started = stream_status.post(f"/rooms/{ROOM}/live", params={"record": "true"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["status"] == "starting" and body["watch_url"].endswith("master.m3u8")

    live = stream_status.get(f"/rooms/{ROOM}/live")
    assert live.status_code == 200, live.text
    assert live.json() == {"room": ROOM, "stream": {
        "id": body["id"], "status": "running", "watch_url": body["watch_url"],
        "since": live.json()["stream"]["since"]}}
    assert live.json()["stream"]["since"]

    stopped = stream_status.delete(f"/rooms/{ROOM}/live")
    assert stopped.status_code == 200, stopped.text
    assert [s["id"] for s in stopped.json()] == [body["id"]]


def test_rest_example_rejects_a_malformed_room_id_before_calling_upstream(stream_status: TestClient) -> None:
    response = stream_status.get("/rooms/not-a-room/live")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(e.get("name") == "room_id" for e in response.json()["errors"])


def test_rest_example_answers_as_its_openapi_says_live_or_not(stream_status: TestClient) -> None:
    """`GET /rooms/{id}/live` always answers `{room, stream}`: `stream` is null when nothing runs (never
    the upstream's raw list), and both answers match the schema the exported OpenAPI promises."""
    import jsonschema

    from naftiko_runtime.openapi import export_openapi

    document = export_openapi(shipped("examples/hms-stream-status/capability.yaml"))
    schema = document["paths"]["/rooms/{room_id}/live"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert schema["required"] == ["room", "stream"] and "null" in schema["properties"]["stream"]["type"]

    idle = stream_status.get(f"/rooms/{ROOM}/live")
    assert idle.status_code == 200, idle.text
    assert idle.json() == {"room": ROOM, "stream": None}
    jsonschema.validate(idle.json(), schema)

    assert stream_status.post(f"/rooms/{ROOM}/live").status_code == 200
    live = stream_status.get(f"/rooms/{ROOM}/live")
    assert live.json()["room"] == ROOM and live.json()["stream"]["status"] == "running"
    jsonschema.validate(live.json(), schema)
