"""Pure request building: consumed operation + arguments -> ``httpx2.Request`` (no auth, no I/O).

Deliberate differences from the reference engine (see ARCHITECTURE.md "Semantics"):
- consumed ``in: path|cookie|body`` parameters and resource-level parameters are applied;
- path placeholders may be ``{x}`` or ``{{x}}`` and their values are percent-encoded with nothing
  safe, so no argument can change the path, host or query; a value that is a dot segment (``.``,
  ``..``, or an encoded form of them) is refused, as is any dot segment of a forwarded path, since
  URL normalisation would climb out of the base path;
- formUrlEncoded and multipartForm bodies are really encoded;
- in a JSON body template, a value interpolated inside a string literal is JSON-escaped (a quote or a
  line break in an argument no longer breaks the JSON), and one interpolated elsewhere is written as
  a JSON value (a string becomes a quoted literal, so it cannot add keys); values interpolated into
  a form string are URL-encoded. ``{{{x}}}`` opts out and inserts the raw text.
"""

from __future__ import annotations

import json
import os
import re
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, unquote, urlencode

import httpx2

from naftiko_runtime import __version__, jsontext
from naftiko_runtime.errors import InputError, InvocationError
from naftiko_runtime.model import Consumer, Operation, Param
from naftiko_runtime.model.refs import PATH_PLACEHOLDER
from naftiko_runtime.templates import compile_template, format_value, render_native, resolve_path

__all__ = [
    "ACCEPT",
    "DEFAULT_USER_AGENT",
    "Built",
    "Resolved",
    "build",
    "cookie_header",
    "encode_forward_path",
    "follow",
    "has_control",
    "header_items",
    "is_dot_segment",
    "join_url",
    "render_form_template",
    "render_json_template",
    "render_native",
    "resolve_params",
]

DEFAULT_USER_AGENT = f"naftiko/{__version__}"
_FORWARD_SAFE = "!$&'()*+,;=:@"  # RFC 3986 pchar sub-delims: cannot change path, host or query

ACCEPT: dict[str, str] = {
    "json": "application/json",
    "xml": "application/xml",
    "yaml": "application/yaml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "psv": "text/plain",
    "html": "text/html",
    "markdown": "text/markdown",
    "avro": "avro/binary",
    "protobuf": "application/x-protobuf",
    "binary": "*/*",
}
_TEXT_TYPES = {"text": "text/plain", "xml": "application/xml", "sparql": "application/sparql-query"}
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MISSING: Any = object()


# ------------------------------------------------------------------------------------ values


def _absent(value: Any) -> bool:
    return value is None or value is _MISSING or (isinstance(value, str) and value == "")


def _text(value: Any) -> str:
    """Wire text of a value: strings as is, JSON text for everything else (``true``, ``3``, ``[..]``)."""
    return format_value(value)


# ------------------------------------------------------------------------------------ parameters


@dataclass
class Resolved:
    """Parameter values after resolution, by location, plus the template context they extend."""

    context: ChainMap[str, Any]
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[tuple[str, str]] = field(default_factory=list)
    path: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    body_params: list[Param] = field(default_factory=list)
    form: list[Param] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)


def resolve_params(params_list: tuple[Param, ...], params: Mapping[str, Any],
                   variables: Mapping[str, Any]) -> Resolved:
    """Resolve each parameter (``value`` template, else the argument of that name) and place it.

    A resolved value is written back into the context so later templates (path, body) see it.
    Bind variables win over arguments of the same name: configuration is not caller-overridable.
    """
    scope: dict[str, Any] = dict(params)
    resolved = Resolved(context=ChainMap(dict(variables), scope))
    for param in params_list:
        if param.in_ == "body":
            resolved.body_params.append(param)
        if param.in_ == "environment":
            value: Any = os.environ.get(param.name)
            if isinstance(value, str):
                resolved.secrets.append(value)
        elif param.value is not None:
            value = param.value.native(resolved.context)
        else:
            value = resolved.context.get(param.name, _MISSING)
        if _absent(value):
            continue
        scope[param.name] = value
        _place(resolved, param, value)
    return resolved


