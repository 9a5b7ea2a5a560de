"""Stage 2, load: files and folders -> ``Document``s.

Detects the spec version and normalises the supported ones (0.5 ... 1.0.0-alpha3, and Ikanos
1.0.0-beta5 documents, see ``ikanos``) into the alpha2 shape, inlines imported entries
(``location`` + ``import`` + ``as``; Ikanos ``from`` + ``import``) while remembering which file
each imported value came from, and renders load-time ``<<env.NAME>>`` templates.

Every normalised value stays located: ``Document.locate`` maps a pointer of the normalised data
back to the text the author wrote (through the Ikanos pointer map, then the file it was imported
from), so the stages after this one never need to know which dialect a file used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from naftiko_runtime.errors import ConfigError, Diagnostic, Location, Severity
from naftiko_runtime.load.document import Document, Origin, identity
from naftiko_runtime.load.imports import inline_imports, resolve_location
from naftiko_runtime.load.versions import (
    CURRENT_VERSION,
    LEGACY_VERSIONS,
    SUPPORTED_VERSIONS,
    check_not_run,
    check_version_features,
    detect_version,
    normalise,
    render_templates,
)
from naftiko_runtime.source import SourceDoc, parse

__all__ = [
    "CURRENT_VERSION",
    "LEGACY_VERSIONS",
    "SUPPORTED_VERSIONS",
    "Document",
    "Origin",
    "discover",
    "load_file",
    "load_paths",
    "load_text",
    "max_spec_bytes",
    "read_as_written",
    "resolve_location",
]


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[Diagnostic]]:
    """Expand files and folders. Returns (explicit files, files found in folders, problems)."""
    explicit: list[Path] = []
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(p for p in _yaml_files(path) if p not in found)
        elif path.is_file():
            explicit.append(path)
        else:  # a device or a pipe is not read: it may never end
            what = "not a regular file or folder" if path.exists() else "no such file or folder"
            problems.append(Diagnostic("file-not-found", Severity.ERROR, f"{what}: {raw}",
                                       Location(str(raw), "", 1, 1)))
    return explicit, found, problems


def _yaml_files(folder: Path) -> list[Path]:
    """``*.yaml``/``*.yml`` below ``folder``, skipping hidden folders and files (.git, .venv...)."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix in (".yaml", ".yml") and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )


def load_paths(paths: Iterable[str | Path], *, env: Mapping[str, str] | None = None,
               strict_env: bool = False) -> tuple[list[Document], list[Diagnostic]]:
    """Load every capability under ``paths``.

    Files found inside folders that are not Naftiko documents (a secrets file, say) are skipped;
    a file named explicitly must be one. Returns the documents and problems not tied to one; raises
    ``ConfigError`` when NAFTIKO_MAX_SPEC_BYTES is unusable.
    """
    unusable = _spec_limit()[1]
    if unusable is not None:  # the setting's fault, not any file's: said once, before reading any
        raise ConfigError(unusable)
    explicit, found, problems = discover(paths)
    docs = [load_file(p, env=env, strict_env=strict_env) for p in explicit]
    for path in found:
        if path in explicit:
            continue
        doc = load_file(path, env=env, strict_env=strict_env)
        data = doc.source.data
        if isinstance(data, dict) and ("naftiko" in data or "ikanos" in data):
            docs.append(doc)
        elif data is None and _looks_like_capability(doc.source.text):
            docs.append(doc)  # a broken capability file is still reported
    return docs, problems


def _looks_like_capability(text: str) -> bool:
    return any(line.startswith(("naftiko:", "ikanos:")) for line in text.splitlines())


def load_file(path: Path, *, env: Mapping[str, str] | None = None, strict_env: bool = False) -> Document:
    """Parse, detect the version, normalise and inline imports. Never raises on bad input."""
    return _load_file(Path(path), env, strict_env, ())


DEFAULT_MAX_SPEC_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024


def max_spec_bytes() -> int:
    """The size limit of a capability (or imported) file: NAFTIKO_MAX_SPEC_BYTES, default 4 MiB (also
    while the variable is unusable: ``load_paths`` refuses that)."""
    return _spec_limit()[0]


