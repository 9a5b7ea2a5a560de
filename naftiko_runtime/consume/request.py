"""Pure request building: consumed operation + arguments -> ``httpx2.Request`` (no auth, no I/O).

Deliberate differences from the reference engine (see ARCHITECTURE.md "Semantics"):
- consumed ``in: path|cookie|body`` parameters and resource-level parameters are applied;
- path placeholders may be ``{x}`` or ``{{x}}`` and their values are percent-encoded with nothing
  safe, so no argument can change the path, host or query;
- formUrlEncoded and multipartForm bodies are really encoded;
- values interpolated inside a JSON string literal of a body template are JSON-escaped (a quote or a
  line break in an argument no longer breaks the JSON), and values interpolated into a form string
  are URL-encoded. ``{{{x}}}`` opts out and inserts the raw text.
"""

from __future__ import annotations

import json
import os
import re
from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx2

from naftiko_runtime import __version__
from naftiko_runtime.errors import InputError, InvocationError
from naftiko_runtime.model import Consumer, Operation, Param

__all__ = [
    "ACCEPT",
    "DEFAULT_USER_AGENT",
    "Built",
    "Resolved",
    "build",
    "cookie_header",
    "encode_forward_path",
    "encode_path_value",
    "join_url",
    "merged_params",
    "render_native",
    "resolve_params",
]

DEFAULT_USER_AGENT = f"naftiko/{__version__}"
PATH_PLACEHOLDER = re.compile(r"\{\{?\s*([A-Za-z0-9_.\-]+)\s*\}?\}")
_WHOLE_TAG = re.compile(r"^\s*\{\{\s*([\w\-]+(?:\.[\w\-]+)*)\s*\}\}\s*$")
_TAG = re.compile(r"\{\{\{\s*[^{}]*?\s*\}\}\}|\{\{\s*([#^/!&]?)\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*$")
_JSON_VIEW = "__naftiko_json__"
_FORM_VIEW = "__naftiko_form__"
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
    from naftiko_runtime.templates import render_value

    return render_value(value)


