"""Convert an upstream response body into a JSON tree, per ``outputRawFormat``.

Every format ends up as plain JSON values (dict, list, str, int, float, bool,
None) so the output mapping can run JSONPath over it. Any failure raises
``DecodeError`` with a short message naming the format; the body itself is
never echoed back beyond a tiny excerpt.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import yaml

from naftiko_runtime.errors import DecodeError

__all__ = ["SUPPORTED", "UNSUPPORTED", "check_css_selector", "convert"]

class RawBody(str):
    """An upstream body passed through untouched (nothing mapped from a non-JSON format), with its
    media type so REST can answer with it and MCP can show the text as is."""

    media_type: str

    def __new__(cls, text: str, media_type: str | None) -> RawBody:
        body = super().__new__(cls, text)
        body.media_type = media_type or "text/plain; charset=utf-8"
        return body


def raw_body(body: bytes, fmt: str, content_type: str | None) -> RawBody:
    """The upstream's bytes as text, decoded like ``convert`` decodes them."""
    return RawBody(_decode(body, fmt, content_type), content_type)


SUPPORTED: frozenset[str] = frozenset({"json", "xml", "csv", "tsv", "psv", "yaml", "html", "markdown"})
UNSUPPORTED: frozenset[str] = frozenset({"avro", "protobuf"})

_EXCERPT = 60
# A YAML alias bomb stays small in memory but explodes once walked; cap the walk.
_MAX_YAML_NODES = 1_000_000
_YAML_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def convert(
    body: bytes, fmt: str | None, schema: str | None = None, *, content_type: str | None = None
) -> Any:
    """Decode ``body`` in format ``fmt`` (default json) into a JSON-compatible tree.

    ``schema`` is the operation's ``outputSchema``: a CSS selector for html, a
    heading prefix for markdown, ignored otherwise.
    """
    name = (fmt or "json").strip().lower()
    if name in UNSUPPORTED:
        raise DecodeError(f"response format {name!r} is not supported by this runtime")
    handler = _HANDLERS.get(name)
    if handler is None:
        raise DecodeError(f"unknown response format {_excerpt(fmt or '')!r}")
    return handler(body, schema, content_type)


def _fail(fmt: str, reason: str) -> DecodeError:
    return DecodeError(f"could not decode the response as {fmt}: {reason}")


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


# --------------------------------------------------------------------------- text decoding

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _decode(body: bytes | str, fmt: str, content_type: str | None, fallback: str | None = None) -> str:
    """Text of ``body``: the Content-Type charset wins, then a BOM, then ``fallback``, then utf-8."""
    if isinstance(body, str):
        return body.removeprefix("\ufeff")
    data = bytes(body)
    encoding = _charset(content_type)
    if encoding is None:
        encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None) or fallback or "utf-8"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise _fail(fmt, f"unknown charset {_excerpt(encoding)!r}") from None
    except UnicodeDecodeError as exc:
        raise _fail(fmt, f"bytes are not valid {encoding} (at byte {exc.start})") from None
    return text.removeprefix("\ufeff")


