"""`naftiko call --sandbox --sandbox-state FILE`: the simulator continues where the last run left off."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
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
