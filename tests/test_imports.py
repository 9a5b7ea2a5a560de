"""One importer per third-party library where the architecture says so (an import contract)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "naftiko_runtime"
# library -> the modules (relative to the package, a folder meaning every module in it) allowed to import it
CONTRACTS = {"yaml": ("source.py", "formats/")}


def importers(library: str) -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(name == library or name.startswith(library + ".") for name in names):
                found.add(path.relative_to(PACKAGE).as_posix())
    return found


def test_only_the_allowed_modules_import_each_library() -> None:
    for library, allowed in CONTRACTS.items():
        strays = {m for m in importers(library) if not any(m == a or (a.endswith("/") and m.startswith(a))
                                                            for a in allowed)}
        assert strays == set(), f"{library} imported outside {allowed}: {sorted(strays)}"