# --------------------------------------------------------------------------- json


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _convert_json(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    text = _decode(body, "json", content_type)
    if not text.strip():
        return None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _fail("json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise _fail("json", str(exc)) from None
    except RecursionError:
        raise _fail("json", "nesting is too deep") from None


# --------------------------------------------------------------------------- xml

_XML_UNSAFE = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def _convert_xml(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    declared = _XML_DECL_ENCODING.match(bytes(body[:256])) if not isinstance(body, str) else None
    text = _decode(body, "xml", content_type, declared.group(1).decode("ascii") if declared else None)
    if not text.strip():
        return None
    unsafe = _XML_UNSAFE.search(text)
    if unsafe:
        # DTDs are refused outright: no entity expansion, no external lookups.
        raise _fail("xml", f"<!{unsafe.group(1).upper()} declarations are not allowed")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise _fail("xml", str(exc)) from None
    try:
        return _fold_element(root)
    except RecursionError:
        raise _fail("xml", "nesting is too deep") from None


def _local_name(name: str) -> str:
    return name.rpartition("}")[2] if name.startswith("{") else name


def _fold_element(elem: ET.Element) -> Any:
    """Jackson-style folding: attributes and children become fields, repeats become arrays."""
    children = list(elem)
    if not children and not elem.attrib:
        return elem.text if elem.text and elem.text.strip() else ""
    fields: dict[str, list[Any]] = {}
    for name, value in elem.attrib.items():
        fields.setdefault(_local_name(name), []).append(value)
    for child in children:
        fields.setdefault(_local_name(child.tag), []).append(_fold_element(child))
    text = "".join(piece for piece in [elem.text, *(c.tail for c in children)] if piece)
    if text.strip():
        fields.setdefault("", []).append(text)
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}


# --------------------------------------------------------------------------- csv / tsv / psv


def _delimited(fmt: str, delimiter: str) -> Callable[[bytes, str | None, str | None], Any]:
    def convert_delimited(body: bytes, _schema: str | None, content_type: str | None) -> Any:
        text = _decode(body, fmt, content_type)
        # strict: an unbalanced quote is an error, not a cell that swallows the rest of the file
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            rows = [row for row in reader if _filled(row)]
        except csv.Error as exc:
            raise _fail(fmt, f"{exc} (line {reader.line_num})") from None
        if not rows:
            return []
        keys = _column_names([cell.strip() for cell in rows[0]])
        return [_row_object(keys, row) for row in rows[1:]]

    return convert_delimited


def _filled(row: list[str]) -> bool:
    """False for a blank line (no cells, or a single whitespace-only cell)."""
    return bool(row) and not (len(row) == 1 and not row[0].strip())


def _column_names(headers: list[str]) -> list[str]:
    """Header texts as keys; an empty header becomes ``columnN`` (1-based)."""
    return [text or f"column{index}" for index, text in enumerate(headers, start=1)]


def _row_object(keys: list[str], cells: list[str]) -> dict[str, str]:
    """Pair cells with keys: missing cells are "", extra cells dropped, first duplicate key wins."""
    row: dict[str, str] = {}
    for index, key in enumerate(keys):
        row.setdefault(key, cells[index] if index < len(cells) else "")
    return row


# --------------------------------------------------------------------------- yaml


def _convert_yaml(body: bytes, _schema: str | None, content_type: str | None) -> Any:
    return _load_yaml(_decode(body, "yaml", content_type), "yaml")


def _load_yaml(text: str, fmt: str) -> Any:
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # the C or Python *safe* loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise _fail(fmt, f"{exc.problem or exc.context or 'invalid YAML'}{where}") from None
    except yaml.YAMLError as exc:
        raise _fail(fmt, _excerpt(str(exc).splitlines()[0] if str(exc) else "invalid YAML")) from None
    except RecursionError:
        raise _fail(fmt, "nesting is too deep") from None
    except (ValueError, TypeError) as exc:  # e.g. an integer longer than Python's digit limit
        raise _fail(fmt, _excerpt(str(exc))) from None
    try:
        return _jsonable(data, [_MAX_YAML_NODES])
    except RecursionError:
        raise _fail(fmt, "nesting is too deep or aliases are recursive") from None
    except OverflowError:
        raise _fail(fmt, f"document expands to more than {_MAX_YAML_NODES} values") from None


def _jsonable(value: Any, budget: list[int]) -> Any:
    """Turn a PyYAML tree into JSON values: dates as ISO text, NaN/inf as null, keys as text."""
    budget[0] -= 1
    if budget[0] < 0:
        raise OverflowError
    if isinstance(value, dict):
        return {_json_key(key): _jsonable(item, budget) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item, budget) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/Infinity; null is what JavaScript's JSON.stringify does
    if isinstance(value, bytes):
        return codecs.encode(value, "base64").decode("ascii").replace("\n", "")
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(key)


# --------------------------------------------------------------------------- html: document tree


@dataclass(eq=False)
class _Element:
    tag: str
    attrs: dict[str, str]
    parent: _Element | None
    children: list[_Element | str] = field(default_factory=list)


# fmt: off
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr", "basefont", "frame", "keygen",
})
_SKIP_TEXT = frozenset({"script", "style", "template"})
# Elements whose boundaries separate words in the visible text.
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
# fmt: on
_SECTIONS = frozenset({"thead", "tbody", "tfoot"})
# start tag -> (open elements it implicitly closes, elements that stop the search)
_IMPLIED_CLOSE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table", *_SECTIONS})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table", *_SECTIONS})),
    "tr": (frozenset({"tr", "td", "th"}), frozenset({"table", *_SECTIONS})),
    "thead": (frozenset({"tr", "td", "th", *_SECTIONS}), frozenset({"table"})),
    "tbody": (frozenset({"tr", "td", "th", *_SECTIONS}), frozenset({"table"})),
    "tfoot": (frozenset({"tr", "td", "th", *_SECTIONS}), frozenset({"table"})),
}


