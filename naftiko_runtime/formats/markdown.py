"""markdown: YAML front matter, GFM tables and heading sections, optionally filtered by a heading
prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from naftiko_runtime.formats._rows import column_names, row_object
from naftiko_runtime.formats._text import decode, fail
from naftiko_runtime.formats.yaml import load_yaml

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


def convert_markdown(body: bytes, schema: str | None, content_type: str | None) -> Any:
    text = decode(body, "markdown", content_type).replace("\r\n", "\n").replace("\r", "\n")
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
            data = load_yaml("\n".join(lines[1:index]), "markdown front matter")
            if data is None:
                return {}, lines[index + 1 :]
            if not isinstance(data, dict):
                raise fail("markdown", "front matter is not a YAML mapping")
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
    keys = column_names(_split_cells(lines[0]))
    return [row_object(keys, _split_cells(line)) for line in lines[2:]]
