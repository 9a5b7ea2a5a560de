"""Simulator of the 100ms v2 Live Streams (HLS) REST API, as a stateful Starlette app.

The app answers both at the API root (`/live-streams...`) and under `/v2`, so it works whether it is
mounted for the base URI `https://api.100ms.live/v2` or addressed directly. Lifecycle rules live in
`hms_state.py`; this module handles HTTP: auth, request validation, envelopes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from naftiko_runtime import jsontext

from .hms_state import (
    DEFAULT_DESTINATION,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_PAYLOAD_CHARS,
    MIN_LIMIT,
    STATUSES,
    ApiError,
    LiveStreamStore,
    StartOptions,
    object_id_factory,
    utc_now,
)

__all__ = ["create_app"]

MAX_BODY_BYTES = 1_000_000
TRANSCRIPTION_MODES = frozenset({"recorded", "live"})
TRANSCRIPTION_OUTPUTS = frozenset({"txt", "srt", "json"})
SUMMARY_FORMATS = frozenset({"bullets", "paragraph"})

Handler = Callable[[Request, bytes], Any]


def create_app(
    *,
    clock: Callable[[], datetime] | None = None,
    ids: Callable[[], str] | None = None,
    accept_token: Callable[[str], bool] | None = None,
    transition_after: int = 1,
) -> Starlette:
    """A fresh simulator with its own state.

    `clock` supplies timestamps (default: now, UTC); `ids` supplies 24-hex ids; `accept_token` decides
    which bearer tokens pass (default: any non-empty one); `transition_after` is how many later
    requests a `starting`/`stopping`/`post_processing` status lasts.
    """
    store = LiveStreamStore(
        clock=clock or utc_now, ids=ids or object_id_factory(), transition_after=transition_after
    )
    api = _LiveStreamsApi(store, accept_token or bool)
    app = Starlette(
        routes=[*api.routes(), Mount("/v2", routes=api.routes())],
        exception_handlers={HTTPException: _http_exception},
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.store = store
    return app


def error_response(status: int, message: str, details: list[str] | None = None, **kw: Any) -> JSONResponse:
    """The API's error envelope: `{code, message, details}`."""
    body = {"code": status, "message": message, "details": details or []}
    return JSONResponse(body, status_code=status, **kw)


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Routing failures (unknown path, wrong method, oversized body) in the API's envelope."""
    assert isinstance(exc, HTTPException)
    messages = {404: "resource not found", 405: "method not allowed"}
    message = messages.get(exc.status_code, str(exc.detail).lower())
    where = [f"{request.method} {request.url.path}"]
    return error_response(exc.status_code, message, where, headers=exc.headers)