class _TreeBuilder(HTMLParser):
    """Forgiving HTML -> element tree, with the implied end tags tables rely on."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("#document", {}, None)
        self._stack: list[_Element] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IMPLIED_CLOSE:
            self._close_implied(*_IMPLIED_CLOSE[tag])
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name, value or "")
        parent = self._stack[-1]
        element = _Element(tag, values, parent)
        parent.children.append(element)
        if tag not in _VOID:
            self._stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, 0, -1):
            open_tag = self._stack[index].tag
            if open_tag == tag:
                del self._stack[index:]
                return
            if open_tag == "table":
                return  # a stray end tag never closes past a table

    def handle_data(self, data: str) -> None:
        current = self._stack[-1]
        if current.tag not in _SKIP_TEXT:
            current.children.append(data)

    def _close_implied(self, targets: frozenset[str], stops: frozenset[str]) -> None:
        lowest = None
        for index in range(len(self._stack) - 1, 0, -1):
            open_tag = self._stack[index].tag
            if open_tag in stops:
                break
            if open_tag in targets:
                lowest = index
        if lowest is not None:
            del self._stack[lowest:]


def _walk(root: _Element) -> Iterator[_Element]:
    """Every element under ``root`` in document order (iterative: HTML can nest deeply)."""
    pending = [c for c in reversed(root.children) if isinstance(c, _Element)]
    while pending:
        element = pending.pop()
        yield element
        pending.extend(c for c in reversed(element.children) if isinstance(c, _Element))


def _text(element: _Element) -> str:
    """Visible text with whitespace collapsed; block boundaries count as spaces."""
    parts: list[str] = []
    pending: list[_Element | str] = [element]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        if node.tag in _BLOCK:
            parts.append(" ")
            pending.append(" ")
        pending.extend(reversed(node.children))
    return " ".join("".join(parts).split())


# --------------------------------------------------------------------------- html: CSS selectors


@dataclass(frozen=True, slots=True)
class _Compound:
    tag: str | None = None
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None, str], ...] = ()  # (name, operator or None, value)


@dataclass(frozen=True, slots=True)
class _Complex:
    compounds: tuple[_Compound, ...]
    combinators: tuple[str, ...]  # between compounds: " " (descendant) or ">" (child)


class _SelectorError(ValueError):
    pass


_IDENT = r"-?[_a-zA-Z\u0080-\uffff][_a-zA-Z0-9\u0080-\uffff-]*"


@functools.cache
def _selector_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(tag, #id/.class, [attr]) patterns, compiled on first use: the non-ASCII ranges take about
    20 ms to compile, which every ``serve`` and ``validate`` start would otherwise pay."""
    return (
        re.compile(rf"\*|{_IDENT}"),
        re.compile(rf"([#.])({_IDENT})"),
        re.compile(rf"""\[\s*({_IDENT})\s*(?:([~|^$*]?=)\s*(?:"([^"]*)"|'([^']*)'|([^\s\]"']+))\s*)?\]"""),
    )


def check_css_selector(selector: str) -> str | None:
    """An error message when ``selector`` is outside the supported CSS subset, else None."""
    try:
        _parse_selector(selector)
    except _SelectorError as exc:
        return str(exc)
    return None


