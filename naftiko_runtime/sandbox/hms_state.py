"""State and lifecycle of simulated 100ms live streams. No HTTP here: see `hms.py`.

Time in the simulator moves in *ticks*: every authenticated API request is one tick. A stream in a
transitional status (`starting`, `stopping`, `post_processing`) moves on once `transition_after`
ticks have passed since it entered that status, so tests and agents see a realistic flow without
sleeping. Wall-clock values (the `*_at` fields) come from the injected clock.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

STATUSES = ("starting", "running", "stopping", "post_processing", "completed", "failed")
ACTIVE = frozenset({"starting", "running"})
TERMINAL = frozenset({"completed", "failed"})
TRANSITIONAL = frozenset({"starting", "stopping", "post_processing"})

DEFAULT_LIMIT = 10
MIN_LIMIT = 10
MAX_LIMIT = 100
MAX_PAYLOAD_CHARS = 100

# The simulator has no dashboard or template, so it invents a fixed account and destination name.
SANDBOX_CUSTOMER_ID = "5a9dc0ffee5a9dc0ffee5a9d"
DEFAULT_DESTINATION = "sandbox-hls"
PLAYBACK_ROOT = "https://cdn.100ms.live/beam"
RECORDING_ROOT = "s3://sandbox-recordings/beam"
# Illustrative encoding figures for the generated recording assets (about 2 Mbit/s, 720p).
BYTES_PER_SECOND = 250_000
VOD_LAYER = {"num_layers": 1, "max_width": 1280, "max_height": 720}

NOT_RUNNING = "hls not running"
# What a saved state keeps (`naftiko call --sandbox-state`): the newest streams, the latest cues of each.
KEPT_STREAMS = 200
KEPT_CUES = 20


class ApiError(Exception):
    """A failure the API reports with its `{code, message, details}` envelope."""

    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with `Z` and a trimmed fraction, the way the API (Go's RFC3339Nano) prints it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def utc_now() -> datetime:
    return datetime.now(UTC)


def object_id_factory() -> Callable[[], str]:
    """24-hex ids laid out like MongoDB ObjectIds (seconds, random, counter), as 100ms uses."""
    process = os.urandom(5).hex()
    counter: Iterator[int] = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next_id() -> str:
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{process}{next(counter) & 0xFFFFFF:06x}"

    return next_id


@dataclass(frozen=True)
class StartOptions:
    """The validated body of a start request."""

    meeting_url: str = ""
    destination: str = DEFAULT_DESTINATION
    hls_vod: bool = False
    single_file_per_layer: bool = False
    transcription: dict[str, Any] | None = None


@dataclass(frozen=True)
class TimedMetadata:
    payload: str
    duration: int
    sent_at: datetime


@dataclass
class LiveStream:
    id: str
    room_id: str
    session_id: str
    options: StartOptions
    playback_url: str
    created_at: datetime
    updated_at: datetime
    seq: int
    entered_tick: int
    status: str = "starting"
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    recording_assets: list[dict[str, Any]] | None = None
    # Not visible in the API object (it has no "paused" flag); kept for inspection in tests.
    recording_paused: bool = False
    timed_metadata: list[TimedMetadata] = field(default_factory=list)

    @property
    def records(self) -> bool:
        return self.options.hls_vod or self.options.single_file_per_layer

    def to_json(self) -> dict[str, Any]:
        """The live-stream object with every key present; unset timestamps are null."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "session_id": self.session_id,
            "status": self.status,
            "meeting_url": self.options.meeting_url,
            "playback": {"url": self.playback_url},
            "recording": {
                "hls_vod": self.options.hls_vod,
                "single_file_per_layer": self.options.single_file_per_layer,
            },
            "destination": self.options.destination,
            "created_at": format_time(self.created_at),
            "started_at": _optional_time(self.started_at),
            "updated_at": format_time(self.updated_at),
            "started_by": "",
            "stopped_at": _optional_time(self.stopped_at),
            "stopped_by": "",
            "recording_assets": self.recording_assets,
        }


def _optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


