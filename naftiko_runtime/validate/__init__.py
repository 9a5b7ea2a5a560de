"""Stage 3, validate: documents -> every diagnostic at once (structure, then semantic rules).

Never needs the network or secrets. ``serve`` runs this first and refuses to start on errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.load import CODES as LOAD_CODES
from naftiko_runtime.load import Document, load_paths


def all_codes() -> dict[str, str]:
    """Every diagnostic code the runtime can emit, with a one-line summary."""
    from naftiko_runtime.validate.rules import CODES as RULE_CODES
    from naftiko_runtime.validate.structure import CODES as STRUCTURE_CODES

    return {**LOAD_CODES, **STRUCTURE_CODES, **RULE_CODES}


def check_documents(docs: list[Document], *, together: bool = False) -> list[Diagnostic]:
    """Structure and rules for each document, then the rules that span what is served together.

    A clash inside one document is an error. A clash between documents is an error ``together``
    (as ``serve`` checks them) and a warning otherwise, since they may never share a server."""
    from naftiko_runtime.validate.rules import check_rules, check_together
    from naftiko_runtime.validate.structure import check_structure

    for doc in docs:
        if doc.version is None:
            continue
        doc.diagnostics.extend(check_structure(doc))
        doc.diagnostics.extend(check_rules(doc))
    served = [d for d in docs if d.version is not None and d.kind == "capability"]
    own = [d for doc in served for d in check_together([doc])]
    across = check_together(served) if len(served) > 1 else own
    if not together:
        # Clashes between files matter only if they are served together: warn (errors with --strict).
        mine = set(own)
        across = own + [replace(d, severity=Severity.WARNING) for d in across if d not in mine]
    return [d for doc in docs for d in doc.diagnostics] + across


def validate_paths(paths: Iterable[str | Path], *, env: Mapping[str, str] | None = None,
                   strict_env: bool = False, together: bool = False) -> tuple[list[Document], list[Diagnostic]]:
    docs, problems = load_paths(paths, env=env, strict_env=strict_env)
    diagnostics = problems + check_documents(docs, together=together)
    return docs, sorted(set(diagnostics), key=_order)


def _order(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.location.file, d.location.line, d.location.col, d.code)


def has_errors(diagnostics: Iterable[Diagnostic], *, strict: bool = False) -> bool:
    limit = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return any(d.severity in limit for d in diagnostics)