def _place(resolved: Resolved, param: Param, value: Any) -> None:
    where = param.in_
    if where == "query":
        resolved.query.append((param.name, _text(value)))
    elif where == "header":
        resolved.headers.append((param.name, _text(value)))
    elif where == "cookie":
        resolved.cookies.append((param.name, _text(value)))
    elif where == "path":
        resolved.path[param.name] = value
    elif where == "body":
        resolved.body[param.name] = value
    elif where == "formData":  # Swagger 2's form fields, as generated files still write them
        resolved.form.append(param)
        resolved.body[param.name] = value


# ------------------------------------------------------------------------------------ URL


def is_dot_segment(text: str) -> bool:
    """Whether ``text`` is ``.`` or ``..`` once percent-decoded (as often as it decodes): RFC 3986
    normalisation, or an upstream that decodes twice, would read it as "this" or "parent" folder."""
    for _ in range(8):
        if text in (".", ".."):
            return True
        decoded = unquote(text)
        if decoded == text:
            return False
        text = decoded
    return True  # still decoding after 8 rounds: nothing legitimate looks like that


def encode_forward_path(path: str, *, operation: str | None = None) -> str:
    """Encode a forwarded path segment by segment: slashes separate, nothing else escapes a segment.

    A dot segment (``.``, ``..``, ``%2e``, ``%2E%2e``...) is an ``InputError``: it would leave the base path.
    """
    segments = path.lstrip("/").split("/")
    if any(is_dot_segment(s) for s in segments):
        problem = {"pointer": "/path", "message": "the forwarded path must not contain '.' or '..' segments"}
        raise InputError([problem], operation=operation)
    return "/".join(quote(s, safe=_FORWARD_SAFE) for s in segments)


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them (the published files use both forms)."""
    if not path:
        return base
    if base.endswith("/") and path.startswith("/"):
        return base + path[1:]
    if not base.endswith("/") and not path.startswith(("/", "?")):
        return base + "/" + path
    return base + path


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _fill_path(op: Operation, resolved: Resolved) -> str:
    problems: dict[str, str] = {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = resolved.path.get(name, _MISSING)
        if value is _MISSING:
            value = resolve_path(resolved.context, name, _MISSING)
        if _absent(value):
            problems.setdefault(name, f"missing value for path parameter {name}")
            return ""
        text = _text(value)
        if is_dot_segment(text):
            problems.setdefault(name, f"path parameter {name} must not be '.' or '..' (nor an encoded form)")
            return ""
        return quote(text, safe="")

    filled = PATH_PLACEHOLDER.sub(substitute, op.path)
    if problems:
        raise InputError([{"pointer": _pointer(n), "message": m} for n, m in problems.items()],
                         operation=op.ref)
    if "{{" in filled:  # sections and other Mustache constructs left in the path
        filled = compile_template(filled).render(resolved.context)
    return filled


# ------------------------------------------------------------------------------------ escaping templates


def render_json_template(source: str, context: Mapping[str, Any]) -> str:
    """A JSON body template: values JSON-escaped inside string literals, JSON values elsewhere."""
    return compile_template(source, "json").render(context)


def render_form_template(source: str, context: Mapping[str, Any]) -> str:
    """A form body template: every plain ``{{x}}`` value URL-encoded."""
    return compile_template(source, "form").render(context)


# ------------------------------------------------------------------------------------ bodies


@dataclass
class Body:
    content: bytes | None = None
    content_type: str | None = None
    files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None


def _render_text(value: Any, context: Mapping[str, Any]) -> str:
    if isinstance(value, str):
        return compile_template(value).render(context)
    return _text(value)


def build_body(op: Operation, resolved: Resolved, declared_type: str | None) -> Body | None:
    """The request body: the operation's ``body``, else its consumed ``in: body`` parameters."""
    context = resolved.context
    if op.body is None:
        return _body_from_params(resolved, declared_type)
    kind, data = op.body.kind, op.body.data.raw
    if kind == "raw" and isinstance(data, str):
        content_type = declared_type or _JSON
        if "json" in content_type:
            return Body(_json_body(op, render_json_template(data, context), content_type), content_type)
        return Body(_render_text(data, context).encode(), content_type)
    if kind == "raw":  # a JSON value written without `type`: sent as JSON, as its author meant
        kind = "json"
    if kind == "json":
        if isinstance(data, str):
            return Body(_json_body(op, render_json_template(data, context), declared_type or _JSON),
                        declared_type or _JSON)
        rendered = render_native(data, context)
        return Body(json.dumps(rendered, ensure_ascii=False, separators=(",", ":")).encode(),
                    declared_type or _JSON)
    if kind in _TEXT_TYPES:
        return Body(_render_text(data or "", context).encode(), declared_type or _TEXT_TYPES[kind])
    if kind == "formUrlEncoded":
        return Body(_form_body(data, context).encode(), declared_type or _FORM)
    if kind == "multipartForm":
        return Body(files=_multipart(data, context))
    raise InvocationError(f"unsupported body type {kind!r} in {op.ref}", operation=op.ref)


