"""HTTP answers shared by the adapters: a unit's result as JSON, bytes or text, and failures and
refusals as RFC 9457 ``application/problem+json`` (an upstream's error status is passed on)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from naftiko_runtime.errors import InputError, InvocationError, UnavailableError, UpstreamError
from naftiko_runtime.formats import BinaryBody, RawBody
from naftiko_runtime.runtime import CallContext

__all__ = ["PROBLEM_TYPE_PREFIX", "answer", "error_problem", "problem", "rest_exception_handlers", "status_problem",
           "told_truncated"]

PROBLEM_TYPE_PREFIX = "urn:naftiko:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {
    "invalid-arguments": "Invalid arguments",
    "upstream-error": "Upstream error",
    "upstream-timeout": "Upstream timeout",
    "upstream-unavailable": "Upstream unavailable",
    "undecodable-response": "Undecodable upstream response",
    "mapping-error": "Output mapping failed",
    "invocation-error": "Invocation failed",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "internal-error": "Internal error",
    "unavailable": "Service unavailable",
    "bad-request": "Bad request",
    "too-large": "Content too large",
}


def problem(status: int, code: str, detail: str | None = None, *, headers: Mapping[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """An ``application/problem+json`` response: type, title, status, detail, plus extension members."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE_PREFIX + code, "title": _TITLES.get(code, code), "status": status}
    if detail:
        body["detail"] = detail
    body["code"] = code
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def status_problem(status: int, detail: str, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A refusal that means no more than its HTTP status (a guard's, an authenticator's): RFC 9457's
    ``about:blank`` type, titled with the status's own phrase."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def error_problem(exc: InvocationError) -> JSONResponse:
    """A runtime failure -> its problem. An upstream error status is passed on, as the reference does."""
    status = exc.http_status
    extra: dict[str, Any] = {"operation": exc.operation}
    if isinstance(exc, UpstreamError):
        extra["upstreamStatus"] = exc.status
        status = exc.status if 400 <= exc.status <= 599 else 502
    if isinstance(exc, InputError):
        extra["errors"] = exc.problems
    headers = None
    if isinstance(exc, UnavailableError) and exc.retry_after is not None:  # draining, circuit open, bulkhead full
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return problem(status, exc.kind, exc.message, headers=headers, **extra)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail = None if exc.detail in (None, "Not Found", "Method Not Allowed") else str(exc.detail)
    if exc.status_code == 404 and detail is None:
        detail = f"no route matches {request.method} {request.url.path}"
    return problem(exc.status_code, code, detail, headers=exc.headers)


def rest_exception_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Exception handlers that render Starlette's 404/405 (and other HTTP errors) as problems."""
    return {HTTPException: _http_exception}


def answer(result: Any, status: int = 200, binary_media_type: str | None = None) -> Response:
    """A unit's result as an HTTP answer: JSON, or the upstream's own bytes or text; 204 for nothing."""
    if result is None:
        return Response(status_code=204 if status == 200 else status)
    if isinstance(result, BinaryBody):  # the upstream's bytes, as they came
        return Response(bytes(result), status_code=status, media_type=binary_media_type or result.media_type)
    if isinstance(result, RawBody):  # nothing mapped from a non-JSON upstream: its own body
        return Response(result, status_code=status, media_type=result.media_type)
    return JSONResponse(result, status_code=status)


def told_truncated(response: Response, context: CallContext) -> Response:
    """``Naftiko-Truncated`` on an answer whose pages stopped at a cap while the upstream had more."""
    if context.truncated is not None:
        from naftiko_runtime.paging import TRUNCATED_HEADER, truncation_header

        response.headers[TRUNCATED_HEADER] = truncation_header(context.truncated)
    return response
