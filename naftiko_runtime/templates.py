"""Runtime Mustache templates (``{{...}}``), compiled once per text.

The spec's Mustache semantics (the reference engine uses JMustache with HTML escaping off): a missing
name renders "", names may be kebab-case or dotted, lists and maps render as compact JSON. The
implementation is ours and small: variables, sections, inverted sections, comments. A template
compiled with an escaping mode (``"json"``, ``"form"``) escapes each ``{{x}}`` for where it stands in
the text (in ``"json"``, a missing name where a JSON value stands renders ``null``, not ""); ``{{{x}}}``
and ``{{&x}}`` always insert the plain text.

Load-time templates (``<<env.X>>``, jinja2) live in ``naftiko_runtime.loadtime``, so serving a file
without them never imports jinja2.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

__all__ = [
    "Template",
    "compile_template",
    "format_value",
    "render_native",
    "resolve_path",
]


# --------------------------------------------------------------------------------------------------
# Runtime Mustache templates
# --------------------------------------------------------------------------------------------------

_MISSING: Any = object()
_NAME = re.compile(r"^(?:\.|[\w\-]+(?:\.[\w\-]+)*)$")
_WHOLE_VARIABLE = re.compile(r"^\s*\{\{\s*([\w\-]+(?:\.[\w\-]+)*)\s*\}\}\s*$")


def _json_default(value: Any) -> Any:
    """Read-only mappings (the model's) serialise as objects; anything else as its text."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def format_value(value: Any) -> str:
    """Text of one interpolated value: JSON for containers, ``true``/``false`` for booleans."""
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _json_text(value)
    return str(value)


def _json_string_content(value: Any) -> str:
    """A value placed inside a JSON string literal: its text, JSON-escaped (no quotes added)."""
    return json.dumps(format_value(value), ensure_ascii=False)[1:-1]


def _json_literal(value: Any) -> str:
    """A value placed where a JSON value stands: a string becomes a quoted literal, so it cannot
    add keys or close the document; numbers, booleans, null, lists and objects are JSON; a value
    not given (an optional argument left out) is ``null``, so the document stays JSON."""
    if value is _MISSING:
        return "null"
    if isinstance(value, str):
        return json.dumps(str.__str__(value), ensure_ascii=False)
    return _json_text(value)


def _form_text(value: Any) -> str:
    return quote_plus(format_value(value), safe="")


Formatter = Callable[[Any], str]


class _Escaper:
    """Picks each plain variable's formatter while the template text is read in order."""

    def __init__(self, mode: str | None) -> None:
        if mode not in (None, "json", "form"):
            raise ValueError(f"unknown escaping mode {mode!r}")
        self.mode = mode
        self.in_string = False  # json: inside a string literal after the text read so far
        self.escaped = False

    def text(self, chunk: str) -> None:
        if self.mode != "json":
            return
        for char in chunk:
            if self.escaped:
                self.escaped = False
            elif char == "\\" and self.in_string:
                self.escaped = True
            elif char == '"':
                self.in_string = not self.in_string

    def formatter(self, tag: _Tag) -> Formatter:
        if tag.unescaped or self.mode is None:
            return format_value
        if self.mode == "form":
            return _form_text
        return _json_string_content if self.in_string else _json_literal


@dataclass(frozen=True, slots=True)
class _Var:
    name: str
    format: Formatter = format_value


@dataclass(frozen=True, slots=True)
class _Section:
    name: str
    inverted: bool
    children: tuple[_Node, ...]


_Node = str | _Var | _Section


@dataclass(frozen=True, slots=True)
class _Tag:
    kind: str  # "var", "#", "^", "/", "!"
    name: str
    raw: str
    unescaped: bool = False  # {{{x}}} or {{&x}}


_STANDALONE_KINDS = frozenset("#^/!")


def _read_tag(text: str, pos: int) -> tuple[_Tag, int] | None:
    """Parse the tag starting at ``pos`` (which holds ``{{``); None when it is not a valid tag."""
    if text.startswith("{{{", pos):
        end = text.find("}}}", pos + 3)
        if end < 0:
            return None
        name, stop, kind, unescaped = text[pos + 3 : end].strip(), end + 3, "var", True
    else:
        end = text.find("}}", pos + 2)
        if end < 0:
            return None
        inner, stop = text[pos + 2 : end].strip(), end + 2
        kind = inner[:1] if inner[:1] in ("#", "^", "/", "!", "&") else "var"
        if kind == "!":
            return _Tag("!", "", text[pos:stop]), stop
        name = inner[1:].strip() if kind != "var" else inner
        unescaped = kind == "&"
        kind = "var" if unescaped else kind
    if not _NAME.match(name) or (name == "." and kind == "/"):
        return None
    return _Tag(kind, name, text[pos:stop], unescaped), stop


def _tokenize(text: str) -> Iterator[str | _Tag]:
    """Yield literal text and tags; a section/comment tag alone on its line takes the line with it."""
    cursor = scan = 0
    while True:
        pos = text.find("{{", scan)
        if pos < 0:
            break
        parsed = _read_tag(text, pos)
        if parsed is None:  # unclosed or not a tag: literal text
            scan = pos + 2
            continue
        tag, stop = parsed
        start = pos
        if tag.kind in _STANDALONE_KINDS:
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", stop)
            after = text[stop : len(text) if line_end < 0 else line_end]
            if line_start >= cursor and not text[line_start:pos].strip(" \t") and not after.strip(" \t\r"):
                start, stop = line_start, len(text) if line_end < 0 else line_end + 1
        if start > cursor:
            yield text[cursor:start]
        yield tag
        cursor = scan = stop
    if cursor < len(text):
        yield text[cursor:]


@dataclass(slots=True)
class _Open:
    tag: _Tag
    children: list[_Node]


def _parse(text: str, escaper: _Escaper) -> tuple[_Node, ...]:
    root: list[_Node] = []
    stack: list[_Open] = []
    for token in _tokenize(text):
        target = stack[-1].children if stack else root
        if isinstance(token, str):
            escaper.text(token)
            target.append(token)
        elif token.kind == "var":
            target.append(_Var(token.name, escaper.formatter(token)))
        elif token.kind in ("#", "^"):
            stack.append(_Open(token, []))
        elif token.kind == "/":
            if stack and stack[-1].tag.name == token.name:
                opened = stack.pop()
                parent = stack[-1].children if stack else root
                parent.append(_Section(token.name, opened.tag.kind == "^", tuple(opened.children)))
            else:  # a close without its open stays literal text
                target.append(token.raw)
    while stack:  # unclosed section: its tag is literal text, its content renders inline
        opened = stack.pop()
        parent = stack[-1].children if stack else root
        parent.append(opened.tag.raw)
        parent.extend(opened.children)
    return _merge_text(root)


def _merge_text(nodes: list[_Node]) -> tuple[_Node, ...]:
    merged: list[_Node] = []
    for node in nodes:
        if isinstance(node, str) and merged and isinstance(merged[-1], str):
            merged[-1] += node
        elif not (isinstance(node, str) and not node):
            merged.append(node)
    return tuple(merged)


def _child(obj: Any, key: str, indices: bool = True) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, _MISSING)
    if indices and isinstance(obj, list | tuple) and key.isdigit() and int(key) < len(obj):
        return obj[int(key)]
    return _MISSING