def _lookup(context: Mapping[str, Any], name: str) -> Any:
    """A name's native value: literal key first (``env.TOKEN``), then a dotted walk."""
    value = context.get(name, _MISSING)
    if value is not _MISSING:
        return value
    value = context
    for part in name.split("."):
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def render_native(value: Any, context: Mapping[str, Any]) -> Any:
    """Render templates inside ``value``. A string that is exactly ``{{x}}`` keeps x's native type;
    other strings render as Mustache text; containers are rendered item by item."""
    from naftiko_runtime.templates import compile_template

    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = _WHOLE_TAG.match(value)
        if whole:
            found = _lookup(context, whole.group(1))
            if found is not _MISSING and not isinstance(found, str):
                return found
        return compile_template(value).render(context)
    if isinstance(value, Mapping):
        return {str(render_native(k, context)): render_native(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_native(v, context) for v in value]
    return value


# ------------------------------------------------------------------------------------ parameters


def merged_params(consumer: Consumer, op: Operation) -> list[Param]:
    """Consumes-level, then resource-level, then operation-level parameters; later wins by (name, in)."""
    chosen: dict[tuple[str, str | None], Param] = {}
    for param in (*consumer.input_parameters, *op.resource_parameters, *op.input_parameters):
        chosen.pop((param.name, param.in_), None)
        chosen[(param.name, param.in_)] = param
    return list(chosen.values())


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
    secrets: list[str] = field(default_factory=list)


def resolve_params(params_list: list[Param], params: Mapping[str, Any],
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
            value = render_native(param.value, resolved.context)
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


# ------------------------------------------------------------------------------------ URL


def encode_path_value(text: str) -> str:
    """Percent-encode one path value with nothing safe; ``.``/``..`` too, so it stays one segment."""
    if text and set(text) == {"."}:
        return "%2E" * len(text)
    return quote(text, safe="")


def encode_forward_path(path: str) -> str:
    """Encode a forwarded path segment by segment: slashes separate, nothing else escapes a segment."""
    segments = path.lstrip("/").split("/")
    return "/".join(
        "%2E" * len(s) if s and set(s) == {"."} else quote(s, safe=_FORWARD_SAFE) for s in segments
    )


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them (the published files use both forms)."""
    if not path:
        return base
    if base.endswith("/") and path.startswith("/"):
        return base + path[1:]
    if not base.endswith("/") and not path.startswith(("/", "?")):
        return base + "/" + path
    return base + path


def _fill_path(op: Operation, resolved: Resolved) -> str:
    from naftiko_runtime.templates import compile_template

    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = resolved.path.get(name, _MISSING)
        if value is _MISSING:
            value = _lookup(resolved.context, name)
        if _absent(value):
            missing.append(name)
            return ""
        return encode_path_value(_text(value))

    filled = PATH_PLACEHOLDER.sub(substitute, op.path)
    if missing:
        problems = [
            {"pointer": "/" + n.replace("~", "~0").replace("/", "~1"),
             "message": f"missing value for path parameter {n}"}
            for n in dict.fromkeys(missing)
        ]
        raise InputError(problems, operation=op.ref)
    if "{{" in filled:  # sections and other Mustache constructs left in the path
        filled = compile_template(filled).render(resolved.context)
    return filled


# ------------------------------------------------------------------------------------ escaping views


class _EscapedView(Mapping[str, Any]):
    """A read-only view of a context whose scalar values come back escaped (JSON string or form)."""

    def __init__(self, inner: Mapping[str, Any], escape: Any) -> None:
        self._inner = inner
        self._escape = escape

    def __getitem__(self, key: str) -> Any:
        value = self._inner[key]
        if isinstance(value, Mapping):
            return _EscapedView(value, self._escape)
        if value is None:
            return None
        return self._escape(_text(value))

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


def _json_escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _rewrite_tags(source: str, view: str, *, inside_json_strings: bool) -> str:
    """Point plain ``{{x}}`` tags at an escaping view. With ``inside_json_strings`` only the tags
    that sit inside a JSON string literal are rewritten. Tags inside sections and ``{{{x}}}`` /
    ``{{&x}}`` stay raw."""
    out: list[str] = []
    in_string = False
    depth = 0
    pos = 0
    for match in _TAG.finditer(source):
        text = source[pos:match.start()]
        in_string = _scan_json_text(text, in_string)
        out.append(text)
        sigil, name = match.group(1), match.group(2)
        tag = match.group(0)
        if sigil in ("#", "^"):
            depth += 1
        elif sigil == "/":
            depth = max(0, depth - 1)
        elif sigil == "" and _NAME.match(name) and depth == 0 and (in_string or not inside_json_strings):
            tag = "{{" + view + "." + name + "}}"
        out.append(tag)
        pos = match.end()
    out.append(source[pos:])
    return "".join(out)


def _scan_json_text(text: str, in_string: bool) -> bool:
    """Whether we are inside a JSON string literal after ``text`` (backslash escapes honoured)."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


def render_json_template(source: str, context: Mapping[str, Any]) -> str:
    from naftiko_runtime.templates import compile_template

    rewritten = _rewrite_tags(source, _JSON_VIEW, inside_json_strings=True)
    scope = ChainMap({_JSON_VIEW: _EscapedView(context, _json_escape)}, context)
    return compile_template(rewritten).render(scope)


def render_form_template(source: str, context: Mapping[str, Any]) -> str:
    from naftiko_runtime.templates import compile_template

    rewritten = _rewrite_tags(source, _FORM_VIEW, inside_json_strings=False)
    scope = ChainMap({_FORM_VIEW: _EscapedView(context, lambda t: quote_plus(t, safe=""))}, context)
    return compile_template(rewritten).render(scope)


# ------------------------------------------------------------------------------------ bodies


@dataclass
class Body:
    content: bytes | None = None
    content_type: str | None = None
    files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None = None


def _render_text(value: Any, context: Mapping[str, Any]) -> str:
    from naftiko_runtime.templates import compile_template

    if isinstance(value, str):
        return compile_template(value).render(context)
    return _text(value)


def build_body(op: Operation, resolved: Resolved, declared_type: str | None) -> Body | None:
    """The request body: the operation's ``body``, else its consumed ``in: body`` parameters."""
    spec = op.body
    context = resolved.context
    if spec is None:
        return _body_from_params(resolved, declared_type)
    if isinstance(spec, str):
        content_type = declared_type or _JSON
        text = render_json_template(spec, context) if "json" in content_type else _render_text(spec, context)
        return Body(text.encode(), content_type)
    if not isinstance(spec, Mapping):
        raise InvocationError(f"unsupported body in {op.ref}", operation=op.ref)
    kind, data = spec.get("type"), spec.get("data")
    if kind == "json":
        if isinstance(data, str):
            return Body(render_json_template(data, context).encode(), declared_type or _JSON)
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


def _form_body(data: Any, context: Mapping[str, Any]) -> str:
    if isinstance(data, str):
        return render_form_template(data, context)
    pairs = [(str(k), _render_text(v, context)) for k, v in (data or {}).items()]
    return urlencode(pairs)


def _multipart(data: Any, context: Mapping[str, Any]) -> list[tuple[str, tuple[str | None, bytes, str | None]]]:
    parts = []
    for part in data or []:
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
    if len(params) == 1 and params[0].type == "object":
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


def _header_value(name: str, value: str, op_ref: str) -> str | bytes:
    if any(c in value for c in "\r\n\0"):
        raise InputError([{"pointer": "/" + name, "message": "header values must not contain line breaks"}],
                         operation=op_ref)
    return value if value.isascii() else value.encode()


def cookie_header(cookies: list[tuple[str, str]]) -> str:
    # cookie-octets only; anything else is percent-encoded so a value cannot add another cookie
    safe = "!#$&'()*+-./:<=>?@[]^_`{|}~"
    return "; ".join(f"{quote(n, safe=safe)}={quote(v, safe=safe)}" for n, v in cookies)


def build(consumer: Consumer, op: Operation, params: Mapping[str, Any], *,
          variables: Mapping[str, Any], base_uri: str | None = None,
          user_agent: str = DEFAULT_USER_AGENT) -> Built:
    """Build the full request of ``op`` (auth excepted). Raises ``InputError`` before any I/O."""
    resolved = resolve_params(merged_params(consumer, op), params, variables)
    url = join_url(base_uri or consumer.base_uri, _fill_path(op, resolved))
    headers: dict[str, str] = {
        "User-Agent": user_agent,
        "Accept": ACCEPT.get((op.output_raw_format or "json").lower(), "*/*"),
        "Accept-Encoding": "gzip, deflate",
    }
    lowered = {k.lower(): k for k in headers}
    for name, value in resolved.headers:
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
    wire_headers = [(k, _header_value(k, v, op.ref)) for k, v in headers.items()]
    try:
        request = httpx2.Request(
            op.method, url, params=resolved.query or None, headers=wire_headers,
            content=body.content if body and body.files is None else None,
            files=body.files if body and body.files is not None else None,
        )
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
        raise InvocationError(f"could not build the request of {op.ref}: {type(exc).__name__}",
                              operation=op.ref) from None
    return Built(request, resolved.context, resolved.secrets)
