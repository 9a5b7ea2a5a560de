"""Files served from a capability's folders (static MCP resources, skill contents): listed and read
without following links or leaving the folder, within bounds."""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MAX_STATIC_BYTES", "MAX_STATIC_FILES", "mime_type", "safe_file", "walk_files"]

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_STATIC_FILES = 1000
MAX_STATIC_BYTES = 8 * 1024 * 1024
_EXTRA_MIME = {
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".json": "application/json",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".csv": "text/csv",
}


def mime_type(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    extra = _EXTRA_MIME.get(path.suffix.lower())
    return extra or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def walk_files(folder: Path) -> Iterator[str]:
    """Relative paths (``/``-separated) of regular files under ``folder``, sorted, links not followed."""
    count = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if _SAFE_SEGMENT.match(d))
        for name in sorted(files):
            if not _SAFE_SEGMENT.match(name):
                continue
            full = Path(root, name)
            if full.is_symlink() or not full.is_file():
                continue
            yield full.relative_to(folder).as_posix()
            count += 1
            if count >= MAX_STATIC_FILES:
                return


def safe_file(folder: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``folder``, or None if it is unsafe or outside it.

    Every segment must be a plain name (no ``..``, no encoded characters), and the real path,
    symlinks resolved, must still be inside the real folder.
    """
    segments = relative.split("/")
    if not relative or any(not _SAFE_SEGMENT.match(s) or s in (".", "..") for s in segments):
        return None
    root = os.path.realpath(folder)
    candidate = os.path.realpath(os.path.join(root, *segments))
    if os.path.commonpath([root, candidate]) != root or candidate == root:
        return None
    path = Path(candidate)
    return path if path.is_file() else None
