"""Expose, REST: a ``type: rest`` exposure -> Starlette routes that call the runtime.

A thin adapter: each request's inputs are read from the path, query, headers, cookies and body,
coerced to their declared types and checked (every problem reported at once), then handed to
``Runtime.invoke``. Results are JSON, with the upstream's 2xx status for a single call; failures
are RFC 9457 ``application/problem+json``. ``forward`` resources stream the upstream response
back unchanged (``Runtime.forward``).

Deliberate differences from the reference engine: inputs are coerced and checked against ``type``
and ``pattern``; cookies are read; ``forward`` keeps the query string; a body field missing from the
request body is missing (the reference substitutes the whole body) unless it is the only body input.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute
from starlette.routing import Route as Route_
from starlette.types import Receive, Scope, Send

from naftiko_runtime import jsontext
from naftiko_runtime.errors import InputError, InvocationError
from naftiko_runtime.expose.answers import answer, error_problem, problem, rest_exception_handlers, told_truncated
from naftiko_runtime.expose.auth import caller_of
from naftiko_runtime.expose.guards import CALLED, ROUTE
from naftiko_runtime.model import Input, RestExposure, RestResource, Route
from naftiko_runtime.model.exposes import GREEDY_VARIABLE
from naftiko_runtime.model.refs import placeholders
from naftiko_runtime.runtime import CallContext, ForwardRequest, Runtime
from naftiko_runtime.telemetry import log_call, traces

if TYPE_CHECKING:
    from starlette.types import Lifespan

__all__ = ["build_rest_app", "build_rest_routes", "openapi_route"]

logger = logging.getLogger("naftiko.rest")

_TEXT_SOURCES = ("path", "query", "header", "cookie")
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})
_MISSING = object()


# ----------------------------------------------------------------------------------------------------
# Input extraction
# ----------------------------------------------------------------------------------------------------


def _coerce_text(text: str | list[str], kind: str | None) -> tuple[Any, str | None]:
    """A value read as text (path, query, header, cookie, form field) -> its declared type."""
    if kind == "array":
        if isinstance(text, list):
            return text, None
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                value = jsontext.loads(stripped)
            except ValueError:
                return None, "must be a JSON array or comma-separated values"
            return (value, None) if isinstance(value, list) else (None, "must be an array")
        return ([part.strip() for part in stripped.split(",")] if stripped else []), None
    if isinstance(text, list):
        text = text[-1]
    if kind == "integer":
        return _integer(text.strip())
    if kind == "number":
        return _number(text.strip())
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE, None
        return None, "must be true or false"
    if kind == "object":
        try:
            value = jsontext.loads(text)
        except ValueError:
            return None, "must be a JSON object"
        return (value, None) if isinstance(value, dict) else (None, "must be a JSON object")
    return text, None


def _integer(text: str) -> tuple[Any, str | None]:
    """ASCII digits only (``int`` and ``float`` also take other scripts' digits, ``_`` and spaces)."""
    if not _INTEGER.fullmatch(text):
        return None, "must be an integer"
    try:
        return int(text), None
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return None, "is too large"


def _number(text: str) -> tuple[Any, str | None]:
    if not _NUMBER.fullmatch(text):
        return None, "must be a number"
    if _INTEGER.fullmatch(text):
        return _integer(text)
    number = float(text)
    return (number, None) if math.isfinite(number) else (None, "must be a finite number")


def _check_json(value: Any, kind: str | None) -> tuple[Any, str | None]:
    """A value read from a JSON body must already have its declared type (5.0 counts as an integer).
    A string for a number, integer or boolean goes on as it is: the runtime's argument check coerces
    the unambiguous ones (``"20"``, ``"true"``) and refuses the rest, as it does for MCP and ``call``."""
    if kind in (None, "", "any") or value is None:
        return value, None
    if isinstance(value, str) and kind in ("integer", "number", "boolean"):
        return value, None
    # JSON text may hold Infinity/NaN (Python's json reads them) and integers too large for a float.
    numeric = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    numeric = numeric and not isinstance(value, bool)
    if kind == "string" and isinstance(value, str):
        return value, None
    if kind == "integer" and numeric and (isinstance(value, int) or value.is_integer()):
        return int(value), None
    if kind == "number" and numeric:
        return value, None
    if kind == "boolean" and isinstance(value, bool):
        return value, None
    if kind == "array" and isinstance(value, list):
        return value, None
    if kind == "object" and isinstance(value, dict):
        return value, None
    article = "an" if kind[0] in "aeiou" else "a"
    return None, f"must be {article} {kind}"


@dataclass(frozen=True, slots=True)
class _Body:
    """The request body, read once: JSON, or form fields (text, coerced like query values)."""

    value: Any
    textual: bool
    error: str | None = None


async def _read_body(request: Request) -> _Body:
    raw = await request.body()
    if not raw.strip():
        return _Body(None, False)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        fields: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            fields[key] = [*fields[key], value] if isinstance(fields.get(key), list) else (
                [fields[key], value] if key in fields else value)
        return _Body(fields, True)
    try:
        return _Body(jsontext.loads(raw), False)
    except ValueError:
        return _Body(None, False, "the request body is not valid JSON")


@dataclass(frozen=True, slots=True)
class _Input:
    """One route input, with its pattern compiled once."""

    param: Input
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, param: Input) -> _Input:
        pattern = None
        if param.pattern:
            try:
                pattern = re.compile(param.pattern)
            except re.error:
                logger.warning("ignoring the invalid pattern of input %r", param.name)
        return cls(param, pattern)