class _LiveStreamsApi:
    def __init__(self, store: LiveStreamStore, accept_token: Callable[[str], bool]) -> None:
        self._store = store
        self._accept_token = accept_token

    def routes(self) -> list[BaseRoute]:
        def route(path: str, handler: Handler, method: str) -> Route:
            return Route(path, self._endpoint(handler), methods=[method])

        return [
            route("/live-streams", self._list, "GET"),
            route("/live-streams/room/{room_id}/start", self._start, "POST"),
            route("/live-streams/room/{room_id}/stop", self._stop_room, "POST"),
            route("/live-streams/{stream_id}", self._get, "GET"),
            route("/live-streams/{stream_id}/stop", self._stop, "POST"),
            route("/live-streams/{stream_id}/timed-metadata", self._timed_metadata, "POST"),
            route("/live-streams/{stream_id}/pause-recording", self._pause, "POST"),
            route("/live-streams/{stream_id}/resume-recording", self._resume, "POST"),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            denied = self._check_auth(request)
            if denied is not None:
                return denied
            body = await request.body()
            # From here on there is no await, so a request's tick and state change are atomic.
            self._store.tick()
            try:
                return JSONResponse(handler(request, body))
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.details)

        return endpoint

    def _check_auth(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return error_response(401, "Token validation error", ["missing bearer token"])
        if not self._accept_token(token):
            return error_response(401, "Token validation error", ["token rejected"])
        return None

    def _list(self, request: Request, body: bytes) -> dict[str, Any]:
        query = request.query_params
        problems: list[str] = []
        limit = _parse_limit(query.get("limit"), problems)
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            problems.append(f"status: must be one of {', '.join(STATUSES)}")
        if problems:
            raise ApiError(400, "Invalid query param", problems)
        streams = self._store.page(
            room_id=query.get("room_id") or None,
            session_id=query.get("session_id") or None,
            status=status,
            start=query.get("start") or None,
            limit=limit,
        )
        return _paged(streams, limit)

    def _get(self, request: Request, body: bytes) -> dict[str, Any]:
        return self._store.get(request.path_params["stream_id"]).to_json()

    def _start(self, request: Request, body: bytes) -> dict[str, Any]:
        options = _parse_start(_json_object(body))
        return self._store.start(request.path_params["room_id"], options).to_json()

    def _stop_room(self, request: Request, body: bytes) -> dict[str, Any]:
        stopped = self._store.stop_room(request.path_params["room_id"])
        # The documented envelope carries an `error` key whose meaning is undocumented; empty here.
        page = _paged(stopped, max(DEFAULT_LIMIT, len(stopped)))
        return {"error": "", "data": page["data"], "limit": page["limit"], "last": page["last"]}

    def _stop(self, request: Request, body: bytes) -> dict[str, Any]:
        return self._store.stop(request.path_params["stream_id"]).to_json()

    def _timed_metadata(self, request: Request, body: bytes) -> dict[str, Any]:
        stream_id = request.path_params["stream_id"]
        self._store.get(stream_id)  # an unknown stream is a 404 before any body problem
        payload, duration = _parse_timed_metadata(_json_object(body))
        return self._store.send_timed_metadata(stream_id, payload, duration).to_json()

    def _pause(self, request: Request, body: bytes) -> dict[str, Any]:
        return self._store.set_recording_paused(request.path_params["stream_id"], True).to_json()

    def _resume(self, request: Request, body: bytes) -> dict[str, Any]:
        return self._store.set_recording_paused(request.path_params["stream_id"], False).to_json()


def _paged(streams: list[Any], limit: int) -> dict[str, Any]:
    data = [s.to_json() for s in streams]
    return {"limit": limit, "data": data, "last": data[-1]["id"] if data else ""}


def _parse_limit(raw: str | None, problems: list[str]) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not MIN_LIMIT <= int(raw) <= MAX_LIMIT:
        problems.append(f"limit: must be an integer from {MIN_LIMIT} to {MAX_LIMIT}")
        return DEFAULT_LIMIT
    return int(raw)


def _json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as `{}` (SDKs send `{}` anyway)."""
    if not body.strip():
        return {}
    try:
        data = jsontext.loads(body)
    except ValueError:  # not UTF-8, not JSON, nested too deeply
        raise ApiError(400, "Invalid body param", ["body: not valid JSON"]) from None
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid body param", ["body: must be a JSON object"])
    return data


def _parse_start(data: dict[str, Any]) -> StartOptions:
    problems: list[str] = []
    meeting_url = _optional_str(data, "meeting_url", "", problems)
    if meeting_url and not _is_web_url(meeting_url):
        problems.append("meeting_url: must be an http(s) URL")
    destination = _optional_str(data, "destination", "", problems) or DEFAULT_DESTINATION
    recording = _optional_object(data, "recording", problems)
    hls_vod = _optional_bool(recording, "recording.hls_vod", problems)
    per_layer = _optional_bool(recording, "recording.single_file_per_layer", problems)
    transcription = _optional_object(data, "transcription", problems)
    _check_transcription(transcription, problems)
    if problems:
        raise ApiError(400, "Invalid body param", problems)
    return StartOptions(meeting_url, destination, hls_vod, per_layer, transcription or None)


def _parse_timed_metadata(data: dict[str, Any]) -> tuple[str, int]:
    problems: list[str] = []
    payload, duration = data.get("payload"), data.get("duration")
    if payload is None:
        problems.append("payload: required")
    elif not isinstance(payload, str) or not 1 <= len(payload) <= MAX_PAYLOAD_CHARS:
        problems.append(f"payload: must be a string of 1 to {MAX_PAYLOAD_CHARS} characters")
    if duration is None:
        problems.append("duration: required")
    elif not _is_int(duration) or duration < 1:
        problems.append("duration: must be a positive integer (seconds)")
    if problems:
        raise ApiError(400, "Invalid body param", problems)
    assert isinstance(payload, str) and isinstance(duration, int)
    return payload, duration


def _check_transcription(config: dict[str, Any], problems: list[str]) -> None:
    """Limits 100ms documents for the `transcription` block (accepted, never echoed)."""
    _optional_bool(config, "transcription.enabled", problems)
    _check_subset(config, "modes", TRANSCRIPTION_MODES, problems)
    _check_subset(config, "output_modes", TRANSCRIPTION_OUTPUTS, problems)
    vocabulary = config.get("custom_vocabulary")
    if vocabulary is not None and not _is_str_list(vocabulary):
        problems.append("transcription.custom_vocabulary: must be a list of strings")
    summary = _optional_object(config, "transcription.summary", problems)
    _optional_bool(summary, "transcription.summary.enabled", problems)
    context = _optional_str(summary, "transcription.summary.context", "", problems)
    if len(context) > 300:
        problems.append("transcription.summary.context: at most 300 characters")
    temperature = summary.get("temperature")
    if temperature is not None and not (_is_number(temperature) and 0.1 <= temperature <= 1.0):
        problems.append("transcription.summary.temperature: must be a number from 0.1 to 1.0")
    _check_sections(summary.get("sections"), problems)


def _check_sections(sections: Any, problems: list[str]) -> None:
    where = "transcription.summary.sections"
    if sections is None:
        return
    if not isinstance(sections, list) or len(sections) > 6:
        problems.append(f"{where}: must be a list of at most 6 sections")
        return
    for index, section in enumerate(sections):
        title = section.get("title") if isinstance(section, dict) else None
        if not isinstance(title, str) or not 1 <= len(title) <= 100:
            problems.append(f"{where}[{index}].title: required, 1 to 100 characters")
        if not isinstance(section, dict) or section.get("format") not in SUMMARY_FORMATS:
            problems.append(f"{where}[{index}].format: must be one of bullets, paragraph")


def _check_subset(config: dict[str, Any], key: str, allowed: frozenset[str], problems: list[str]) -> None:
    value = config.get(key)
    if value is not None and not (_is_str_list(value) and set(value) <= allowed):
        problems.append(f"transcription.{key}: must be a list drawn from {', '.join(sorted(allowed))}")


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _optional_str(data: dict[str, Any], name: str, default: str, problems: list[str]) -> str:
    value = data.get(_leaf(name))
    if value is None:
        return default
    if not isinstance(value, str):
        problems.append(f"{name}: must be a string")
        return default
    return value


def _optional_bool(data: dict[str, Any], name: str, problems: list[str]) -> bool:
    value = data.get(_leaf(name))
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(f"{name}: must be a boolean")
        return False
    return value


def _optional_object(data: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(_leaf(name))
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{name}: must be an object")
        return {}
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_web_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
