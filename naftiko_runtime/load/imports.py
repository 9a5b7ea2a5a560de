"""Imports: an entry ``{location, import, as}`` (Ikanos: ``from``) replaced by the entry it names in
another file, whose values stay located in that file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from naftiko_runtime import ikanos
from naftiko_runtime.errors import Severity
from naftiko_runtime.load.document import Document, Origin, identity
from naftiko_runtime.load.versions import closest
from naftiko_runtime.source import join


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


def inline_imports(doc: Document, env: Mapping[str, str] | None, strict_env: bool,
                   chain: tuple[Path, ...], follow: bool = True) -> None:
    """Replace each ``{location, import, as}`` entry of a section with the entry it names.

    ``consumes`` imports are Naftiko's; Ikanos imports in every section (``binds``, ``exposes``,
    ``aggregates`` too), and so does this runtime, in both dialects."""
    for section in ikanos.SECTIONS:
        for container in (f"/capability/{section}", f"/{section}"):
            parent = doc.data.get("capability", {}) if container.startswith("/capability") else doc.data
            entries = parent.get(section) if isinstance(parent, dict) else None
            if not isinstance(entries, list):
                continue
            for i, entry in enumerate(entries):
                if ikanos.is_naftiko_import(entry) and not follow:
                    pointer = join(container, i)
                    doc.unresolved_imports.add(str(entry.get("as") or entry["import"]))
                    doc.diagnostics.append(doc.diag(
                        "import-not-followed", f"the import of {entry['location']} is not followed here: this "
                        "document is checked on its own", join(pointer, "location")))
                elif ikanos.is_naftiko_import(entry):
                    imported = _import_one(doc, section, entry, join(container, i), env, strict_env, chain)
                    if imported is not None:
                        entries[i] = imported


def _import_one(doc: Document, section: str, entry: dict[str, Any], pointer: str,
                env: Mapping[str, str] | None, strict_env: bool, chain: tuple[Path, ...]) -> dict[str, Any] | None:
    name = str(entry["import"])
    alias = str(entry.get("as") or name)
    written = "from" if doc.dialect == "ikanos" else "location"
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
            "import-not-found", f"imported file {entry['location']} was not found (looked in {path})",
            join(pointer, "location"), severity=Severity.WARNING,
            hint=f"`{written}` paths are relative to this capability's folder"))
        return None
    if identity(path) in chain:
        doc.unresolved_imports.add(alias)
        trail = " -> ".join(p.name for p in (*chain, identity(path)))
        doc.diagnostics.append(doc.diag(
            "import-cycle", f"importing {entry['location']} leads back to a file being imported ({trail})",
            join(pointer, "location"), hint="shared files should not import the files that use them"))
        return None
    from naftiko_runtime.load import _load_file  # an imported file is loaded like any other (recursion)

    shared = _load_file(path, env, strict_env, chain)
    doc.imports.extend(shared.imports)
    doc.diagnostics.extend(d for d in shared.diagnostics if d.code != "import-not-found")
    candidates = list(_section_entries(shared.data, section))
    for container, found in candidates:
        if found.get("namespace") == name:
            result = dict(found)
            result["namespace"] = alias
            if entry.get("description") and "description" not in result:
                result["description"] = entry["description"]
            _adopt_origins(doc, shared, pointer, container)
            return result
    names = [a.get("namespace") for _, a in candidates]
    doc.unresolved_imports.add(alias)
    doc.diagnostics.append(doc.diag(
        "import-namespace-not-found", f"{entry['location']} has no {section} entry with namespace '{name}'",
        join(pointer, "import"), hint=closest(name, [str(n) for n in names if n])))
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


def _section_entries(data: Any, section: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """(pointer, entry) of a file's ``section``: a shared file's own, or a whole capability's
    (published files import each other's capabilities)."""
    if not isinstance(data, dict):
        return
    capability = data.get("capability")
    for prefix, parent in ((f"/{section}", data), (f"/capability/{section}", capability)):
        entries = parent.get(section) if isinstance(parent, dict) else None
        for j, found in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(found, dict) and not ikanos.is_naftiko_import(found):
                yield join(prefix, j), found


def _adopt_origins(doc: Document, shared: Document, pointer: str, shared_pointer: str) -> None:
    """Map ``pointer`` to the shared file, then any nested import inside it (more specific, so later)."""
    doc.origins.append(Origin(pointer, shared.source, shared_pointer, shared.pointers))
    for origin in shared.origins:
        if origin.prefix == shared_pointer or origin.prefix.startswith(shared_pointer + "/"):
            doc.origins.append(Origin(pointer + origin.prefix[len(shared_pointer):], origin.source,
                                      origin.source_prefix, origin.pointers))