class _Endpoint:
    """One route path (every resource declaring it): picks the operation by method, reads the inputs,
    invokes, renders."""

    def __init__(self, resources: list[RestResource], runtime: Runtime, auth: Any, aliases: Mapping[str, str]) -> None:
        self.runtime = runtime
        self.auth = auth
        self.aliases = aliases  # Starlette-safe path parameter name -> declared name
        self.path = resources[0].path
        self.operations: dict[str, tuple[Route, tuple[_Input, ...]]] = {}
        for resource in resources:
            for route in resource.routes:
                inputs = tuple(_Input.of(i) for i in route.inputs if not i.is_constant)
                self.operations.setdefault(route.method, (route, inputs))
        self.forward = next((r.forward for r in resources if r.forward is not None), None)
        methods = list(self.operations)
        if "GET" in methods:
            methods.append("HEAD")
        if self.forward is not None:
            methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        self.methods = list(dict.fromkeys(methods))
        self.allow = ", ".join(self.methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        scope[ROUTE] = self.path
        attributes = {"http.request.method": request.method, "http.route": self.path}
        with traces.server_span(f"{request.method} {self.path}", request.headers, attributes):
            response = await self.respond(request)
        await response(scope, receive, send)

    def _context(self, request: Request) -> CallContext:
        request.scope[CALLED] = True  # the call leaves its own log line
        return CallContext(transport="rest", request_id=request.headers.get("x-request-id"),
                           caller=caller_of(request.scope), traceparent=request.headers.get("traceparent"))

    async def respond(self, request: Request) -> Response:
        if self.auth is not None:
            denied = await self.auth.check(request)
            if denied is not None:
                return denied
        values = {self.aliases.get(k, k): v for k, v in request.path_params.items()}
        method = request.method
        entry = self.operations.get(method) or (self.operations.get("GET") if method == "HEAD" else None)
        if entry is None:
            if self.forward is not None:
                return await self._forward(request, values)
            return problem(405, "method-not-allowed", f"{method} is not allowed on {request.url.path}",
                           headers={"Allow": self.allow})
        route, inputs = entry
        name = route.label
        context = self._context(request)
        try:
            started = time.perf_counter()
            try:
                arguments = await self._arguments(request, values, inputs, name)
            except InputError as exc:  # refused before the runtime saw it: logged here
                log_call(route.kind, name, context, exc.kind, time.perf_counter() - started)
                raise
            result = await self.runtime.invoke(route, arguments, context)
            status = context.status if context.status is not None and 200 <= context.status < 300 else 200
            return told_truncated(answer(result, status, route.binary_media_type), context)
        except InvocationError as exc:
            return error_problem(exc)
        except ClientDisconnect:  # gone (or dropped by the body timeout) before its body arrived: no one to answer
            logger.debug("route %s: the client disconnected before sending its body", name)
            return Response(status_code=400)
        except Exception as exc:  # a bug must not take the server down nor leak internals
            logger.error("route %s failed: %s", name, type(exc).__name__)
            logger.debug("route %s failure", name, exc_info=True)
            return problem(500, "internal-error", "the operation failed unexpectedly", operation=name)

    async def _arguments(self, request: Request, values: Mapping[str, Any], inputs: tuple[_Input, ...],
                         operation: str) -> dict[str, Any]:
        """Every input, coerced and checked; raises InputError listing every problem."""
        arguments: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        body: _Body | None = None
        body_inputs = [i for i in inputs if i.param.in_ == "body"]
        for item in inputs:
            param = item.param
            where = param.in_ or "query"
            textual = where in _TEXT_SOURCES
            if where == "body":
                if body is None:
                    body = await _read_body(request)
                    if body.error:
                        problems.append({"in": "body", "name": None, "message": body.error})
                if body.error:
                    continue
                raw = self._from_body(item, body.value, len(body_inputs) == 1)
                textual = body.textual
            else:
                raw = self._from_request(request, values, param, where)
            label = f"{where} parameter '{param.name}'" if where != "body" else f"body field '{param.name}'"
            if raw is _MISSING or raw is None:
                if param.required:
                    problems.append({"in": where, "name": param.name, "message": f"{label} is required"})
                continue
            value, error = _coerce_text(raw, param.type) if textual else _check_json(raw, param.type)
            if error is None and item.pattern is not None and isinstance(value, str) \
                    and not item.pattern.search(value):
                error = f"does not match the pattern {param.pattern}"
            if error is not None:
                problems.append({"in": where, "name": param.name, "message": f"{label} {error}"})
                continue
            arguments[param.name] = value
        if problems:
            raise InputError(problems, operation=operation)
        return arguments

    @staticmethod
    def _from_request(request: Request, values: Mapping[str, Any], param: Input, where: str) -> Any:
        if where == "path":
            return values.get(param.name, _MISSING)
        if where == "query":
            found = request.query_params.getlist(param.name)
            if not found:
                return _MISSING
            return found if param.type == "array" and len(found) > 1 else found[-1]
        if where == "header":
            return request.headers.get(param.name, _MISSING)
        if where == "cookie":
            return request.cookies.get(param.name, _MISSING)
        return _MISSING

    @staticmethod
    def _from_body(item: _Input, body: Any, only: bool) -> Any:
        """A JSONPath ``value`` selects; else the field of that name; else, for the only body input
        that wants a structure (or when the body is not an object), the whole body."""
        if body is None:
            return _MISSING
        if item.param.path is not None:
            found = item.param.path.find(body)
            return _MISSING if found is None else found
        if isinstance(body, dict) and item.param.name in body:
            return body[item.param.name]
        wants_whole = item.param.type in ("any", "object", "array") or not isinstance(body, dict)
        return body if only and wants_whole else _MISSING

    # ------------------------------------------------------------------ forward

    async def _forward(self, request: Request, values: Mapping[str, Any]) -> Response:
        forward = self.forward
        assert forward is not None
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            if key.lower() in forward.trusted_headers:
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
        body = request.stream() if request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") else None
        query = _without(request.url.query, self.auth.query_parameters() if self.auth is not None else ())
        try:
            answer = await self.runtime.forward(forward, ForwardRequest(
                request.method, str(values.get(GREEDY_VARIABLE, "")), query, headers, body), self._context(request))
        except InvocationError as exc:
            return error_problem(exc)
        # aclose runs when the body is done (or broke); the background task covers a body never started.
        response = StreamingResponse(_guarded(answer.body, answer.aclose), status_code=answer.status,
                                     background=BackgroundTask(answer.aclose))
        response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        return response


def _without(query: str, names: tuple[str, ...]) -> str:
    """``query`` minus the parameters called ``names`` (the inbound credential stays here); the other
    parameters keep their exact encoding and order."""
    if not names or not query:
        return query
    kept = [part for part in query.split("&") if unquote_plus(part.partition("=")[0]) not in names]
    return "&".join(kept)


async def _guarded(chunks: AsyncIterator[bytes], aclose: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
    """Stop quietly if the upstream breaks mid-stream (the status line is already sent); always close."""
    try:
        async for chunk in chunks:
            yield chunk
    except Exception as exc:  # the upstream connection broke or timed out mid-body
        logger.warning("forwarded response interrupted: %s", type(exc).__name__)
    finally:
        await aclose()


# ----------------------------------------------------------------------------------------------------
# Routes and app
# ----------------------------------------------------------------------------------------------------


def _starlette_path(path: str) -> tuple[str, dict[str, str]]:
    """``/ships/{{imo}}/{path}`` -> ``/ships/{p0}/{p1:path}`` plus the alias map (Starlette names
    must be identifiers; ours may hold hyphens)."""
    aliases: dict[str, str] = {}
    text = path.strip()
    if not text.startswith("/"):
        text = "/" + text
    for index, name in enumerate(placeholders(text)):
        alias = f"p{index}"
        aliases[alias] = name
        converter = ":path" if name == GREEDY_VARIABLE else ""
        text = re.sub(r"\{\{?\s*" + re.escape(name) + r"\s*\}?\}", "{" + alias + converter + "}", text)
    return text, aliases


def _inbound_auth(exposure: RestExposure, runtime: Runtime) -> Any:
    """The exposure's inbound checker (shared with MCP); raises AuthConfigError when unenforceable."""
    if exposure.authentication is None:
        return None
    from naftiko_runtime.expose.auth import InboundAuth

    return InboundAuth.from_model(exposure.authentication, runtime.owner(exposure).variables)


def openapi_route(entries: Sequence[tuple[RestExposure, Runtime]]) -> Route_:
    """``GET /openapi.json``: one document describing every exposure in ``entries`` (built on first use)."""
    targets = [(runtime.owner(exposure).capability, exposure.namespace) for exposure, runtime in entries]
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if not document:
            from naftiko_runtime.openapi import export_openapi_many  # not loaded until someone asks

            document.update(export_openapi_many(targets))
        return JSONResponse(document)

    return Route_("/openapi.json", openapi, methods=["GET"], name="openapi")


def build_rest_routes(exposure: RestExposure, runtime: Runtime, *, listener_routes: bool = True) -> list[BaseRoute]:
    """The routes of one REST exposure: one per resource path.

    With ``listener_routes`` (an app serving this exposure alone) also ``GET /openapi.json`` and the
    routes its inbound auth needs (RFC 9728 metadata for oauth2); ``naftiko serve`` turns them off
    and serves one of each per listener, covering every exposure there.
    """
    auth = _inbound_auth(exposure, runtime)
    grouped: dict[str, tuple[dict[str, str], list[RestResource]]] = {}
    for resource in exposure.resources:  # resources declaring the same path share one route
        path, aliases = _starlette_path(resource.path)
        grouped.setdefault(path, (aliases, []))[1].append(resource)
    routes: list[BaseRoute] = []
    for path, (aliases, resources) in grouped.items():
        endpoint = _Endpoint(resources, runtime, auth, aliases)
        # The methods are declared so that a route matching the path but not the method lets a later
        # route match both (`/items/{id}` GET before `/items/export` POST); else 405 with Allow.
        routes.append(Route_(path, endpoint, methods=endpoint.methods, name=resources[0].name or None))
    if listener_routes:
        routes.append(openapi_route([(exposure, runtime)]))
        if auth is not None:
            routes.extend(auth.routes())  # unauthenticated helpers, e.g. RFC 9728 metadata for oauth2
    return routes


def build_rest_app(entries: list[tuple[RestExposure, Runtime]], *, lifespan: Lifespan[Any] | None = None) -> Starlette:
    """A Starlette app serving these REST exposures (one ``/openapi.json`` for all), 404/405 as problems."""
    routes: list[BaseRoute] = []
    for exposure, runtime in entries:
        routes += build_rest_routes(exposure, runtime, listener_routes=False)
        auth = _inbound_auth(exposure, runtime)
        routes += auth.routes() if auth is not None else []
    if entries:
        routes.append(openapi_route(entries))
    return Starlette(routes=routes, exception_handlers=rest_exception_handlers(), lifespan=lifespan)