def _json_body(op: Operation, text: str, content_type: str) -> bytes:
    """A filled JSON body template, refused unless it is one JSON value when the upstream is told
    ``application/json`` (or ``*+json``): a ``{{{raw}}}`` value can break it. Other JSON-ish types
    (``application/x-ndjson``: one value per line) and an empty body go as they are."""
    media = content_type.split(";")[0].strip().lower()
    if not text.strip() or not (media == "application/json" or media.endswith("+json")):
        return text.encode()
    try:
        jsontext.loads(text)
    except ValueError as exc:
        reason = str(exc).split(":")[0]  # the parser's reason, not the text around it
        raise InvocationError(f"the body of {op.ref} is not JSON once its template is filled ({reason})",
                              operation=op.ref) from None
    return text.encode()


def _form_body(data: Any, context: Mapping[str, Any]) -> str:
    if isinstance(data, str):
        return render_form_template(data, context)
    pairs = [(str(k), _render_text(v, context)) for k, v in (data or {}).items()]
    return urlencode(pairs)


def _multipart(data: Any, context: Mapping[str, Any]) -> list[tuple[str, tuple[str | None, bytes, str | None]]]:
    parts = []
    for part in data or ():
        name = _render_text(part.get("name", ""), context)
        value = _render_text(part.get("value", ""), context).encode()
        filename = _render_text(part["filename"], context) if part.get("filename") else None
        ctype = _render_text(part["contentType"], context) if part.get("contentType") else None
        parts.append((name, (filename, value, ctype)))
    return parts


def _body_from_params(resolved: Resolved, declared_type: str | None) -> Body | None:
    params = resolved.body_params
    if not resolved.body:
        return None
    if resolved.form:  # a multipart form: `type: file` fields are file parts named after the field
        return Body(files=[(p.name, (p.name if p.type == "file" else None, _text(resolved.body[p.name]).encode(),
                                     None)) for p in resolved.form])
    if len(params) == 1 and (params[0].type == "object" or params[0].name == "body"):  # the whole body
        payload: Any = resolved.body.get(params[0].name)
    else:
        payload = {p.name: resolved.body[p.name] for p in params if p.name in resolved.body}
    if isinstance(payload, str) and declared_type and "json" not in declared_type:
        return Body(payload.encode(), declared_type)
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return Body(text.encode(), declared_type or _JSON)


# ------------------------------------------------------------------------------------ assembly


@dataclass
class Built:
    request: httpx2.Request
    context: ChainMap[str, Any]
    secrets: list[str]


_CONTROL = frozenset("\r\n\0")


