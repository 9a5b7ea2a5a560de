"""Stage 1, source: YAML text -> plain data plus a position for every JSON pointer.

PyYAML's ``safe_load`` silently keeps the last of two duplicate keys and turns
``on:``/``yes`` into booleans (YAML 1.1). We compose the node tree ourselves so
that each of those surprises becomes a located diagnostic instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.constructor

from naftiko_runtime.errors import Diagnostic, Location, Severity

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# YAML 1.1 booleans that YAML 1.2 (and every JSON-minded reader) treat as strings.
_YAML11_BOOLS = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")


def escape(token: str) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def join(pointer: str, token: str | int) -> str:
    return f"{pointer}/{escape(str(token))}"


@dataclass(slots=True)
class SourceDoc:
    """One parsed YAML document and the index that locates any of its values."""

    file: str
    text: str
    data: Any = None
    value_pos: dict[str, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[str, tuple[int, int]] = field(default_factory=dict)
    plain: set[str] = field(default_factory=set)

    def locate(self, pointer: str, *, key: bool = False) -> Location:
        """Position of ``pointer`` (its key when ``key``), else of its nearest located parent."""
        probe = pointer
        while True:
            table = self.key_pos if key and probe in self.key_pos else self.value_pos
            if probe in table:
                line, col = table[probe]
                return Location(self.file, pointer, line, col)
            if not probe:
                return Location(self.file, pointer, 1, 1)
            probe = probe.rsplit("/", 1)[0]

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


class _Builder:
    """Walks a composed node tree into plain data, recording positions and problems."""

    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def problem(self, code: str, message: str, mark: yaml.Mark, pointer: str, hint: str | None = None,
                severity: Severity = Severity.ERROR, related: tuple[Location, ...] = ()) -> None:
        loc = Location(self.doc.file, pointer, mark.line + 1, mark.column + 1)
        self.diagnostics.append(Diagnostic(code, severity, message, loc, hint, related))

    def build(self, node: yaml.Node, pointer: str) -> Any:
        self.doc.value_pos.setdefault(pointer, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, pointer)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, join(pointer, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, pointer)

    def scalar(self, node: yaml.ScalarNode, pointer: str) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value  # dates stay the text the author wrote ('2026-05-25')
        if node.style is None:
            self.doc.plain.add(pointer)
            if node.tag == _BOOL and _YAML11_BOOLS.match(node.value):
                self.problem(
                    "yaml-1-1-boolean",
                    f"'{node.value}' is read as a boolean by YAML 1.1 but as a string by YAML 1.2",
                    node.start_mark, pointer, hint="write true/false, or quote the string",
                    severity=Severity.WARNING,
                )
        return self.constructor.construct_object(node)

    def mapping(self, node: yaml.MappingNode, pointer: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge(result, value_node, pointer)
                continue
            key = self.key(key_node, pointer)
            if key is None:
                continue
            child = join(pointer, key)
            if key in seen:
                first = seen[key]
                first_loc = Location(self.doc.file, child, first.line + 1, first.column + 1)
                self.problem(
                    "duplicate-key",
                    f"key '{key}' appears twice in the same mapping (first on line {first.line + 1})",
                    key_node.start_mark, child, hint="remove or rename one of them", related=(first_loc,),
                )
                continue
            seen[key] = key_node.start_mark
            self.doc.key_pos[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child)
        return result

    def merge(self, result: dict[str, Any], value_node: yaml.Node, pointer: str) -> None:
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source, pointer)
            if isinstance(merged, dict):
                for key, value in merged.items():
                    result.setdefault(key, value)

    def key(self, node: yaml.Node, pointer: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            return node.value
        mark = node.start_mark
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL and node.style is None:
            self.problem(
                "yaml-1-1-key",
                f"key '{node.value}' is read as the boolean {node.value.lower() in ('y', 'yes', 'on', 'true')} "
                "by YAML 1.1, not as a string",
                mark, join(pointer, node.value), hint=f"quote it: '{node.value}':",
            )
        else:
            shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
            self.problem(
                "non-string-key", f"mapping key {shown!r} is not a string", mark,
                join(pointer, str(shown)), hint="quote the key",
            )
        return None


def parse(text: str, file: str) -> tuple[SourceDoc, list[Diagnostic]]:
    """Parse ``text``. On a syntax error ``doc.data`` is None and the diagnostic says where."""
    doc = SourceDoc(file=file, text=text)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return doc, [Diagnostic("yaml-syntax", Severity.ERROR, message, Location(file, "", line, col))]
    except yaml.YAMLError as exc:  # reader errors: bad bytes, control characters
        return doc, [Diagnostic("yaml-syntax", Severity.ERROR, str(exc), Location(file, "", 1, 1))]
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return doc, [Diagnostic("empty-document", Severity.ERROR, "the file holds no YAML document",
                                Location(file, "", 1, 1))]
    builder = _Builder(doc)
    doc.data = builder.build(nodes[0], "")
    for extra in nodes[1:]:
        builder.problem("multiple-documents", "only one YAML document per file is read",
                        extra.start_mark, "", hint="split the documents into separate files")
    return doc, builder.diagnostics
