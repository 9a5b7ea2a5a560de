"""Stage 1, source: YAML text -> plain data plus a position for every JSON pointer.

PyYAML's ``safe_load`` silently keeps the last of two duplicate keys and turns
``on:``/``yes`` into booleans (YAML 1.1). We compose the node tree ourselves so
that each of those surprises becomes a located diagnostic instead.

Aliases are composed as copies of their anchor's node placed at the alias, so a
pointer through ``*name`` locates the alias itself and pointers below it locate
the anchored text. ``<<`` merges follow the YAML merge-key rules (the mapping's
own keys win, then earlier merge sources).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.composer
import yaml.constructor
import yaml.reader
import yaml.resolver

from naftiko_runtime.errors import Diagnostic, Location, Severity

_CParser: Any
try:
    _CParser = importlib.import_module("yaml._yaml").CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
# Scalar tags that construct plain JSON-like data.
_DATA_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
# YAML 1.1 booleans that YAML 1.2 (and every JSON-minded reader) treat as strings.
_YAML11_BOOLS = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_TRUE_WORDS = ("y", "yes", "on", "true")
# Every value built counts against one budget that does not grow with the text, so alias/merge
# expansion ("billion laughs") is refused after the same bounded work, whatever the file's size.
MAX_NODES = 200_000
BOM = "\ufeff"


def escape(token: str) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def join(pointer: str, token: str | int) -> str:
    return f"{pointer}/{escape(str(token))}"


def _parent(pointer: str) -> str:
    return pointer.rsplit("/", 1)[0] if "/" in pointer else ""


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
            probe = _parent(probe)

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


class _AliasCopies(yaml.composer.Composer):
    """Composer whose aliases become a copy of the anchored node, positioned at the alias."""

    last_mark: yaml.Mark | None = None  # where composition got to, for errors without a mark
    # Provided by the parser this is mixed with (declared for the type checker).
    peek_event: Callable[[], Any]
    check_event: Callable[..., bool]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark
        self.last_mark = mark
        alias = self.check_event(yaml.AliasEvent)
        node = super().compose_node(parent, index)
        assert node is not None  # composition only asks for a node where one follows
        return _alias_copy(node, mark) if alias else node


class _PyLoader(_AliasCopies, yaml.SafeLoader):
    byte_positions = False


if _CParser is not None:

    class _CLoader(_AliasCopies, _CParser, yaml.resolver.Resolver):
        """libyaml scans and parses (ten times faster); composition stays in Python for the alias copies."""

        byte_positions = True  # libyaml reports reader errors at a UTF-8 byte offset

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.resolver.Resolver.__init__(self)
            _AliasCopies.__init__(self)

    _Loader: type = _CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _Loader = _PyLoader


def _alias_copy(target: yaml.Node, mark: yaml.Mark) -> yaml.Node:
    """Same tag and (shared) children as ``target``; only the marks differ."""
    copy: yaml.Node
    if isinstance(target, yaml.ScalarNode):
        copy = yaml.ScalarNode(target.tag, target.value, mark, mark, style=target.style)
    elif isinstance(target, yaml.SequenceNode):
        copy = yaml.SequenceNode(target.tag, target.value, mark, mark, flow_style=target.flow_style)
    else:
        copy = yaml.MappingNode(target.tag, target.value, mark, mark, flow_style=getattr(target, "flow_style", None))
    copy.alias_of = target  # type: ignore[union-attr]
    return copy


class _TooLarge(Exception):
    """Alias or merge expansion grew far beyond the text: refuse rather than exhaust memory."""


_Entry = tuple[str, yaml.Node, yaml.Node]


class _Builder:
    """Walks a composed node tree into plain data, recording positions and problems."""

    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self._reported: set[tuple[str, int, int]] = set()
        self._active: set[int] = set()  # collections being built: an alias back into one is a cycle
        self._budget = MAX_NODES

    def problem(self, code: str, message: str, mark: yaml.Mark, pointer: str, hint: str | None = None,
                severity: Severity = Severity.ERROR, related: tuple[Location, ...] = ()) -> None:
        loc = Location(self.doc.file, pointer, mark.line + 1, mark.column + 1)
        # Nodes shared through aliases are walked once per use: report each spot once.
        if (code, loc.line, loc.col) in self._reported:
            return
        self._reported.add((code, loc.line, loc.col))
        self.diagnostics.append(Diagnostic(code, severity, message, loc, hint, related))

    def build(self, node: yaml.Node, pointer: str) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise _TooLarge
        self.doc.value_pos[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, pointer)
        if not self._enter(node, pointer):
            return None
        try:
            if node.tag not in (_MAP, _SEQ):
                self.unsupported_tag(node, pointer)
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, pointer)
            return [self.build(item, join(pointer, i)) for i, item in enumerate(node.value)]
        finally:
            self._active.discard(id(node.value))

    def _enter(self, node: yaml.Node, pointer: str) -> bool:
        if id(node.value) in self._active:
            self.problem("yaml-unsupported", "this alias refers to a collection that contains it (a cycle)",
                         node.start_mark, pointer, hint="JSON-like data cannot be recursive; copy the values")
            return False
        self._active.add(id(node.value))
        return True

    def unsupported_tag(self, node: yaml.Node, pointer: str) -> None:
        self.problem("yaml-unsupported", f"the YAML tag {_short_tag(node.tag)} is not plain data",
                     node.start_mark, pointer, hint="remove the tag; capability files hold only JSON-like data")

    def scalar(self, node: yaml.ScalarNode, pointer: str) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value  # dates stay the text the author wrote ('2026-05-25')
        if node.tag not in _DATA_TAGS:
            self.unsupported_tag(node, pointer)
            return node.value
        if not node.style:  # plain: None from PyYAML, "" from libyaml
            self.doc.plain.add(pointer)
            if node.tag == _BOOL and _YAML11_BOOLS.match(node.value) and not hasattr(node, "alias_of"):
                self.problem(
                    "yaml-1-1-boolean",
                    f"'{node.value}' is read as a boolean by YAML 1.1 but as a string by YAML 1.2",
                    node.start_mark, pointer, hint="write true/false, or quote the string",
                    severity=Severity.WARNING,
                )
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError):  # e.g. `!!int abc`
            self.problem("yaml-unsupported", f"'{node.value}' cannot be read as {_short_tag(node.tag)}",
                         node.start_mark, pointer, hint="remove the tag or fix the value")
            return node.value

    def mapping(self, node: yaml.MappingNode, pointer: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, key_node, value_node in self.entries(node, pointer):
            child = join(pointer, key)
            self.doc.key_pos[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child)
        return result

    def entries(self, node: yaml.MappingNode, pointer: str) -> list[_Entry]:
        """The mapping's own keys (the first of duplicates), then merged keys it does not set itself."""
        own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: list[_Entry] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self.merged(value_node, pointer))
                continue
            key = self.key(key_node, pointer)
            if key is None:
                continue
            if key in own:
                self.duplicate(key, own[key][0], key_node, pointer)
                continue
            own[key] = (key_node, value_node)
        result = [(key, k, v) for key, (k, v) in own.items()]
        taken = set(own)
        for entry in merged:  # earlier merge sources win over later ones
            if entry[0] not in taken:
                taken.add(entry[0])
                result.append(entry)
        return result

    def merged(self, value_node: yaml.Node, pointer: str) -> list[_Entry]:
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        found: list[_Entry] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problem("yaml-unsupported", "a `<<` merge needs a mapping or a list of mappings",
                             source.start_mark, pointer, hint="merge an anchored mapping: `<<: *defaults`")
                continue
            if not self._enter(source, pointer):
                continue
            try:
                found.extend(self.entries(source, pointer))
            finally:
                self._active.discard(id(source.value))
        return found

    def duplicate(self, key: str, first_node: yaml.Node, key_node: yaml.Node, pointer: str) -> None:
        child = join(pointer, key)
        first = first_node.start_mark
        first_loc = Location(self.doc.file, child, first.line + 1, first.column + 1)
        self.problem(
            "duplicate-key",
            f"key '{key}' appears twice in the same mapping (first on line {first.line + 1})",
            key_node.start_mark, child, hint="remove or rename one of them", related=(first_loc,),
        )

    def key(self, node: yaml.Node, pointer: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            return node.value
        mark = node.start_mark
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL and _YAML11_BOOLS.match(node.value):
            self.problem(
                "yaml-1-1-key",
                f"key '{node.value}' is read as the boolean {node.value.lower() in _TRUE_WORDS} "
                "by YAML 1.1, not as a string",
                mark, join(pointer, node.value), hint=f"quote it: '{node.value}':",
            )
        else:
            if isinstance(node, yaml.ScalarNode):
                shown, message = node.value, f"mapping key {node.value!r} is not a string"
            else:
                shown = "sequence" if isinstance(node, yaml.SequenceNode) else "mapping"
                message = f"a mapping key is a {shown}, not a string"
            self.problem("non-string-key", message, mark, join(pointer, shown), hint="quote the key")
        return None


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _syntax(file: str, message: str, line: int, col: int, related: tuple[Location, ...] = ()) -> Diagnostic:
    return Diagnostic("yaml-syntax", Severity.ERROR, message, Location(file, "", line, col), related=related)


def _compose(text: str, file: str) -> tuple[list[yaml.Node], list[Diagnostic]]:
    nodes: list[yaml.Node] = []
    loader = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            nodes.append(loader.get_node())
    except yaml.reader.ReaderError as exc:  # control characters and the like
        index = exc.position
        if getattr(_Loader, "byte_positions", False):
            index = len(text.encode("utf-8")[: exc.position].decode("utf-8", errors="ignore"))
        return [], [_bad_character(file, text, index)]
    except yaml.MarkedYAMLError as exc:
        return [], [_marked(exc, file, text)]
    except yaml.YAMLError as exc:
        return [], [_syntax(file, f"invalid YAML ({type(exc).__name__})", 1, 1)]
    except UnicodeEncodeError as exc:  # a lone surrogate in text that did not come from a file
        return [], [_bad_character(file, text, exc.start)]
    except RecursionError:
        mark = loader.last_mark if loader is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [], [_syntax(file, "the YAML nests too deeply to be read", line, col)]
    finally:
        if loader is not None:
            loader.dispose()
    return [n for n in nodes if n is not None], []


def _bad_character(file: str, text: str, index: int) -> Diagnostic:
    char = text[index] if 0 <= index < len(text) else "\0"
    return _syntax(file, f"character U+{ord(char):04X} is not allowed in YAML", *_position(text, index))


def _marked(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    """At the problem; the construct it happened in (an unclosed quote, say) is the related location."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
    related: tuple[Location, ...] = ()
    if exc.context_mark and mark and exc.context_mark.index != mark.index:
        ctx = exc.context_mark
        related = (Location(file, "", ctx.line + 1, ctx.column + 1),)
    tab = mark is not None and text[mark.index: mark.index + 1] == "\t"
    hint = "YAML indentation must use spaces, not tabs" if tab else None
    return Diagnostic("yaml-syntax", Severity.ERROR, message, Location(file, "", line, col), hint, related)


def parse(text: str, file: str) -> tuple[SourceDoc, list[Diagnostic]]:
    """Parse ``text``. On a syntax error ``doc.data`` is None and the diagnostic says where."""
    text = text.removeprefix(BOM)  # PyYAML does not count the BOM as a column either
    doc = SourceDoc(file=file, text=text)
    nodes, problems = _compose(text, file)
    if problems:
        return doc, problems
    if not nodes or _is_null(nodes[0]):  # `---` alone composes to a null scalar
        return doc, [Diagnostic("empty-document", Severity.ERROR, "the file holds no YAML document",
                                Location(file, "", 1, 1))]
    builder = _Builder(doc)
    try:
        doc.data = builder.build(nodes[0], "")
    except (_TooLarge, RecursionError) as exc:
        doc.data, doc.value_pos, doc.key_pos, doc.plain = None, {}, {}, set()
        message = ("aliases expand the document far beyond its text" if isinstance(exc, _TooLarge)
                   else "the YAML nests too deeply to be read")
        return doc, [Diagnostic("yaml-unsupported", Severity.ERROR, message, Location(file, "", 1, 1),
                                hint="capability files should not need deep alias chains")]
    for extra in nodes[1:]:
        builder.problem("multiple-documents", "only one YAML document per file is read",
                        extra.start_mark, "", hint="split the documents into separate files")
    return doc, builder.diagnostics
