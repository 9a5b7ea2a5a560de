"""Validation: documents -> every diagnostic at once, and the model of each.

For each document: structure (the shape, against the spec's JSON Schema), then the model (built
from any document, leaving out what structure found unusable), then the semantic rules on the
model; finally the rules that span what is served together. Never needs the network or secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from naftiko_runtime.codes import CODES
from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.load import Document, load_paths
from naftiko_runtime.model import Capability, build, value_errors


def all_codes() -> dict[str, str]:
    """Every diagnostic code the runtime can emit, with a one-line summary."""
    return {code: entry.summary for code, entry in CODES.items()}


@dataclass(frozen=True, slots=True)
class Checked:
    """A document, its model and every diagnostic about it."""

    doc: Document
    capability: Capability | None  # None when the document could not be read as a capability at all


def check_documents(docs: list[Document], *, together: bool = False) -> tuple[list[Checked], list[Diagnostic]]:
    """Structure, model and rules for each document, then the rules that span what is served together.

    A clash inside one document is an error. A clash between documents is an error ``together``
    (as ``serve`` checks them) and a warning otherwise, since they may never share a server."""
    from naftiko_runtime.rules import check_rules, check_together
    from naftiko_runtime.validate.structure import check_structure

    checked: list[Checked] = []
    for doc in docs:
        if doc.version is None:
            checked.append(Checked(doc, None))
            continue
        shape = check_structure(doc)
        doc.diagnostics.extend(shape)
        capability = build(doc, value_errors(shape))
        doc.diagnostics.extend(check_rules(doc, capability))
        checked.append(Checked(doc, capability))
    served = [(c.doc, c.capability) for c in checked if c.capability is not None and c.doc.kind == "capability"]
    own = [d for pair in served for d in check_together([pair])]
    across = check_together(served) if len(served) > 1 else own
    if not together:
        # Clashes between files matter only if they are served together: warn (errors with --strict).
        mine = set(own)
        across = own + [replace(d, severity=Severity.WARNING) for d in across if d not in mine]
    return checked, [d for doc in docs for d in doc.diagnostics] + across


def validate_paths(paths: Iterable[str | Path], *, env: Mapping[str, str] | None = None, strict_env: bool = False,
                   together: bool = False) -> tuple[list[Checked], list[Diagnostic]]:
    docs, problems = load_paths(paths, env=env, strict_env=strict_env)
    checked, diagnostics = check_documents(docs, together=together)
    return checked, sorted(set(problems + diagnostics), key=_order)


def _order(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.location.file, d.location.line, d.location.col, d.code)


def has_errors(diagnostics: Iterable[Diagnostic], *, strict: bool = False) -> bool:
    limit = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return any(d.severity in limit for d in diagnostics)