def _parse_selector(selector: str) -> tuple[_Complex, ...]:
    groups: list[_Complex] = []
    for part in _split_groups(selector):
        groups.append(_parse_complex(part, selector))
    return tuple(groups)


def _split_groups(selector: str) -> list[str]:
    """Split on commas that are not inside an attribute selector's brackets or quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(selector):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'" and depth:
            quote = char
        elif char in "[]":
            depth += 1 if char == "[" else -1
        elif char == "," and not depth:
            parts.append(selector[start:index])
            start = index + 1
    parts.append(selector[start:])
    return parts


def _selector_error(selector: str, reason: str) -> _SelectorError:
    return _SelectorError(f"unsupported CSS selector {_excerpt(selector)!r}: {reason}")


def _parse_complex(text: str, selector: str) -> _Complex:
    compounds: list[_Compound] = []
    combinators: list[str] = []
    pos, end = 0, len(text)
    pos = _skip_space(text, pos)
    if pos >= end:
        raise _selector_error(selector, "empty selector")
    while True:
        compound, pos = _parse_compound(text, pos, selector)
        compounds.append(compound)
        after = _skip_space(text, pos)
        if after >= end:
            break
        char = text[after]
        if char == ">":
            combinators.append(">")
            pos = _skip_space(text, after + 1)
        elif char in "+~":
            raise _selector_error(selector, f"the {char!r} combinator is not supported")
        elif after > pos:
            combinators.append(" ")
            pos = after
        else:
            raise _selector_error(selector, f"unexpected {char!r} at position {after + 1}")
        if pos >= end:
            raise _selector_error(selector, "a combinator must be followed by a selector")
    return _Complex(tuple(compounds), tuple(combinators))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _parse_compound(text: str, pos: int, selector: str) -> tuple[_Compound, int]:
    tag_re, simple_re, attr_re = _selector_patterns()
    tag, has_type = None, False
    if match := tag_re.match(text, pos):
        tag, has_type = (None if match.group() == "*" else match.group().lower()), True
        pos = match.end()
    start_pos, ids, classes, attrs = pos, [], [], []
    while pos < len(text):
        if match := simple_re.match(text, pos):
            (ids if match.group(1) == "#" else classes).append(match.group(2))
        elif match := attr_re.match(text, pos):
            name, operator, *values = match.groups()
            value = next((v for v in values if v is not None), "")
            attrs.append((name.lower(), operator, value))
        elif text[pos] == ":":
            raise _selector_error(selector, "pseudo-classes and pseudo-elements are not supported")
        else:
            break
        pos = match.end()
    if not has_type and pos == start_pos:
        raise _selector_error(selector, f"unexpected {text[pos]!r} at position {pos + 1}")
    return _Compound(tag, tuple(ids), tuple(classes), tuple(attrs)), pos


def _attr_matches(actual: str | None, operator: str | None, expected: str) -> bool:
    if actual is None:
        return False
    match operator:
        case None:
            return True
        case "=":
            return actual == expected
        case "~=":
            return expected in actual.split()
        case "|=":
            return actual == expected or actual.startswith(expected + "-")
        case "^=":
            return bool(expected) and actual.startswith(expected)
        case "$=":
            return bool(expected) and actual.endswith(expected)
        case _:  # "*="
            return bool(expected) and expected in actual


def _compound_matches(compound: _Compound, element: _Element) -> bool:
    if compound.tag is not None and compound.tag != element.tag:
        return False
    if any(element.attrs.get("id") != ident for ident in compound.ids):
        return False
    classes = element.attrs.get("class", "").split()
    if any(name not in classes for name in compound.classes):
        return False
    return all(_attr_matches(element.attrs.get(n), op, v) for n, op, v in compound.attrs)


class _Matcher:
    """Right-to-left selector matching, memoised so deep documents stay linear-ish."""

    def __init__(self, groups: tuple[_Complex, ...]) -> None:
        self._groups = groups
        self._memo: dict[tuple[int, int, int], bool] = {}

    def matches(self, element: _Element) -> bool:
        return any(
            self._match(group_index, len(group.compounds) - 1, element)
            for group_index, group in enumerate(self._groups)
        )

    def _match(self, group_index: int, index: int, element: _Element) -> bool:
        key = (group_index, index, id(element))
        if key not in self._memo:
            self._memo[key] = self._compute(group_index, index, element)
        return self._memo[key]

    def _compute(self, group_index: int, index: int, element: _Element) -> bool:
        group = self._groups[group_index]
        if not _compound_matches(group.compounds[index], element):
            return False
        if index == 0:
            return True
        ancestor = element.parent
        if group.combinators[index - 1] == ">":
            return (
                ancestor is not None
                and ancestor.parent is not None
                and self._match(group_index, index - 1, ancestor)
            )
        while ancestor is not None and ancestor.parent is not None:  # the document node never matches
            if self._match(group_index, index - 1, ancestor):
                return True
            ancestor = ancestor.parent
        return False


# --------------------------------------------------------------------------- html: tables


def _convert_html(body: bytes, schema: str | None, content_type: str | None) -> Any:
    matcher = None
    if schema and schema.strip():
        try:
            matcher = _Matcher(_parse_selector(schema))
        except _SelectorError as exc:
            raise _fail("html", str(exc)) from None
    builder = _TreeBuilder()
    text = _decode(body, "html", content_type)
    try:
        builder.feed(text)
        builder.close()
    except (AssertionError, ValueError) as exc:  # html.parser is lenient; this is a last resort
        raise _fail("html", _excerpt(str(exc))) from None
    tables = [e for e in _walk(builder.root) if e.tag == "table"]
    if matcher is not None:
        tables = [t for t in tables if _in_scope(t, matcher)]
    return {"tables": [_table_rows(table) for table in tables]}


def _in_scope(table: _Element, matcher: _Matcher) -> bool:
    node: _Element | None = table
    while node is not None and node.parent is not None:
        if matcher.matches(node):
            return True
        node = node.parent
    return False


def _rows_of(table: _Element) -> list[tuple[_Element, bool]]:
    """The table's own rows (not those of nested tables), each flagged when inside <thead>."""
    rows: list[tuple[_Element, bool]] = []
    pending: list[tuple[_Element, bool]] = [
        (c, False) for c in reversed(table.children) if isinstance(c, _Element)
    ]
    while pending:
        element, in_head = pending.pop()
        if element.tag == "tr":
            rows.append((element, in_head))
        elif element.tag != "table":
            head = in_head or element.tag == "thead"
            pending.extend((c, head) for c in reversed(element.children) if isinstance(c, _Element))
    return rows