def resolve_path(data: Any, path: str, default: Any = None, *, indices: bool = True) -> Any:
    """The value at a dotted ``path`` in ``data``, or ``default``: the literal key first
    (``env.HMS_TOKEN`` as one key), then a nested walk, then the longest literal prefix with the rest
    resolved below it. Digits index lists unless ``indices`` is false (step-output paths, which the
    spec resolves by plain dot traversal). The empty path is ``data`` itself.

    The one dotted-name lookup of the runtime: templates, native rendering, consumed paths, steps.
    """
    if not path:
        return data
    value = _resolve(data, path, indices)
    return default if value is _MISSING else value


def _resolve(obj: Any, name: str, indices: bool = True) -> Any:
    value = _child(obj, name, indices)
    if value is not _MISSING:
        return value
    parts = name.split(".")
    if len(parts) == 1:
        return _MISSING
    value = obj
    for part in parts:
        value = _child(value, part, indices)
        if value is _MISSING:
            break
    else:
        return value
    for cut in range(len(parts) - 1, 0, -1):  # longest literal prefix first, rest resolved below it
        head = _child(obj, ".".join(parts[:cut]), indices)
        if head is not _MISSING:
            value = _resolve(head, ".".join(parts[cut:]), indices)
            if value is not _MISSING:
                return value
    return _MISSING