def has_control(value: str) -> bool:
    """Whether ``value`` holds CR, LF or NUL, which no HTTP header value may contain."""
    return not _CONTROL.isdisjoint(value)


def _header_value(name: str, value: str, op_ref: str | None) -> str | bytes:
    if has_control(value):
        problem = {"pointer": _pointer(name),
                   "message": f"the value of header {name} must not contain CR, LF or NUL characters"}
        raise InputError([problem], operation=op_ref)
    return value if value.isascii() else value.encode()


def header_items(headers: list[tuple[str, str]], op_ref: str | None) -> list[tuple[str, str | bytes]]:
    """Header pairs ready for the wire; a value with a control character is an ``InputError``."""
    return [(k, _header_value(k, v, op_ref)) for k, v in headers]


def consumer_headers(consumer: Consumer, context: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The consumer's own ``headers`` (our extension), rendered; an operation's header wins."""
    return [(name, value.text(context)) for name, value in consumer.headers]


def cookie_header(cookies: list[tuple[str, str]]) -> str:
    # cookie-octets only; anything else is percent-encoded so a value cannot add another cookie
    safe = "!#$&'()*+-./:<=>?@[]^_`{|}~"
    return "; ".join(f"{quote(n, safe=safe)}={quote(v, safe=safe)}" for n, v in cookies)


def build(consumer: Consumer, op: Operation, params: Mapping[str, Any], *,
          variables: Mapping[str, Any], base_uri: str, user_agent: str = DEFAULT_USER_AGENT) -> Built:
    """Build the full request of ``op`` (auth excepted). Raises ``InputError`` before any I/O."""
    resolved = resolve_params(op.params, params, variables)
    url = join_url(base_uri, _fill_path(op, resolved))
    headers: dict[str, str] = {
        "User-Agent": user_agent,
        "Accept": ACCEPT.get((op.output_raw_format or "json").lower(), "*/*"),
        "Accept-Encoding": "gzip, deflate",
    }
    lowered = {k.lower(): k for k in headers}
    for name, value in [*consumer_headers(consumer, resolved.context), *resolved.headers]:
        headers.pop(lowered.pop(name.lower(), name), None)
        headers[name] = value
        lowered[name.lower()] = name
    declared_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if resolved.cookies:
        existing = headers.pop(lowered.pop("cookie", "Cookie"), None)
        cookie = cookie_header(resolved.cookies)
        headers["Cookie"] = f"{existing}; {cookie}" if existing else cookie
    body = build_body(op, resolved, declared_type)
    if body is not None and body.files is not None and declared_type is not None:
        headers.pop(lowered.get("content-type", "Content-Type"), None)  # the boundary must be ours
    elif body is not None and body.content_type and declared_type is None:
        headers["Content-Type"] = body.content_type
    wire_headers = header_items(list(headers.items()), op.ref)
    try:
        request = httpx2.Request(
            # httpx2 takes str and bytes header values mixed; its stubs admit one kind per list
            op.method, url, params=tuple(resolved.query) or None, headers=cast(Any, wire_headers),
            content=body.content if body and body.files is None else None,
            files=body.files if body and body.files is not None else None,
        )
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
        raise InvocationError(f"could not build the request of {op.ref}: {type(exc).__name__}",
                              operation=op.ref) from None
    return Built(request, resolved.context, resolved.secrets)


def follow(request: httpx2.Request, url: str, ref: str) -> httpx2.Request:
    """``request`` sent to ``url`` instead: only on the same scheme, host and port, so a link in an
    answer can never send this consumer's credentials elsewhere."""
    try:
        target = request.url.join(url)
    except (httpx2.InvalidURL, ValueError):
        raise InvocationError(f"{ref}: the next-page link is not a valid URL", operation=ref) from None
    if (target.scheme, target.host, target.port) != (request.url.scheme, request.url.host, request.url.port):
        raise InvocationError(f"{ref}: the next-page link points at another server; not followed", operation=ref)
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"]
    return httpx2.Request(request.method, target, headers=headers, content=request.content)