def _cells(row: _Element) -> list[_Element]:
    return [c for c in row.children if isinstance(c, _Element) and c.tag in ("td", "th")]


def _table_rows(table: _Element) -> list[dict[str, str]]:
    rows = [(row, in_head, _cells(row)) for row, in_head in _rows_of(table)]
    header: list[str] | None = None
    head_rows = [cells for _row, in_head, cells in rows if in_head]
    if head_rows:
        header = [_text(cell) for cell in head_rows[0]]
    elif rows and rows[0][2] and all(cell.tag == "th" for cell in rows[0][2]):
        header = [_text(cell) for cell in rows[0][2]]
    result = []
    for _row, in_head, cells in rows:
        if in_head or not cells or any(cell.tag == "th" for cell in cells):
            continue
        texts = [_text(cell) for cell in cells]
        keys = _column_names(header) if header is not None else _column_names([""] * len(texts))
        result.append(_row_object(keys, texts))
    return result


# --------------------------------------------------------------------------- markdown

_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_CLOSING_HASHES_RE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_DELIMITER_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_UNESCAPED_PIPE_RE = re.compile(r"(?<!\\)\|")


@dataclass(slots=True)
class _Section:
    heading: str
    level: int
    lines: list[str] = field(default_factory=list)


def _convert_markdown(body: bytes, schema: str | None, content_type: str | None) -> Any:
    text = _decode(body, "markdown", content_type).replace("\r\n", "\n").replace("\r", "\n")
    front_matter, lines = _split_front_matter(text.split("\n"))
    sections: list[_Section] = []
    tables: list[tuple[_Section | None, list[dict[str, str]]]] = []
    _scan_markdown(lines, sections, tables)
    prefix = schema if schema and schema.strip() else None
    kept = [s for s in sections if prefix is None or _heading_has_prefix(s, prefix)]
    kept_ids = {id(s) for s in kept}
    return {
        "frontMatter": front_matter,
        "tables": [rows for owner, rows in tables if prefix is None or id(owner) in kept_ids],
        "sections": [
            {"heading": s.heading, "level": s.level, "content": "\n".join(s.lines).strip()} for s in kept
        ],
    }