def _lookup(stack: Sequence[Any], name: str) -> Any:
    if name == ".":
        return stack[-1] if stack else _MISSING
    for frame in reversed(stack):
        value = _resolve(frame, name)
        if value is not _MISSING:
            return value
    return _MISSING


def _falsy(value: Any) -> bool:
    return value is _MISSING or value is None or value is False or value == "" or value == []


def _render(nodes: tuple[_Node, ...], stack: list[Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            out.append(node.format(_lookup(stack, node.name)))
        else:
            value = _lookup(stack, node.name)
            if isinstance(value, tuple):
                value = list(value)
            if node.inverted:
                if _falsy(value):
                    _render(node.children, stack, out)
            elif not _falsy(value):
                for item in value if isinstance(value, list) else [value]:
                    stack.append(item)
                    _render(node.children, stack, out)
                    stack.pop()


def _names(nodes: tuple[_Node, ...], *, nested: bool = True) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, _Var) and node.name != ".":
            yield node.name
        elif isinstance(node, _Section):
            yield node.name
            if nested:
                yield from _names(node.children)


class Template:
    """A compiled runtime Mustache template. Build with ``Template.compile(text)`` (cached).

    ``escape`` is how plain ``{{x}}`` values are written: None (as text), ``"json"`` (JSON-escaped
    inside a string literal, a JSON literal elsewhere) or ``"form"`` (URL-encoded).
    """

    __slots__ = ("_nodes", "escape", "free_names", "is_static", "names", "source")

    def __init__(self, source: str, escape: str | None = None) -> None:
        self.source = source
        self.escape = escape
        self._nodes = _parse(source, _Escaper(escape))
        self.names: tuple[str, ...] = tuple(dict.fromkeys(_names(self._nodes)))
        # Names read from the template's own context: inside a section a name may be relative to
        # the section's item, so only section names and top-level variables are "free".
        self.free_names: tuple[str, ...] = tuple(dict.fromkeys(_names(self._nodes, nested=False)))
        self.is_static: bool = all(isinstance(node, str) for node in self._nodes)

    @classmethod
    def compile(cls, text: str, escape: str | None = None) -> Template:
        return compile_template(text, escape)

    def render(self, context: Mapping[str, Any]) -> str:
        if self.is_static:
            return "".join(self._nodes)  # type: ignore[arg-type]
        out: list[str] = []
        _render(self._nodes, [context], out)
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(text: str, escape: str | None = None) -> Template:
    """The compiled template of ``text`` (cached per text and escaping mode)."""
    return _compile(text, escape)


@functools.lru_cache(maxsize=4096)
def _compile(text: str, escape: str | None) -> Template:
    return Template(text, escape)


def render_native(value: Any, context: Mapping[str, Any]) -> Any:
    """Render the templates inside ``value``, keeping JSON types where the author asked for a value.

    A string that is exactly one ``{{x}}`` tag gives x's own value when it is not text (a list stays a
    list, a number a number, null stays null); ``{{{x}}}``/``{{&x}}`` and every other string render as
    text. Mapping keys render as text; lists and mappings are rendered item by item.
    """
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = _WHOLE_VARIABLE.match(value)
        if whole:
            found = resolve_path(context, whole.group(1), _MISSING)
            if found is not _MISSING and not isinstance(found, str):
                return found
        return compile_template(value).render(context)
    if isinstance(value, Mapping):
        return {_render_key(k, context): render_native(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_native(v, context) for v in value]
    return value


def _render_key(key: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(key, str) and "{{" in key:
        return compile_template(key).render(context)
    return key