class LiveStreamStore:
    """Every live stream of one simulator instance, newest last."""

    def __init__(
        self, *, clock: Callable[[], datetime], ids: Callable[[], str], transition_after: int = 1
    ) -> None:
        if transition_after < 1:
            raise ValueError("transition_after must be at least 1")
        self._clock = clock
        self._ids = ids
        self._after = transition_after
        self._tick = 0
        self._seq = itertools.count()
        self._streams: dict[str, LiveStream] = {}

    # ------------------------------------------------------------------ saved state

    def dump(self) -> dict[str, Any]:
        """The state as JSON data, bounded: the newest ``KEPT_STREAMS`` streams (every active one
        first), each with its latest ``KEPT_CUES`` timed-metadata cues."""
        newest = self.newest_first()
        kept = [s for s in newest if s.status not in TERMINAL][:KEPT_STREAMS]
        kept += [s for s in newest if s.status in TERMINAL][: KEPT_STREAMS - len(kept)]
        kept.sort(key=lambda s: s.seq)
        return {"tick": self._tick, "streams": [_stream_data(s) for s in kept]}

    def restore(self, data: Any) -> None:
        """Continue from ``dump()`` data; raises ValueError when it is not such data."""
        if not isinstance(data, dict) or not isinstance(data.get("streams"), list):
            raise ValueError("not live-streams simulator state")
        try:
            streams = [_stream_from(item) for item in data["streams"]]
            tick = _count(data.get("tick", 0), "tick")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not live-streams simulator state ({exc})") from None
        self._tick = max(tick, max((s.entered_tick for s in streams), default=0))
        self._streams = {s.id: s for s in sorted(streams, key=lambda s: s.seq)}
        self._seq = itertools.count(max((s.seq for s in streams), default=-1) + 1)

    def tick(self) -> None:
        """One request's worth of time: advance every stream whose transitional status has expired."""
        self._tick += 1
        now: datetime | None = None
        for stream in self._streams.values():
            if stream.status in TRANSITIONAL and self._tick - stream.entered_tick >= self._after:
                now = now or self._clock()
                self._advance(stream, now)

    def _advance(self, stream: LiveStream, now: datetime) -> None:
        if stream.status == "starting":
            stream.started_at = now
            self._enter(stream, "running", now)
        elif stream.status == "stopping" and stream.records and stream.started_at is not None:
            self._enter(stream, "post_processing", now)
        else:
            if stream.status == "post_processing":
                stream.recording_assets = self._assets(stream, now)
            self._enter(stream, "completed", now)

    def _enter(self, stream: LiveStream, status: str, now: datetime) -> None:
        stream.status = status
        stream.updated_at = now
        stream.entered_tick = self._tick

    def start(self, room_id: str, options: StartOptions) -> LiveStream:
        room = [s for s in self._streams.values() if s.room_id == room_id and s.status not in TERMINAL]
        if any(s.status in ACTIVE and s.options.destination == options.destination for s in room):
            raise ApiError(400, "hls already running", [f"room {room_id} already has a live stream"])
        now = self._clock()
        stream_id = self._ids()
        stream = LiveStream(
            id=stream_id,
            # A room keeps its session while any of its streams is still alive.
            session_id=room[0].session_id if room else self._ids(),
            room_id=room_id,
            options=options,
            playback_url=_playback_url(room_id, now),
            created_at=now,
            updated_at=now,
            seq=next(self._seq),
            entered_tick=self._tick,
        )
        self._streams[stream_id] = stream
        return stream

    def get(self, stream_id: str) -> LiveStream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ApiError(404, "live stream not found", [f"no live stream with id {stream_id}"])
        return stream

    def newest_first(self) -> list[LiveStream]:
        return sorted(self._streams.values(), key=lambda s: s.seq, reverse=True)

    def page(
        self,
        *,
        room_id: str | None,
        session_id: str | None,
        status: str | None,
        start: str | None,
        limit: int,
    ) -> list[LiveStream]:
        """Streams after the cursor `start` (an id from a previous page), filtered, newest first."""
        ordered = self.newest_first()
        if start is not None:
            position = next((i for i, s in enumerate(ordered) if s.id == start), None)
            if position is None:
                raise ApiError(400, "Invalid query param", ["start: unknown live stream id"])
            ordered = ordered[position + 1 :]
        matches = (
            s
            for s in ordered
            if (room_id is None or s.room_id == room_id)
            and (session_id is None or s.session_id == session_id)
            and (status is None or s.status == status)
        )
        return list(itertools.islice(matches, limit))

    def stop(self, stream_id: str) -> LiveStream:
        stream = self._require_active(self.get(stream_id))
        self._begin_stop(stream, self._clock())
        return stream

    def stop_room(self, room_id: str) -> list[LiveStream]:
        active = [s for s in self.newest_first() if s.room_id == room_id and s.status in ACTIVE]
        if not active:
            raise ApiError(404, NOT_RUNNING, [f"no live stream is running in room {room_id}"])
        now = self._clock()
        for stream in active:
            self._begin_stop(stream, now)
        return active

    def _begin_stop(self, stream: LiveStream, now: datetime) -> None:
        stream.stopped_at = now
        self._enter(stream, "stopping", now)

    def send_timed_metadata(self, stream_id: str, payload: str, duration: int) -> LiveStream:
        stream = self._require_running(self.get(stream_id))
        stream.timed_metadata.append(TimedMetadata(payload, duration, self._clock()))
        return stream

    def set_recording_paused(self, stream_id: str, paused: bool) -> LiveStream:
        stream = self._require_running(self.get(stream_id))
        stream.recording_paused = paused
        stream.updated_at = self._clock()
        return stream

    @staticmethod
    def _require_active(stream: LiveStream) -> LiveStream:
        if stream.status not in ACTIVE:
            raise ApiError(404, NOT_RUNNING, [f"live stream {stream.id} is {stream.status}"])
        return stream

    @staticmethod
    def _require_running(stream: LiveStream) -> LiveStream:
        if stream.status != "running":
            raise ApiError(404, NOT_RUNNING, [f"live stream {stream.id} is {stream.status}"])
        return stream

    def _assets(self, stream: LiveStream, now: datetime) -> list[dict[str, Any]]:
        """Recording assets a finished stream leaves behind, according to its recording flags."""
        began, ended = stream.started_at or now, stream.stopped_at or now
        seconds = max(0, int((ended - began).total_seconds()))
        folder = f"{RECORDING_ROOT}/{SANDBOX_CUSTOMER_ID}/{quote(stream.room_id, safe='')}/{stream.id}"
        kinds: list[tuple[str, str, dict[str, Any]]] = []
        if stream.options.hls_vod:
            kinds.append(("room-vod", f"{folder}/vod/index.m3u8", dict(VOD_LAYER)))
        if stream.options.single_file_per_layer:
            kinds.append(("room-composite", f"{folder}/layer-0.mp4", {"layer": 0}))
        return [
            {
                "id": self._ids(),
                "thumbnails": None,
                "duration": seconds,
                "path": path,
                "status": "completed",
                "created_at": format_time(now),
                "type": kind,
                "size": seconds * BYTES_PER_SECOND,
                "metadata": metadata,
            }
            for kind, path, metadata in kinds
        ]