def _heading_has_prefix(section: _Section, prefix: str) -> bool:
    """A prefix written with its hashes (``## Results``) also pins the heading level."""
    if prefix.startswith("#"):
        return f"{'#' * section.level} {section.heading}".startswith(prefix)
    return section.heading.startswith(prefix)


def _split_front_matter(lines: list[str]) -> tuple[dict[str, Any], list[str]]:
    if not lines or lines[0].rstrip() != "---":
        return {}, lines
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            data = _load_yaml("\n".join(lines[1:index]), "markdown front matter")
            if data is None:
                return {}, lines[index + 1 :]
            if not isinstance(data, dict):
                raise _fail("markdown", "front matter is not a YAML mapping")
            return data, lines[index + 1 :]
    return {}, lines  # never closed: a thematic break, not front matter


def _scan_markdown(
    lines: list[str], sections: list[_Section], tables: list[tuple[_Section | None, list[dict[str, str]]]]
) -> None:
    """Split lines into heading sections and collect GFM tables, skipping fenced code."""
    current: _Section | None = None
    fence: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
        elif match := _FENCE_RE.match(line):
            if not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = match.group(1)
        elif heading := _parse_heading(line):
            current = _Section(*heading)
            sections.append(current)
            continue
        elif index < len(lines) and _starts_table(line, lines[index]):
            end = _table_end(lines, index + 1)
            tables.append((current, _parse_table(lines[index - 1 : end])))
            if current is not None:
                current.lines.extend(lines[index - 1 : end])
            index = end
            continue
        if current is not None:
            current.lines.append(line)


def _closes_fence(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}
    )


def _parse_heading(line: str) -> tuple[str, int] | None:
    match = _HEADING_RE.match(line)
    if match is None:
        return None
    text = _CLOSING_HASHES_RE.sub("", match.group(2).strip()).strip()
    return text, len(match.group(1))


def _split_cells(line: str) -> list[str]:
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|") and not stripped.endswith("\\|"):
        stripped = stripped[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _UNESCAPED_PIPE_RE.split(stripped)]


def _starts_table(header: str, delimiter: str) -> bool:
    return (
        _UNESCAPED_PIPE_RE.search(header) is not None
        and _DELIMITER_RE.match(delimiter) is not None
        and len(_split_cells(header)) == len(_split_cells(delimiter))
    )


def _table_end(lines: list[str], index: int) -> int:
    """Index just past the table's last body row: it ends at a blank line or another block."""
    while index < len(lines):
        line = lines[index]
        if not line.strip() or _parse_heading(line) or _FENCE_RE.match(line) or line.lstrip().startswith(">"):
            break
        index += 1
    return index


def _parse_table(lines: list[str]) -> list[dict[str, str]]:
    keys = _column_names(_split_cells(lines[0]))
    return [_row_object(keys, _split_cells(line)) for line in lines[2:]]


_HANDLERS: dict[str, Callable[[bytes, str | None, str | None], Any]] = {
    "json": _convert_json,
    "xml": _convert_xml,
    "csv": _delimited("csv", ","),
    "tsv": _delimited("tsv", "\t"),
    "psv": _delimited("psv", "|"),
    "yaml": _convert_yaml,
    "html": _convert_html,
    "markdown": _convert_markdown,
}
