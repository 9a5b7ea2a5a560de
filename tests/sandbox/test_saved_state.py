"""`naftiko call --sandbox --sandbox-state FILE`: the simulator continues where the last run left off."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from naftiko_runtime.cli import main
from naftiko_runtime.errors import ConfigError
from naftiko_runtime.sandbox import sandbox_for
from naftiko_runtime.sandbox.hms_state import KEPT_CUES, KEPT_STREAMS, LiveStreamStore, StartOptions
from naftiko_runtime.sandbox.saved import MAX_BYTES, SandboxState

ROOT = Path(__file__).resolve().parents[2]
HMS = str(ROOT / "capabilities" / "hms-live-streams.yaml")
ROOM = "665f1c2e9a1b2c3d4e5f6a7b"


def call(*args: str) -> tuple[int, Any, str]:
    result = CliRunner().invoke(main, ["call", HMS, *args], catch_exceptions=False)
    try:
        out = json.loads(result.stdout)
    except ValueError:
        out = result.stdout
    return result.exit_code, out, result.stderr


def test_a_stream_started_in_one_run_is_found_in_the_next(tmp_path: Path) -> None:
    state = str(tmp_path / "sandbox.json")
    code, started, err = call("hms-start-live-stream", f"room_id={ROOM}", "--json", '{"body": {}}',
                              "--sandbox", "--sandbox-state", state)
    assert code == 0, err
    assert started["status"] == "starting"
    code, got, _ = call("hms-get-live-stream", f"stream_id={started['id']}", "--sandbox-state", state)
    assert code == 0 and got["id"] == started["id"] and got["status"] == "running"  # time moved on
    code, cue, _ = call("hms-send-timed-metadata", f"stream_id={started['id']}", "--json",
                        '{"body": {"payload": "hello", "duration": 5}}', "--sandbox-state", state)
    assert code == 0 and cue["status"] == "running"
    code, stopped, _ = call("hms-stop-live-stream", f"room_id={ROOM}", "--sandbox-state", state)
    assert code == 0 and [s["id"] for s in stopped["data"]] == [started["id"]]
    # A failed call keeps the state too: the stream is no longer running.
    code, error, _ = call("hms-stop-live-stream", f"room_id={ROOM}", "--sandbox-state", state)
    assert code == 1 and error["status"] == 404
    # Without the file, each run starts empty.
    code, fresh, _ = call("hms-get-live-stream", f"stream_id={started['id']}", "--sandbox")
    assert code == 1 and fresh["status"] == 404
    saved = json.loads(Path(state).read_text(encoding="utf-8"))
    assert saved["format"] == "naftiko-sandbox-state" and list(saved["simulators"]) == ["api.100ms.live"]


def test_a_file_that_is_not_sandbox_state_is_refused_and_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}', encoding="utf-8")
    code, _, err = call("hms-list-live-streams", "--sandbox-state", str(mine))
    assert code == 1 and "not a sandbox state file" in err
    assert mine.read_text(encoding="utf-8") == '{"my": "notes"}'
    assert not list(tmp_path.glob(".notes.json.*"))  # no temporary file left behind


def test_the_saved_state_is_bounded(tmp_path: Path) -> None:
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    counter = iter(range(1, 100_000))
    store = LiveStreamStore(clock=clock, ids=lambda: f"{next(counter):024x}")
    running = store.start("a" * 24, StartOptions())
    for i in range(KEPT_STREAMS + 50):
        room = f"{i + 1:024x}"
        store.start(room, StartOptions(meeting_url="https://example.test/" + "x" * 200))
        store.tick()
        store.stop_room(room)
        for _ in range(3):
            store.tick()
    for _ in range(KEPT_CUES + 5):
        store.send_timed_metadata(running.id, "cue", 1)
    data = store.dump()
    assert len(data["streams"]) == KEPT_STREAMS
    assert running.id in {s["id"] for s in data["streams"]}  # active streams are kept first
    assert len(next(s for s in data["streams"] if s["id"] == running.id)["timed_metadata"]) == KEPT_CUES
    assert len(json.dumps(data)) < MAX_BYTES

    restored = LiveStreamStore(clock=clock, ids=lambda: f"{next(counter):024x}")
    restored.restore(json.loads(json.dumps(data)))
    assert restored.get(running.id).to_json() == running.to_json()
    assert [s.id for s in restored.newest_first()][:3] == [s["id"] for s in data["streams"]][::-1][:3]


def test_unusable_saved_state_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": "naftiko-sandbox-state", "version": 1,
                                "simulators": {"api.100ms.live": {"streams": [{"id": 1}]}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="unusable"):
        sandbox_for("https://api.100ms.live/v2", SandboxState(path))
    path.write_text(json.dumps({"format": "naftiko-sandbox-state", "version": 99, "simulators": {}}),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="another version"):
        SandboxState(path)


def _state_with(stream: dict[str, Any], **store: Any) -> str:
    good = {"id": "6b1302c4bf47d5770061b177", "room_id": ROOM, "session_id": "s", "status": "running",
            "options": {}, "playback_url": "u", "seq": 0, "entered_tick": 1,
            "created_at": "2026-12-04T18:13:24+00:00", "updated_at": "2026-12-04T18:13:24+00:00"}
    simulator = {"tick": 1, "streams": [{**good, **stream}], **store}
    return json.dumps({"format": "naftiko-sandbox-state", "version": 1, "simulators": {"api.100ms.live": simulator}})


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("text", [
    pytest.param(_state_with({"options": []}), id="options-list"),
    pytest.param(_state_with({}, tick=float("inf")), id="tick-inf"),
    pytest.param(_state_with({"seq": float("inf")}), id="seq-inf"),
    pytest.param(_state_with({"entered_tick": 1.5}), id="tick-fraction"),
    pytest.param(_state_with({"seq": True}), id="seq-bool"),
    pytest.param(_state_with({"status": "completed", "recording_assets": [{"size": float("inf")}]}), id="asset-inf"),
    # Loads as a datetime, but cannot be converted to UTC as the simulator does when listing.
    pytest.param(_state_with({"created_at": "0001-01-01T00:00:00+14:00"}), id="year-1"),
    pytest.param(_state_with({"stopped_at": "9999-12-31T23:59:59-14:00"}), id="year-9999"),
    # Restored, or kept for another host, but then not UTF-8 when answered or saved.
    pytest.param(_state_with({"session_id": "\ud800"}), id="surrogate"),
    pytest.param(json.dumps({"format": "naftiko-sandbox-state", "version": 1, "simulators": {"other.test": "\ud800"}}),
                 id="surrogate-other-host"),
    pytest.param(DEEP, id="deep"),
    pytest.param('{"format": "naftiko-sandbox-state", "version": 1, "simulators": ' + DEEP + "}", id="deep-inside"),
    # Parses, but the simulator's answer could not be encoded later.
    pytest.param(_state_with({"status": "completed", "recording_assets": []}).replace(
        '"recording_assets": []', '"recording_assets": ' + "[" * 900 + "]" * 900), id="deep-but-parsable"),
])
def test_a_corrupt_state_file_is_refused_at_load_and_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text, encoding="utf-8")
    code, _, err = call("hms-list-live-streams", "--sandbox-state", str(path))
    assert code == 1 and str(path) in err
    assert "sandbox state" in err or "simulator state is unusable" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert path.read_text(encoding="utf-8") == text


def test_saved_times_without_an_offset_are_utc(tmp_path: Path) -> None:
    # A naive start and an aware stop must still give the recording's duration, not a TypeError.
    store = LiveStreamStore(clock=lambda: datetime(2026, 1, 1, 0, 1, tzinfo=UTC), ids=lambda: "f" * 24)
    store.restore(json.loads(_state_with({
        "status": "post_processing", "entered_tick": 0, "options": {"hls_vod": True},
        "started_at": "2026-01-01T00:00:00", "stopped_at": "2026-01-01T14:00:10+14:00",
    }, tick=0))["simulators"]["api.100ms.live"])
    store.tick()
    stream = store.get("6b1302c4bf47d5770061b177").to_json()
    assert stream["status"] == "completed" and stream["recording_assets"][0]["duration"] == 10
    assert stream["started_at"] == "2026-01-01T00:00:00Z"


def test_state_the_next_run_would_refuse_is_not_written_and_state_it_would_read_is(tmp_path: Path) -> None:
    class Store:
        def __init__(self, depth: int) -> None:
            self.depth = depth

        def dump(self) -> Any:  # an argument nested as deep as a call may send, kept a few levels down
            return {"streams": [{"options": {"transcription": json.loads("[" * self.depth + "]" * self.depth)}}]}

    path = tmp_path / "state.json"
    state = SandboxState(path)
    state.attach("api.100ms.live", SimpleNamespace(state=SimpleNamespace(store=Store(200))))
    with pytest.raises(ConfigError, match="is nested more than 128 levels deep"):
        state.save()
    assert not path.exists()
    state.attach("api.100ms.live", SimpleNamespace(state=SimpleNamespace(store=Store(64))))
    state.save()
    assert SandboxState(path).saved["api.100ms.live"]["streams"][0]["options"]["transcription"]