def _spec_limit() -> tuple[int, str | None]:
    """The limit, and why NAFTIKO_MAX_SPEC_BYTES cannot be one when it is not a positive whole number."""
    text = os.environ.get("NAFTIKO_MAX_SPEC_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_SPEC_BYTES, None
    if text.isascii() and text.isdigit() and len(text) > 18:
        return sys.maxsize, None  # no limit in practice (and int() refuses thousands of digits)
    try:
        value = int(text)
    except ValueError:  # also for "²", which isdigit() accepts
        value = 0
    if value > 0:
        return value, None
    return DEFAULT_MAX_SPEC_BYTES, f"NAFTIKO_MAX_SPEC_BYTES must be a positive whole number of bytes, not {text!r}"


def _read(path: Path) -> bytes:
    """At most the size limit (and one byte more, to tell): a huge or endless file is never read whole.
    Memory follows the file, not the limit, which may be huge: ``read(n)`` allocates n bytes at once."""
    limit = max_spec_bytes() + 1
    with path.open("rb") as handle:
        chunks = [handle.read(min(limit, os.fstat(handle.fileno()).st_size + 1))]
        size = len(chunks[0])
        # A file that grew since, or one without a size (a pipe): go on, a bounded chunk at a time.
        while size < limit and (chunk := handle.read(min(_CHUNK, limit - size))):
            chunks.append(chunk)
            size += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _load_file(path: Path, env: Mapping[str, str] | None, strict_env: bool, chain: tuple[Path, ...]) -> Document:
    try:
        raw = _read(path)
    except OSError as exc:
        src = SourceDoc(file=str(path), text="")
        return Document(path, src, diagnostics=[Diagnostic(
            "file-not-found", Severity.ERROR, f"cannot read {path}: {exc.strerror or type(exc).__name__}",
            Location(str(path), "", 1, 1))])
    if len(raw) > max_spec_bytes():
        return Document(path, SourceDoc(file=str(path), text=""), diagnostics=[Diagnostic(
            "file-too-large", Severity.ERROR, f"{path} is over the {max_spec_bytes()} bytes a capability file may "
            "have", Location(str(path), "", 1, 1), hint="split it, or raise NAFTIKO_MAX_SPEC_BYTES")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _undecodable(path, raw, exc)
    return _load_text(text, path, env, strict_env, chain)


def _undecodable(path: Path, raw: bytes, exc: UnicodeDecodeError) -> Document:
    """Not UTF-8: say where the first bad byte is. The text keeps replacements so folders still spot it."""
    before = raw[: exc.start].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    message = f"the file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded"
    return Document(path, SourceDoc(file=str(path), text=text), diagnostics=[Diagnostic(
        "yaml-syntax", Severity.ERROR, message, Location(str(path), "", line, col),
        hint="save the file as UTF-8")])


def load_text(text: str, path: Path, *, env: Mapping[str, str] | None = None,
              strict_env: bool = False, follow_imports: bool = True) -> Document:
    """Like ``load_file`` for text already in memory; imports are resolved against ``path``'s folder.

    ``follow_imports=False`` reads no other file (text from an untrusted sender: an import could
    otherwise make this process read, and report on, any YAML file it can see); each import is
    then left unresolved with an ``import-not-followed`` warning."""
    return _load_text(text, Path(path), env, strict_env, (), follow_imports=follow_imports)


def _load_text(text: str, path: Path, env: Mapping[str, str] | None, strict_env: bool,
               chain: tuple[Path, ...], *, as_written: bool = False, follow_imports: bool = True) -> Document:
    source, diagnostics = parse(text, str(path))
    doc = Document(path, source, diagnostics=list(diagnostics))
    if source.data is None:
        return doc
    if not isinstance(source.data, dict):
        doc.diagnostics.append(doc.diag("not-a-mapping", "the document root must be a mapping", ""))
        return doc
    if not detect_version(doc, source.data):
        return doc
    data = source.data if as_written else render_templates(doc, source.data, env, strict_env)
    doc.data = normalise(doc, data)
    doc.kind = "capability" if "capability" in doc.data else "consumes"
    if as_written:
        return doc
    check_version_features(doc)
    check_not_run(doc)
    inline_imports(doc, env, strict_env, (*chain, identity(path)), follow_imports)
    return doc


def read_as_written(path: Path) -> Document:
    """Parse, detect the version and normalise like ``load_file``, but keep imports and ``<<...>>``
    load-time templates as they are written (``naftiko convert`` writes them back)."""
    try:
        raw = _read(path)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Document(path, SourceDoc(file=str(path), text=""), diagnostics=[Diagnostic(
            "file-not-found", Severity.ERROR, f"cannot read {path}: {exc}", Location(str(path), "", 1, 1))])
    return _load_text(text, Path(path), None, False, (), as_written=True)
