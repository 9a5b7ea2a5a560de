"""Stage 2, load: files and folders -> ``Document``s.

Detects the spec version and normalises the supported ones (0.5 ... 1.0.0-alpha3) into the
alpha2 shape, inlines imported consumes (``location`` + ``import`` + ``as``) while remembering
which file each imported value came from, and renders load-time ``<<env.NAME>>`` templates.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from naftiko_runtime.codes import diagnostic
from naftiko_runtime.errors import Diagnostic, Location, Severity
from naftiko_runtime.source import SourceDoc, join, parse

SUPPORTED_VERSIONS = ("0.5", "1.0.0-alpha1", "1.0.0-alpha2", "1.0.0-alpha3")
LEGACY_VERSIONS = ("0.2", "0.3", "0.4")
CURRENT_VERSION = "1.0.0-alpha2"

CODES = {
    "yaml-syntax": "the file is not valid YAML",
    "empty-document": "the file holds no YAML document",
    "multiple-documents": "a file holds more than one YAML document",
    "duplicate-key": "a mapping repeats a key",
    "non-string-key": "a mapping key is not a string",
    "yaml-1-1-key": "a key such as on/yes/no is a boolean in YAML 1.1",
    "yaml-1-1-boolean": "a value such as yes/no/on/off is a boolean in YAML 1.1",
    "not-a-mapping": "the document root is not a mapping",
    "missing-version": "the document has no `naftiko` version key",
    "unsupported-version": "the declared `naftiko` version is not one this runtime runs",
    "ikanos-document": "an `ikanos:` document (the renamed successor format)",
    "legacy-catalog": "the pre-engine `naftiko: {schema: ...}` catalog format",
    "feature-not-in-version": "a field used under a version that does not define it",
    "import-not-found": "an imported consumes file could not be read",
    "import-namespace-not-found": "the imported file has no consumes with that namespace",
    "import-cycle": "an import leads back to a file that is already being imported",
    "import-not-followed": "an import is not followed where a document is checked on its own",
    "yaml-unsupported": "YAML that is not plain data: custom tags, recursive or exploding aliases, bad merges",
    "load-time-template": "a `<<...>>` load-time template could not be rendered",
    "file-not-found": "a capability path does not exist or cannot be read",
}

# Fields that appeared in 1.0.0-alpha2: (JSON pointer pattern with * wildcards, description).
_ALPHA2_FEATURES = (
    ("/capability/exposes/*/type=control", "the control adapter (`type: control`)"),
    ("/capability/aggregates", "aggregates"),
    ("/capability/exposes/*/tools/*/ref", "`ref` to an aggregate function"),
    ("/capability/exposes/*/tools/*/hints", "tool `hints`"),
    ("/capability/exposes/*/resources/*/operations/*/ref", "`ref` to an aggregate function"),
)
_ORDER = {v: i for i, v in enumerate(SUPPORTED_VERSIONS)}
# Legacy documents are still checked against the current structure so the diagnostics show what to change.
LEGACY = frozenset(LEGACY_VERSIONS)


@dataclass(slots=True)
class Origin:
    """Values under ``prefix`` in the normalised data came from ``source`` at ``source_prefix``."""

    prefix: str
    source: SourceDoc
    source_prefix: str


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

    @property
    def file(self) -> str:
        return self.source.file

    def locate(self, pointer: str, *, key: bool = False) -> Location:
        for origin in reversed(self.origins):
            if pointer == origin.prefix or pointer.startswith(origin.prefix + "/"):
                inner = origin.source_prefix + pointer[len(origin.prefix):]
                loc = origin.source.locate(inner, key=key)
                return Location(loc.file, pointer, loc.line, loc.col)
        return self.source.locate(pointer, key=key)

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
        else:
            problems.append(Diagnostic("file-not-found", Severity.ERROR, f"no such file or folder: {raw}",
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
    a file named explicitly must be one. Returns the documents and problems not tied to one.
    """
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


def max_spec_bytes() -> int:
    """The size limit of a capability (or imported) file: NAFTIKO_MAX_SPEC_BYTES, default 4 MiB."""
    value = os.environ.get("NAFTIKO_MAX_SPEC_BYTES", "")
    return int(value) if value.isdigit() and int(value) > 0 else 4 * 1024 * 1024


