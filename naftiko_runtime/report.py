"""Diagnostics as text for people, JSON for tools, and GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from naftiko_runtime.codes import CODES
from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.load import Document


def source_lines(docs: Iterable[Document]) -> Callable[[str, int], str]:
    """The lines a diagnostic may quote: only from files read as capability YAML (a capability, or a
    file one of them imports), from the text already read; never from any other file."""
    texts: dict[str, list[str]] = {}
    for doc in docs:
        sources = [doc.source] if _is_capability(doc.source.data) else []
        sources += [origin.source for origin in doc.origins]
        for source in sources:
            texts.setdefault(source.file, source.text.splitlines())

    def line_of(file: str, line: int) -> str:
        lines = texts.get(file, [])
        return lines[line - 1] if 0 < line <= len(lines) else ""

    return line_of


def _is_capability(data: Any) -> bool:
    return isinstance(data, dict) and any(key in data for key in ("naftiko", "ikanos", "consumes", "capability"))


def hint_of(diagnostic: Diagnostic) -> str | None:
    """The diagnostic's own hint, else its code's general one: every problem says what to do."""
    if diagnostic.hint:
        return diagnostic.hint
    entry = CODES.get(diagnostic.code)
    return entry.hint if entry is not None else None


def effective(diagnostic: Diagnostic, strict: bool) -> Severity:
    """``--strict`` turns warnings into errors."""
    if strict and diagnostic.severity is Severity.WARNING:
        return Severity.ERROR
    return diagnostic.severity


def format_text(diagnostics: Iterable[Diagnostic], line_of: Callable[[str, int], str], *,
                strict: bool = False) -> str:
    """``FILE:LINE:COL: severity[code] message``, then the source line with a caret under the column."""
    out: list[str] = []
    for d in diagnostics:
        loc = d.location
        out.append(f"{loc}: {effective(d, strict)}[{d.code}] {_one_line(d.message)}")
        source = line_of(loc.file, loc.line)
        if loc.line == 1:
            source = source.removeprefix("\ufeff")  # columns do not count a byte-order mark
        if source:
            gutter = f"{loc.line:>5} | "
            out.append(gutter + source)
            out.append(" " * (len(gutter) - 2) + "| " + _caret_pad(source, loc.col) + "^")
        hint = hint_of(d)
        if hint:
            out.append(f"      = hint: {_one_line(hint)}")
    return "\n".join(out)


def _caret_pad(source: str, col: int) -> str:
    """Spaces up to the column, keeping tabs so the caret lines up (past the end: plain spaces)."""
    width = max(col - 1, 0)
    head = source[:width]
    return "".join(c if c == "\t" else " " for c in head) + " " * (width - len(head))


def _one_line(text: str) -> str:
    """Each diagnostic keeps to its lines, whatever a message carries."""
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def format_json(diagnostics: Iterable[Diagnostic], *, strict: bool = False) -> str:
    items = []
    for d in diagnostics:
        item = d.as_dict()
        item["hint"] = hint_of(d)
        item["severity"] = str(effective(d, strict))
        items.append(item)
    return json.dumps(items, indent=2)


def format_github(diagnostics: Iterable[Diagnostic], *, strict: bool = False) -> str:
    lines = []
    for d in diagnostics:
        level = {"error": "error", "warning": "warning"}.get(str(effective(d, strict)), "notice")
        loc = d.location
        hint = hint_of(d)
        message = d.message + (f" ({hint})" if hint else "")
        lines.append(f"::{level} file={_prop(loc.file)},line={loc.line},col={loc.col},title={_prop(d.code)}::"
                     f"{_data(message)}")
    return "\n".join(lines)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def summary(diagnostics: list[Diagnostic], files: int, *, strict: bool = False) -> str:
    errors = sum(1 for d in diagnostics if effective(d, strict) is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if effective(d, strict) is Severity.WARNING)
    noun = "file" if files == 1 else "files"
    if not errors and not warnings:
        return f"{files} {noun} valid"
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} in {files} {noun}"
