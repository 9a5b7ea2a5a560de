"""html: every ``<table>`` as a list of header-keyed rows, optionally scoped by a CSS selector.

A forgiving tree builder on ``html.parser`` (with the implied end tags tables rely on) feeds the
selector engine in ``css``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from naftiko_runtime.formats._rows import column_names, row_object
from naftiko_runtime.formats._text import decode, excerpt, fail
from naftiko_runtime.formats.css import Matcher, SelectorError, parse_selector


def convert_html(body: bytes, schema: str | None, content_type: str | None) -> Any:
    matcher = None
    if schema and schema.strip():
        try:
            matcher = Matcher(parse_selector(schema))
        except SelectorError as exc:
            raise fail("html", str(exc)) from None
    builder = _TreeBuilder()
    text = decode(body, "html", content_type)
    try:
        builder.feed(text)
        builder.close()
    except (AssertionError, ValueError) as exc:  # html.parser is lenient; this is a last resort
        raise fail("html", excerpt(str(exc))) from None
    tables = [e for e in _walk(builder.root) if e.tag == "table"]
    if matcher is not None:
        tables = [t for t in tables if _in_scope(t, matcher)]
    return {"tables": [_table_rows(table) for table in tables]}


# --------------------------------------------------------------------------- tables


def _in_scope(table: Element, matcher: Matcher) -> bool:
    node: Element | None = table
    while node is not None and node.parent is not None:
        if matcher.matches(node):
            return True
        node = node.parent
    return False


def _rows_of(table: Element) -> list[tuple[Element, bool]]:
    """The table's own rows (not those of nested tables), each flagged when inside <thead>."""
    rows: list[tuple[Element, bool]] = []
    pending: list[tuple[Element, bool]] = [
        (c, False) for c in reversed(table.children) if isinstance(c, Element)
    ]
    while pending:
        element, in_head = pending.pop()
        if element.tag == "tr":
            rows.append((element, in_head))
        elif element.tag != "table":
            head = in_head or element.tag == "thead"
            pending.extend((c, head) for c in reversed(element.children) if isinstance(c, Element))
    return rows


def _cells(row: Element) -> list[Element]:
    return [c for c in row.children if isinstance(c, Element) and c.tag in ("td", "th")]


def _table_rows(table: Element) -> list[dict[str, str]]:
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
        keys = column_names(header) if header is not None else column_names([""] * len(texts))
        result.append(row_object(keys, texts))
    return result


# --------------------------------------------------------------------------- document tree


@dataclass(eq=False)
class Element:
    """An element of the parsed page; ``children`` mixes elements and text runs."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element | str] = field(default_factory=list)


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
        self.root = Element("#document", {}, None)
        self._stack: list[Element] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IMPLIED_CLOSE:
            self._close_implied(*_IMPLIED_CLOSE[tag])
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name, value or "")
        parent = self._stack[-1]
        element = Element(tag, values, parent)
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


def _walk(root: Element) -> Iterator[Element]:
    """Every element under ``root`` in document order (iterative: HTML can nest deeply)."""
    pending = [c for c in reversed(root.children) if isinstance(c, Element)]
    while pending:
        element = pending.pop()
        yield element
        pending.extend(c for c in reversed(element.children) if isinstance(c, Element))


def _text(element: Element) -> str:
    """Visible text with whitespace collapsed; block boundaries count as spaces."""
    parts: list[str] = []
    pending: list[Element | str] = [element]
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