def _read(path: Path) -> bytes:
    """At most the size limit (and one byte more, to tell): a huge or endless file is never read whole."""
    with path.open("rb") as handle:
        return handle.read(max_spec_bytes() + 1)


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
    return _load_text(text, Path(path), env, strict_env, (), follow_imports)


def _load_text(text: str, path: Path, env: Mapping[str, str] | None, strict_env: bool,
               chain: tuple[Path, ...], follow_imports: bool = True) -> Document:
    source, diagnostics = parse(text, str(path))
    doc = Document(path, source, diagnostics=list(diagnostics))
    if source.data is None:
        return doc
    if not isinstance(source.data, dict):
        doc.diagnostics.append(doc.diag("not-a-mapping", "the document root must be a mapping", ""))
        return doc
    if not _detect_version(doc, source.data):
        return doc
    data = _render_load_time(doc, source.data, env, strict_env)
    doc.data = _normalise(doc, data)
    doc.kind = "capability" if "capability" in doc.data else "consumes"
    _check_version_features(doc)
    _inline_imports(doc, env, strict_env, (*chain, _identity(path)), follow_imports)
    return doc


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _detect_version(doc: Document, data: dict[str, Any]) -> bool:
    if "ikanos" in data:
        doc.diagnostics.append(doc.diag(
            "ikanos-document",
            f"this is an Ikanos document (ikanos: {data['ikanos']}), the renamed successor of Naftiko with "
            "keyed-map syntax; it is not supported yet", "/ikanos",
            hint="convert it to `naftiko: 1.0.0-alpha2` syntax (lists with `name`, `label`, `targetName`)"))
        return False
    if "naftiko" not in data:
        doc.diagnostics.append(doc.diag(
            "missing-version", "the document has no `naftiko` key declaring its spec version", "",
            hint=f"add `naftiko: \"{CURRENT_VERSION}\"` as the first line"))
        return False
    declared = data["naftiko"]
    if declared is None or declared == "":
        doc.diagnostics.append(doc.diag(
            "missing-version", "the `naftiko` key has no version", "/naftiko", key=True,
            hint=f"write `naftiko: \"{CURRENT_VERSION}\"`"))
        return False
    if isinstance(declared, dict):
        doc.diagnostics.append(doc.diag(
            "legacy-catalog",
            "this is the pre-engine capability catalog format (`naftiko: {schema: ...}`), which describes "
            "but cannot run a capability; it is not supported", "/naftiko",
            hint=f"rewrite it as a `naftiko: \"{CURRENT_VERSION}\"` capability"))
        return False
    version = str(declared)
    if version in LEGACY_VERSIONS:
        doc.diagnostics.append(doc.diag(
            "unsupported-version",
            f"naftiko {version} is a legacy version this runtime does not run (supported: "
            f"{', '.join(SUPPORTED_VERSIONS)})", "/naftiko",
            hint=f"migrate to {CURRENT_VERSION}: `type: api` became `type: rest`, `externalRefs` became `binds`"))
        doc.version = version  # still checked against today's structure, to point at what to change
        return True
    if version not in SUPPORTED_VERSIONS:
        doc.diagnostics.append(doc.diag(
            "unsupported-version",
            f"unknown naftiko version '{version}' (supported: {', '.join(SUPPORTED_VERSIONS)})", "/naftiko",
            hint=_closest(version, SUPPORTED_VERSIONS)))
        return False
    doc.version = version
    return True