def _stream_data(stream: LiveStream) -> dict[str, Any]:
    options = stream.options
    return {
        "id": stream.id, "room_id": stream.room_id, "session_id": stream.session_id, "status": stream.status,
        "options": {"meeting_url": options.meeting_url, "destination": options.destination,
                    "hls_vod": options.hls_vod, "single_file_per_layer": options.single_file_per_layer,
                    "transcription": options.transcription},
        "playback_url": stream.playback_url, "seq": stream.seq, "entered_tick": stream.entered_tick,
        "created_at": stream.created_at.isoformat(), "updated_at": stream.updated_at.isoformat(),
        "started_at": stream.started_at.isoformat() if stream.started_at else None,
        "stopped_at": stream.stopped_at.isoformat() if stream.stopped_at else None,
        "recording_assets": stream.recording_assets, "recording_paused": stream.recording_paused,
        "timed_metadata": [{"payload": m.payload, "duration": m.duration, "sent_at": m.sent_at.isoformat()}
                           for m in stream.timed_metadata[-KEPT_CUES:]],
    }


def _stream_from(data: dict[str, Any]) -> LiveStream:
    options = data["options"]
    if not isinstance(options, dict):
        raise ValueError("options is not an object")
    status = str(data["status"])
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    started, stopped = data.get("started_at"), data.get("stopped_at")
    return LiveStream(
        id=str(data["id"]), room_id=str(data["room_id"]), session_id=str(data["session_id"]),
        options=StartOptions(str(options.get("meeting_url") or ""),
                             str(options.get("destination") or DEFAULT_DESTINATION),
                             bool(options.get("hls_vod")), bool(options.get("single_file_per_layer")),
                             options.get("transcription") if isinstance(options.get("transcription"), dict) else None),
        playback_url=str(data["playback_url"]), created_at=_moment(data["created_at"], "created_at"),
        updated_at=_moment(data["updated_at"], "updated_at"), seq=_count(data["seq"], "seq"),
        entered_tick=_count(data["entered_tick"], "entered_tick"), status=status,
        started_at=None if started is None else _moment(started, "started_at"),
        stopped_at=None if stopped is None else _moment(stopped, "stopped_at"),
        recording_assets=data.get("recording_assets") if isinstance(data.get("recording_assets"), list) else None,
        recording_paused=bool(data.get("recording_paused")),
        timed_metadata=[TimedMetadata(str(m["payload"]), _count(m["duration"], "duration"),
                                      _moment(m["sent_at"], "sent_at"))
                        for m in data.get("timed_metadata") or []],
    )


def _count(value: Any, name: str) -> int:
    """A saved tick, sequence number or duration. JSON also allows fractions, booleans and
    Infinity, which would crash or skew the counters later: refuse them here."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is not a whole number >= 0")
    return value


def _moment(value: Any, name: str) -> datetime:
    """A saved time, in UTC as the simulator prints and subtracts them (no offset means UTC). A time
    that has no UTC form (year 1 at +14:00) is refused now rather than failing a later call."""
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a time")
    moment = datetime.fromisoformat(value)
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{name} is out of range") from None


def _playback_url(room_id: str, now: datetime) -> str:
    """Master playlist URL in the CDN layout 100ms documents (not playable: nothing is encoded)."""
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    day = moment.astimezone(UTC).strftime("%Y%m%d")
    millis = int(moment.timestamp() * 1000)
    return f"{PLAYBACK_ROOT}/{SANDBOX_CUSTOMER_ID}/{quote(room_id, safe='')}/{day}/{millis}/master.m3u8"
