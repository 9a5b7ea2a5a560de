"""The 100ms Live Streams simulator against the documented API (see shared/reference notes)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.testclient import TestClient

from naftiko_runtime.sandbox import SANDBOX_HOSTS, SANDBOX_TOKEN, sandbox_for
from naftiko_runtime.sandbox.__main__ import main
from naftiko_runtime.sandbox.hms import create_app
from naftiko_runtime.sandbox.hms_state import format_time, object_id_factory

BASE = "https://api.100ms.live/v2"
AUTH = {"Authorization": "Bearer test-token"}
ROOM = "64b7c1a2e3f4a5b6c7d8e9f0"
OTHER_ROOM = "64b7c1a2e3f4a5b6c7d8e9f1"
STREAM_KEYS = {
    "id",
    "room_id",
    "session_id",
    "status",
    "meeting_url",
    "playback",
    "recording",
    "destination",
    "created_at",
    "started_at",
    "updated_at",
    "started_by",
    "stopped_at",
    "stopped_by",
    "recording_assets",
}
ASSET_KEYS = {"id", "thumbnails", "duration", "path", "status", "created_at", "type", "size", "metadata"}
HEX24 = re.compile(r"^[0-9a-f]{24}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
T0 = datetime(2024, 3, 22, 4, 24, 10, 155978, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def counting_ids() -> Callable[[], str]:
    counter = iter(range(1, 10_000))
    return lambda: f"{next(counter):024x}"


def make_client(**options: Any) -> TestClient:
    options.setdefault("clock", FakeClock())
    options.setdefault("ids", counting_ids())
    return TestClient(create_app(**options), base_url=BASE, headers=AUTH)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> TestClient:
    return make_client(clock=clock)


def start(client: TestClient, room: str = ROOM, **body: Any) -> dict[str, Any]:
    response = client.post(f"/live-streams/room/{room}/start", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def start_running(client: TestClient, room: str = ROOM, **body: Any) -> dict[str, Any]:
    stream = start(client, room, **body)
    assert client.get(f"/live-streams/{stream['id']}").json()["status"] == "running"
    return stream


def status_of(client: TestClient, stream_id: str) -> str:
    return client.get(f"/live-streams/{stream_id}").json()["status"]


def assert_error(response: httpx2.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    return body


def assert_stream_shape(stream: dict[str, Any]) -> None:
    assert set(stream) == STREAM_KEYS
    assert HEX24.match(stream["id"]) and HEX24.match(stream["session_id"])
    assert set(stream["playback"]) == {"url"}
    assert set(stream["recording"]) == {"hls_vod", "single_file_per_layer"}
    for key in ("created_at", "started_at", "updated_at", "stopped_at"):
        assert stream[key] is None or TIMESTAMP.match(stream[key]), key


# --- start and the object shape ---------------------------------------------------------------


def test_start_returns_a_starting_stream_with_every_documented_key(client: TestClient) -> None:
    stream = start(client)
    assert_stream_shape(stream)
    assert stream["status"] == "starting"
    assert stream["room_id"] == ROOM
    assert stream["started_at"] is None and stream["stopped_at"] is None
    assert stream["started_by"] == "" and stream["stopped_by"] == ""
    assert stream["recording_assets"] is None
    assert stream["recording"] == {"hls_vod": False, "single_file_per_layer": False}
    assert stream["created_at"] == stream["updated_at"] == "2024-03-22T04:24:10.155978Z"
    assert stream["destination"]


def test_start_playback_url_follows_the_cdn_layout(client: TestClient) -> None:
    url = start(client)["playback"]["url"]
    millis = int(T0.timestamp() * 1000)
    assert re.fullmatch(
        rf"https://cdn\.100ms\.live/beam/[0-9a-f]{{24}}/{ROOM}/20240322/{millis}/master\.m3u8", url
    )


def test_start_echoes_meeting_url_recording_and_destination_but_not_transcription(client: TestClient) -> None:
    body = {
        "meeting_url": f"https://demo.app.100ms.live/preview/{ROOM}/broadcaster?skip_preview=true",
        "recording": {"hls_vod": True, "single_file_per_layer": True},
        "destination": "my-hls",
        "transcription": {
            "enabled": True,
            "modes": ["recorded", "live"],
            "output_modes": ["txt", "srt", "json"],
            "custom_vocabulary": ["100ms"],
            "summary": {
                "enabled": True,
                "context": "a call",
                "temperature": 0.5,
                "sections": [{"title": "Agenda", "format": "bullets"}],
            },
        },
    }
    stream = start(client, **body)
    assert stream["meeting_url"] == body["meeting_url"]
    assert stream["recording"] == {"hls_vod": True, "single_file_per_layer": True}
    assert stream["destination"] == "my-hls"
    assert "transcription" not in stream


def test_start_accepts_an_empty_body(client: TestClient) -> None:
    response = client.post(f"/live-streams/room/{ROOM}/start")
    assert response.status_code == 200
    assert response.json()["status"] == "starting"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"recording": True}, "recording"),
        ({"recording": {"hls_vod": "yes"}}, "recording.hls_vod"),
        ({"meeting_url": 42}, "meeting_url"),
        ({"meeting_url": "not a url"}, "meeting_url"),
        ({"destination": ["x"]}, "destination"),
        ({"transcription": {"modes": ["sometimes"]}}, "transcription.modes"),
        ({"transcription": {"output_modes": ["pdf"]}}, "transcription.output_modes"),
        ({"transcription": {"summary": {"temperature": 2}}}, "transcription.summary.temperature"),
        ({"transcription": {"summary": {"context": "x" * 301}}}, "transcription.summary.context"),
        (
            {"transcription": {"summary": {"sections": [{"title": "T"}] * 7}}},
            "transcription.summary.sections",
        ),
        ({"transcription": {"summary": {"sections": [{"title": "T", "format": "x"}]}}}, "sections[0].format"),
    ],
)
def test_start_rejects_badly_typed_options_with_400(
    client: TestClient, body: dict[str, Any], problem: str
) -> None:
    error = assert_error(client.post(f"/live-streams/room/{ROOM}/start", json=body), 400)
    assert any(problem in detail for detail in error["details"])
    assert client.get("/live-streams").json()["data"] == []


def test_start_reports_every_problem_at_once(client: TestClient) -> None:
    body = {"meeting_url": 1, "recording": {"hls_vod": 1, "single_file_per_layer": "no"}}
    error = assert_error(client.post(f"/live-streams/room/{ROOM}/start", json=body), 400)
    assert len(error["details"]) == 3


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_start_rejects_a_body_that_is_not_a_json_object(client: TestClient, raw: bytes) -> None:
    response = client.post(
        f"/live-streams/room/{ROOM}/start", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


def test_second_start_in_a_room_with_a_live_stream_is_rejected(client: TestClient) -> None:
    start_running(client)
    assert_error(client.post(f"/live-streams/room/{ROOM}/start", json={}), 400)
    assert start(client, OTHER_ROOM)["status"] == "starting"


def test_a_room_keeps_its_session_until_its_streams_complete() -> None:
    client = make_client(transition_after=2)
    first = start(client)
    client.get("/live-streams")
    assert client.post(f"/live-streams/{first['id']}/stop").json()["status"] == "stopping"
    second = start(client)
    assert client.app.state.store.get(first["id"]).status == "stopping"
    assert second["session_id"] == first["session_id"]
    client.post(f"/live-streams/{second['id']}/stop")
    client.get("/live-streams")
    assert {s["status"] for s in client.get("/live-streams").json()["data"]} == {"completed"}
    assert start(client)["session_id"] != first["session_id"]


# --- lifecycle --------------------------------------------------------------------------------


def test_stream_becomes_running_on_the_next_request(client: TestClient, clock: FakeClock) -> None:
    stream = start(client)
    clock.advance(2.5)
    fetched = client.get(f"/live-streams/{stream['id']}").json()
    assert_stream_shape(fetched)
    assert fetched["status"] == "running"
    assert fetched["started_at"] == fetched["updated_at"] == "2024-03-22T04:24:12.655978Z"
    assert fetched["created_at"] == stream["created_at"]


def test_transition_after_keeps_a_stream_starting_for_more_requests() -> None:
    client = make_client(transition_after=3)
    stream = start(client)
    assert status_of(client, stream["id"]) == "starting"
    assert status_of(client, stream["id"]) == "starting"
    assert status_of(client, stream["id"]) == "running"


def test_transition_after_must_be_positive() -> None:
    with pytest.raises(ValueError):
        create_app(transition_after=0)


def test_agent_flow_start_get_metadata_stop_completes(client: TestClient) -> None:
    stream = start(client)
    assert status_of(client, stream["id"]) == "running"
    sent = client.post(f"/live-streams/{stream['id']}/timed-metadata", json={"payload": "hi", "duration": 5})
    assert sent.status_code == 200 and sent.json()["status"] == "running"
    stopped = client.post(f"/live-streams/{stream['id']}/stop").json()
    assert stopped["status"] == "stopping"
    final = client.get(f"/live-streams/{stream['id']}").json()
    assert final["status"] == "completed"
    assert final["recording_assets"] is None


def test_stop_by_id_sets_stopped_at_and_returns_the_object(client: TestClient, clock: FakeClock) -> None:
    stream = start_running(client)
    clock.advance(60)
    stopped = client.post(f"/live-streams/{stream['id']}/stop").json()
    assert_stream_shape(stopped)
    assert stopped["status"] == "stopping"
    assert stopped["stopped_at"] == "2024-03-22T04:25:10.155978Z"
    assert stopped["stopped_by"] == ""


def test_a_starting_stream_can_be_stopped_and_never_gets_started_at() -> None:
    client = make_client(transition_after=2)
    stream = start(client)
    assert client.post(f"/live-streams/{stream['id']}/stop").json()["status"] == "stopping"
    client.get("/live-streams")
    final = client.get(f"/live-streams/{stream['id']}").json()
    assert final["status"] == "completed" and final["started_at"] is None


def test_stopping_a_stream_that_is_not_running_is_404(client: TestClient) -> None:
    stream = start_running(client)
    client.post(f"/live-streams/{stream['id']}/stop")
    error = assert_error(client.post(f"/live-streams/{stream['id']}/stop"), 404)
    assert error["message"] == "hls not running"


def test_recording_streams_post_process_and_then_list_their_assets(
    client: TestClient, clock: FakeClock
) -> None:
    stream = start_running(client, recording={"hls_vod": True, "single_file_per_layer": True})
    clock.advance(90)
    client.post(f"/live-streams/{stream['id']}/stop")
    assert status_of(client, stream["id"]) == "post_processing"
    final = client.get(f"/live-streams/{stream['id']}").json()
    assert final["status"] == "completed"
    assets = final["recording_assets"]
    assert {asset["type"] for asset in assets} == {"room-vod", "room-composite"}
    for asset in assets:
        assert set(asset) == ASSET_KEYS
        assert HEX24.match(asset["id"]) and TIMESTAMP.match(asset["created_at"])
        assert asset["status"] == "completed" and asset["duration"] == 90 and asset["size"] > 0
    vod = next(asset for asset in assets if asset["type"] == "room-vod")
    assert set(vod["metadata"]) == {"num_layers", "max_width", "max_height"}


def test_status_filter_sees_each_lifecycle_stage(client: TestClient) -> None:
    stream = start(client)
    seen = [client.get("/live-streams").json()["data"][0]["status"]]
    client.post(f"/live-streams/{stream['id']}/stop")
    seen.append(client.get("/live-streams", params={"status": "completed"}).json()["data"][0]["status"])
    assert seen == ["running", "completed"]


# --- stop by room -----------------------------------------------------------------------------


def test_room_stop_stops_every_live_stream_of_that_room_only(client: TestClient) -> None:
    a = start(client, destination="one")
    b = start(client, destination="two")
    other = start(client, OTHER_ROOM)
    response = client.post(f"/live-streams/room/{ROOM}/stop")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"error", "data", "limit", "last"}
    assert body["limit"] == 10
    assert {s["id"] for s in body["data"]} == {a["id"], b["id"]}
    assert body["last"] == body["data"][-1]["id"]
    for stream in body["data"]:
        assert_stream_shape(stream)
        assert stream["status"] == "stopping" and stream["stopped_at"] is not None
    assert status_of(client, other["id"]) == "running"


def test_room_stop_without_a_live_stream_is_404_hls_not_running(client: TestClient) -> None:
    error = assert_error(client.post(f"/live-streams/room/{ROOM}/stop"), 404)
    assert error["message"] == "hls not running"


# --- timed metadata ---------------------------------------------------------------------------


def test_timed_metadata_is_accepted_on_a_running_stream(client: TestClient) -> None:
    stream = start_running(client)
    payload = "x" * 100
    response = client.post(
        f"/live-streams/{stream['id']}/timed-metadata", json={"payload": payload, "duration": 5}
    )
    assert response.status_code == 200
    assert_stream_shape(response.json())
    assert response.json()["status"] == "running"
    recorded = client.app.state.store.get(stream["id"]).timed_metadata
    assert [(m.payload, m.duration) for m in recorded] == [(payload, 5)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": "x" * 101, "duration": 5}, "payload"),
        ({"payload": "", "duration": 5}, "payload"),
        ({"payload": 7, "duration": 5}, "payload"),
        ({"duration": 5}, "payload"),
        ({"payload": "hi"}, "duration"),
        ({"payload": "hi", "duration": 2.5}, "duration"),
        ({"payload": "hi", "duration": "5"}, "duration"),
        ({"payload": "hi", "duration": True}, "duration"),
        ({"payload": "hi", "duration": 0}, "duration"),
    ],
)
def test_timed_metadata_validation_rejects_bad_bodies(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    stream = start_running(client)
    error = assert_error(client.post(f"/live-streams/{stream['id']}/timed-metadata", json=body), 400)
    assert [d for d in error["details"] if d.startswith(field)]
    assert client.app.state.store.get(stream["id"]).timed_metadata == []


def test_timed_metadata_for_an_unknown_stream_is_404(client: TestClient) -> None:
    response = client.post("/live-streams/ffffffffffffffffffffffff/timed-metadata", json={"payload": "x"})
    assert_error(response, 404)


def test_timed_metadata_while_starting_or_after_stop_is_404() -> None:
    client = make_client(transition_after=2)
    stream = start(client)
    url = f"/live-streams/{stream['id']}/timed-metadata"
    body = {"payload": "hi", "duration": 5}
    assert assert_error(client.post(url, json=body), 404)["message"] == "hls not running"
    assert client.post(url, json=body).status_code == 200
    client.post(f"/live-streams/{stream['id']}/stop")
    assert assert_error(client.post(url, json=body), 404)["message"] == "hls not running"


# --- pause and resume recording ---------------------------------------------------------------


def test_pause_and_resume_keep_the_stream_running(client: TestClient, clock: FakeClock) -> None:
    stream = start_running(client, recording={"hls_vod": True})
    store = client.app.state.store
    clock.advance(10)
    paused = client.post(f"/live-streams/{stream['id']}/pause-recording")
    assert paused.status_code == 200
    assert_stream_shape(paused.json())
    assert paused.json()["status"] == "running"
    assert paused.json()["updated_at"] == "2024-03-22T04:24:20.155978Z"
    assert store.get(stream["id"]).recording_paused is True
    resumed = client.post(f"/live-streams/{stream['id']}/resume-recording")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    assert store.get(stream["id"]).recording_paused is False


@pytest.mark.parametrize("action", ["pause-recording", "resume-recording"])
def test_pause_and_resume_need_a_running_stream(client: TestClient, action: str) -> None:
    assert_error(client.post(f"/live-streams/ffffffffffffffffffffffff/{action}"), 404)
    stream = start_running(client)
    client.post(f"/live-streams/{stream['id']}/stop")
    assert (
        assert_error(client.post(f"/live-streams/{stream['id']}/{action}"), 404)["message"]
        == "hls not running"
    )


# --- list, filters and paging -----------------------------------------------------------------


def test_list_is_empty_with_the_paging_envelope(client: TestClient) -> None:
    assert client.get("/live-streams").json() == {"limit": 10, "data": [], "last": ""}


def test_list_filters_by_room_session_and_status(client: TestClient) -> None:
    a = start_running(client)
    b = start_running(client, OTHER_ROOM)
    client.post(f"/live-streams/{b['id']}/stop")

    def ids(**params: str) -> list[str]:
        return [s["id"] for s in client.get("/live-streams", params=params).json()["data"]]

    assert ids(room_id=ROOM) == [a["id"]]
    assert ids(session_id=b["session_id"]) == [b["id"]]
    assert ids(status="running") == [a["id"]]
    assert ids(status="completed") == [b["id"]]
    assert ids(status="failed") == []
    assert ids(room_id=OTHER_ROOM, status="running") == []


def test_list_pages_newest_first_with_limit_start_and_last(client: TestClient) -> None:
    created = [start(client, f"{n:024x}")["id"] for n in range(25)]
    newest_first = created[::-1]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 10}
    sizes = []
    while True:
        page = client.get("/live-streams", params=params).json()
        assert page["limit"] == 10
        sizes.append(len(page["data"]))
        seen += [s["id"] for s in page["data"]]
        if len(page["data"]) < page["limit"]:
            break
        assert page["last"] == page["data"][-1]["id"]
        params["start"] = page["last"]
    assert sizes == [10, 10, 5]
    assert seen == newest_first


def test_list_page_after_the_last_item_is_empty(client: TestClient) -> None:
    only = start(client)
    page = client.get("/live-streams", params={"start": only["id"]}).json()
    assert page == {"limit": 10, "data": [], "last": ""}


def test_list_filter_applies_after_the_cursor(client: TestClient) -> None:
    ids = [start(client, room)["id"] for room in (ROOM, OTHER_ROOM, f"{7:024x}")]
    page = client.get("/live-streams", params={"start": ids[2], "room_id": ROOM, "limit": 50}).json()
    assert [s["id"] for s in page["data"]] == [ids[0]]
    assert page["limit"] == 50


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "9"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "-10"},
        {"status": "stopped"},
        {"status": "paused"},
    ],
)
def test_list_rejects_invalid_query_values_with_400(client: TestClient, params: dict[str, str]) -> None:
    error = assert_error(client.get("/live-streams", params=params), 400)
    assert error["details"]


def test_list_rejects_an_unknown_cursor(client: TestClient) -> None:
    assert_error(client.get("/live-streams", params={"start": "ffffffffffffffffffffffff"}), 400)


# --- errors, auth, routing --------------------------------------------------------------------


def test_get_unknown_stream_is_404(client: TestClient) -> None:
    assert_error(client.get("/live-streams/ffffffffffffffffffffffff"), 404)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": "Basic dTpw"},
    ],
)
def test_requests_without_a_bearer_token_get_401(headers: dict[str, str]) -> None:
    app = create_app()
    bare = TestClient(app, base_url=BASE)
    for response in (
        bare.get("/live-streams", headers=headers),
        bare.post(f"/live-streams/room/{ROOM}/start", json={}, headers=headers),
    ):
        assert assert_error(response, 401)["message"] == "Token validation error"
    assert app.state.store.newest_first() == []


def test_accept_token_restricts_tokens_and_never_echoes_them() -> None:
    client = make_client(accept_token=lambda token: token == "good-one")
    rejected = client.get("/live-streams", headers={"Authorization": "Bearer s3cret-value"})
    assert_error(rejected, 401)
    assert "s3cret-value" not in rejected.text
    assert client.get("/live-streams", headers={"Authorization": "Bearer good-one"}).status_code == 200


def test_unauthenticated_requests_do_not_advance_the_lifecycle() -> None:
    client = make_client()
    stream = start(client)
    assert client.get("/live-streams", headers={"Authorization": ""}).status_code == 401
    assert client.app.state.store.get(stream["id"]).status == "starting"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/live-streams/room/{ROOM}/start"),
        ("DELETE", "/live-streams/ffffffffffffffffffffffff"),
        ("GET", "/live-streams/ffffffffffffffffffffffff/timed-metadata"),
        ("POST", "/live-streams"),
        ("PUT", f"/live-streams/room/{ROOM}/stop"),
    ],
)
def test_wrong_methods_get_405_in_the_error_envelope(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_error(response, 405)
    assert response.headers["allow"]


def test_unknown_paths_get_404_in_the_error_envelope(client: TestClient) -> None:
    assert_error(client.get("/recordings"), 404)


def test_the_api_is_served_both_at_the_root_and_under_v2() -> None:
    app = create_app()
    root = TestClient(app, base_url="https://api.100ms.live", headers=AUTH)
    stream = root.post(f"/live-streams/room/{ROOM}/start", json={}).json()
    assert root.get(f"/v2/live-streams/{stream['id']}").status_code == 200
    assert root.get(f"/live-streams/{stream['id']}").status_code == 200


def test_two_app_instances_do_not_share_state() -> None:
    first, second = make_client(), make_client()
    stream = start(first)
    assert second.get("/live-streams").json()["data"] == []
    assert_error(second.get(f"/live-streams/{stream['id']}"), 404)
    assert start(second)["status"] == "starting"


# --- ids, timestamps, registry, engine path ---------------------------------------------------


def test_default_ids_are_unique_24_hex_object_ids() -> None:
    next_id = object_id_factory()
    ids = {next_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(HEX24.match(i) for i in ids)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2023, 3, 22, 4, 24, 10, tzinfo=UTC), "2023-03-22T04:24:10Z"),
        (datetime(2023, 3, 30, 6, 53, 3, 670000, tzinfo=UTC), "2023-03-30T06:53:03.67Z"),
        (datetime(2023, 3, 22, 4, 24, 10, 155978), "2023-03-22T04:24:10.155978Z"),
        (datetime(2023, 3, 22, 6, 24, 10, tzinfo=timezone(timedelta(hours=2))), "2023-03-22T04:24:10Z"),
    ],
)
def test_timestamps_are_utc_with_a_trimmed_fraction(moment: datetime, text: str) -> None:
    assert format_time(moment) == text


def test_sandbox_for_gives_a_fresh_simulator_for_the_100ms_host_only() -> None:
    assert "api.100ms.live" in SANDBOX_HOSTS
    first = sandbox_for("https://api.100ms.live/v2")
    second = sandbox_for("https://API.100ms.live:443/v2")
    assert first is not None and second is not None and first is not second
    assert sandbox_for("https://api.example.com/v2") is None
    assert sandbox_for("not a uri") is None


def test_sandbox_token_is_accepted_by_the_simulator() -> None:
    app = sandbox_for(BASE)
    client = TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"})
    assert client.get("/live-streams").status_code == 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_engine_style_async_client_drives_the_full_flow() -> None:
    transport = httpx2.ASGITransport(app=sandbox_for(BASE))
    async with httpx2.AsyncClient(transport=transport, base_url=BASE, headers=AUTH, timeout=5) as http:
        started = (
            await http.post(f"/live-streams/room/{ROOM}/start", json={"recording": {"hls_vod": True}})
        ).json()
        listed = (await http.get("/live-streams")).json()
        assert listed["data"][0]["status"] == "running"
        metadata = {"payload": "goal!", "duration": 3}
        assert (
            await http.post(f"/live-streams/{started['id']}/timed-metadata", json=metadata)
        ).status_code == 200
        stopped = (await http.post(f"/live-streams/room/{ROOM}/stop")).json()
        assert stopped["data"][0]["status"] == "stopping"
        statuses = [(await http.get(f"/live-streams/{started['id']}")).json()["status"] for _ in range(2)]
        assert statuses == ["post_processing", "completed"]


def test_main_serves_the_named_simulator_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    assert main(["hms", "--port", "8181"]) == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8181
    assert callable(calls[0]["app"])


def test_main_reports_usage_errors_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert main(["hms", "--port", "eighty"]) == 2


def test_a_body_nested_past_pythons_recursion_limit_is_a_400(client: TestClient) -> None:
    response = client.post(f"/live-streams/room/{ROOM}/start", content=b"[" * 5000 + b"]" * 5000)
    assert response.status_code == 400 and "not valid JSON" in response.text