def _closest(value: str, choices: Iterable[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean `{match[0]}`?" if match else None


def _render_load_time(doc: Document, data: dict[str, Any], env: Mapping[str, str] | None,
                      strict_env: bool) -> dict[str, Any]:
    """Render ``<<env.NAME>>``. Missing names are errors when serving, warnings when validating."""
    if "<<" not in doc.source.text:
        return data
    from naftiko_runtime.loadtime import render_load_time

    rendered, problems = render_load_time(
        data, os.environ if env is None else env, typed=lambda pointer: pointer in doc.source.plain)
    _collect_templated(data, "", doc.templated)
    if strict_env:  # serving: rendered values are known and checked like any other; only failures stay exempt
        doc.templated.intersection_update(problem.pointer for problem in problems)
    for problem in problems:
        severity = Severity.ERROR if strict_env or problem.name is None else Severity.WARNING
        hint = f"set {problem.name} or give a default: <<env.{problem.name} | default('...')>>" \
            if problem.name else None
        doc.diagnostics.append(doc.diag("load-time-template", problem.message, problem.pointer,
                                        severity=severity, hint=hint))
    return rendered if isinstance(rendered, dict) else data


def _collect_templated(node: Any, pointer: str, out: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _collect_templated(value, join(pointer, key), out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _collect_templated(value, join(pointer, i), out)
    elif isinstance(node, str) and "<<" in node and ">>" in node:
        out.add(pointer)


def _normalise(doc: Document, data: dict[str, Any]) -> dict[str, Any]:
    """Bring 0.5 and alpha1 documents into the alpha2 shape (the model reads only that)."""
    data = dict(data)
    data["naftiko"] = doc.version  # `naftiko: 0.5` written unquoted is a float
    refs = data.get("externalRefs")
    if doc.version != "0.5" or not isinstance(refs, list):
        return data
    del data["externalRefs"]
    binds = list(data.get("binds") or []) if isinstance(data.get("binds"), list) else []
    for j, ref in enumerate(refs):
        if isinstance(ref, dict):
            bind = {"namespace": ref.get("name"), "keys": ref.get("keys") or {}}
            if ref.get("description"):
                bind["description"] = ref["description"]
            if ref.get("uri"):
                bind["location"] = ref["uri"]
            # Diagnostics about the bind point at the externalRefs entry it came from.
            doc.origins.append(Origin(join("/binds", len(binds)), doc.source, join("/externalRefs", j)))
            binds.append(bind)
    data["binds"] = binds
    return data


def _check_version_features(doc: Document) -> None:
    if doc.version not in _ORDER or _ORDER[doc.version] >= _ORDER["1.0.0-alpha2"]:
        return
    for pattern, what in _ALPHA2_FEATURES:
        for pointer in _match(doc.data, pattern.split("/")[1:], ""):
            doc.diagnostics.append(doc.diag(
                "feature-not-in-version", f"{what} needs naftiko 1.0.0-alpha2 or later, "
                f"but this document declares {doc.version}", pointer, key=True,
                hint=f"declare `naftiko: \"{CURRENT_VERSION}\"`"))


def _match(node: Any, parts: list[str], pointer: str) -> Iterable[str]:
    if not parts:
        yield pointer
        return
    head, rest = parts[0], parts[1:]
    if "=" in head:  # `type=control`: the parent holds key type with that value
        key, value = head.split("=", 1)
        if isinstance(node, dict) and node.get(key) == value:
            yield join(pointer, key)
        return
    if head == "*":
        items = enumerate(node) if isinstance(node, list) else []
        for i, child in items:
            yield from _match(child, rest, join(pointer, i))
    elif isinstance(node, dict) and head in node:
        yield from _match(node[head], rest, join(pointer, head))


def resolve_location(location: str, base: Path) -> Path:
    """A file URI or relative path, relative to the importing file's folder."""
    if location.startswith("file://"):
        parsed = urlparse(location)
        raw = unquote((parsed.netloc or "") + parsed.path)
        if raw.startswith("/./") or raw.startswith("/../"):
            raw = raw[1:]
        path = Path(raw)
    else:
        path = Path(location)
    return path if path.is_absolute() else base / path


def _inline_imports(doc: Document, env: Mapping[str, str] | None, strict_env: bool,
                    chain: tuple[Path, ...], follow: bool = True) -> None:
    """Replace each ``{location, import, as}`` consumes entry with the adapter it names."""
    for container in ("/capability/consumes", "/consumes"):
        parent = doc.data.get("capability", {}) if container.startswith("/capability") else doc.data
        entries = parent.get("consumes") if isinstance(parent, dict) else None
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "location" in entry and "import" in entry:
                pointer = join(container, i)
                if not follow:
                    doc.unresolved_imports.add(str(entry.get("as") or entry["import"]))
                    doc.diagnostics.append(doc.diag(
                        "import-not-followed", f"the import of {entry['location']} is not followed here: this "
                        "document is checked on its own", join(pointer, "location")))
                    continue
                imported = _import_one(doc, entry, pointer, env, strict_env, chain)
                if imported is not None:
                    entries[i] = imported


def _import_one(doc: Document, entry: dict[str, Any], pointer: str, env: Mapping[str, str] | None,
                strict_env: bool, chain: tuple[Path, ...]) -> dict[str, Any] | None:
    name = str(entry["import"])
    alias = str(entry.get("as") or name)
    path = resolve_location(str(entry["location"]), doc.path.parent)
    doc.imports.append(path)
    refusal = _not_importable(path)
    if refusal is not None:
        doc.unresolved_imports.add(alias)
        doc.diagnostics.append(doc.diag(
            "import-not-capability", f"{entry['location']} is not a capability file that can be imported ({refusal})",
            join(pointer, "location"), hint="import a .yaml, .yml or .json capability file"))
        return None
    if not path.is_file():
        doc.unresolved_imports.add(alias)
        doc.diagnostics.append(doc.diag(
            "import-not-found", f"imported consumes file {entry['location']} was not found (looked in {path})",
            join(pointer, "location"), severity=Severity.WARNING,
            hint="paths are relative to this capability's folder"))
        return None
    if _identity(path) in chain:
        doc.unresolved_imports.add(alias)
        trail = " -> ".join(p.name for p in (*chain, _identity(path)))
        doc.diagnostics.append(doc.diag(
            "import-cycle", f"importing {entry['location']} leads back to a file being imported ({trail})",
            join(pointer, "location"), hint="shared consumes files should not import the files that use them"))
        return None
    shared = _load_file(path, env, strict_env, chain)
    doc.imports.extend(shared.imports)
    doc.diagnostics.extend(d for d in shared.diagnostics if d.code != "import-not-found")
    candidates = list(_consumes_entries(shared.data))
    for container, adapter in candidates:
        if adapter.get("namespace") == name:
            result = dict(adapter)
            result["namespace"] = alias
            if entry.get("description") and "description" not in result:
                result["description"] = entry["description"]
            _adopt_origins(doc, shared, pointer, container)
            return result
    names = [a.get("namespace") for _, a in candidates]
    doc.unresolved_imports.add(alias)
    doc.diagnostics.append(doc.diag(
        "import-namespace-not-found", f"{entry['location']} has no consumes with namespace '{name}'",
        join(pointer, "import"), hint=_closest(name, [str(n) for n in names if n])))
    return None


_PSEUDO_FILESYSTEMS = ("/proc/", "/sys/", "/dev/")


def _not_importable(path: Path) -> str | None:
    """Why ``path`` is refused as an import, read or not: only YAML/JSON files, and never the kernel's
    pseudo-files (``/proc/self/environ`` would put the environment in a diagnostic)."""
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return "not a .yaml, .yml or .json file"
    try:
        real = str(path.resolve())
    except OSError:
        real = str(path.absolute())
    if real.startswith(_PSEUDO_FILESYSTEMS) or (path.exists() and not path.is_file()):
        return "not a regular file"
    return None


def _consumes_entries(data: Any) -> Iterable[tuple[str, dict[str, Any]]]:
    """(pointer, adapter) of a file's consumes: a shared-consumes file's own, or a whole capability's
    (published files import each other's capabilities)."""
    if not isinstance(data, dict):
        return
    capability = data.get("capability")
    for prefix, parent in (("/consumes", data), ("/capability/consumes", capability)):
        entries = parent.get("consumes") if isinstance(parent, dict) else None
        for j, adapter in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(adapter, dict):
                yield join(prefix, j), adapter


def _adopt_origins(doc: Document, shared: Document, pointer: str, shared_pointer: str) -> None:
    """Map ``pointer`` to the shared file, then any nested import inside it (more specific, so later)."""
    doc.origins.append(Origin(pointer, shared.source, shared_pointer))
    for origin in shared.origins:
        if origin.prefix == shared_pointer or origin.prefix.startswith(shared_pointer + "/"):
            doc.origins.append(Origin(pointer + origin.prefix[len(shared_pointer):], origin.source,
                                      origin.source_prefix))
