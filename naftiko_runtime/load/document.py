"""The loaded document: normalised data, and the way back from any pointer to the text written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naftiko_runtime import ikanos
from naftiko_runtime.codes import diagnostic
from naftiko_runtime.errors import Diagnostic, Location, Severity
from naftiko_runtime.source import SourceDoc

__all__ = ["Document", "Origin", "identity"]


@dataclass(slots=True)
class Origin:
    """Values under ``prefix`` in the normalised data came from ``source`` at ``source_prefix``."""

    prefix: str
    source: SourceDoc
    source_prefix: str
    pointers: ikanos.PointerMap | None = None  # the imported file was Ikanos: its own way back to the text

    def locate(self, pointer: str, key: bool) -> Location:
        inner = self.source_prefix + pointer[len(self.prefix):]
        if self.pointers is not None:
            inner, is_key = self.pointers.to_source(inner)
            key = key or is_key
        loc = self.source.locate(inner, key=key)
        return Location(loc.file, pointer, loc.line, loc.col)


@dataclass(slots=True)
class Document:
    """One capability (or shared-consumes) file, normalised, ready for validation."""

    path: Path
    source: SourceDoc
    data: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    kind: str = "capability"  # or "consumes" for a shared-consumes file
    diagnostics: list[Diagnostic] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    templated: set[str] = field(default_factory=set)  # pointers whose value came from <<...>>
    unresolved_imports: set[str] = field(default_factory=set)  # namespaces we could not import
    imports: list[Path] = field(default_factory=list)  # every file an import named, found or not
    dialect: str = "naftiko"  # or "ikanos": the shape the file was written in (``data`` is Naftiko's)
    written_version: str | None = None  # the version the file declares, in its own dialect
    pointers: ikanos.PointerMap | None = None  # Ikanos: normalised pointer -> pointer as written

    @property
    def file(self) -> str:
        return self.source.file

    def locate(self, pointer: str, *, key: bool = False) -> Location:
        """Where the value at ``pointer`` (of ``data``) is written; the location keeps ``pointer``."""
        for origin in reversed(self.origins):
            if pointer == origin.prefix or pointer.startswith(origin.prefix + "/"):
                return origin.locate(pointer, key)
        inner = pointer
        if self.pointers is not None:
            inner, is_key = self.pointers.to_source(pointer)
            key = key or is_key
        loc = self.source.locate(inner, key=key)
        return Location(loc.file, pointer, loc.line, loc.col)

    def written_pointer(self, pointer: str) -> str:
        """``pointer`` as the author wrote it (Ikanos keys and names), for messages."""
        if self.pointers is None or any(pointer == o.prefix or pointer.startswith(o.prefix + "/")
                                        for o in self.origins):
            return pointer
        return self.pointers.to_source(pointer)[0]

    def source_for(self, file: str) -> SourceDoc | None:
        if file == self.source.file:
            return self.source
        return next((o.source for o in self.origins if o.source.file == file), None)

    def diag(self, code: str, message: str, pointer: str, *, severity: Severity | None = None,
             hint: str | None = None, key: bool = False) -> Diagnostic:
        """A located diagnostic; severity and hint default to the code's (``codes.CODES``)."""
        return diagnostic(code, message, self.locate(pointer, key=key), severity=severity, hint=hint)

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)

def identity(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
