"""``naftiko convert``: a capability file written in the other dialect (Naftiko <-> Ikanos).

The file is read as written (imports stay imports, ``<<env.X>>`` load-time templates stay
templates), normalised like any file, then written the target's way by ``ikanos.to_ikanos`` (or
left in the Naftiko shape). YAML comments do not survive; values, and their order, do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from naftiko_runtime import ikanos
from naftiko_runtime.errors import ConversionError, Severity
from naftiko_runtime.formats.yaml import dump_yaml
from naftiko_runtime.load import read_as_written

DIALECTS = ("naftiko", "ikanos")


def convert_data(path: Path, to: str) -> dict[str, Any]:
    """The document at ``path`` as data in dialect ``to`` ("naftiko" or "ikanos")."""
    if to not in DIALECTS:
        raise ConversionError(f"unknown dialect {to!r} (expected naftiko or ikanos)")
    doc = read_as_written(path)
    problems = [d for d in doc.diagnostics if d.severity is Severity.ERROR]
    if doc.version is None or problems:
        raise ConversionError(f"{path} cannot be read as a capability", problems or doc.diagnostics)
    if to == "naftiko":
        return doc.data
    try:
        return ikanos.to_ikanos(doc.data)
    except ikanos.NotConvertible as exc:
        raise ConversionError(f"{path} has no Ikanos form: {exc}") from None


def convert_file(path: Path, to: str) -> str:
    """The document at ``path`` as YAML text in dialect ``to``."""
    return dump_yaml(convert_data(path, to))
