"""What every rule reads: the model, a way to report located diagnostics, and who calls what."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from naftiko_runtime.codes import diagnostic
from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.load import Document
from naftiko_runtime.model import Call, Capability, Function, Invocation, Unit

_KINDS = {"tool": "tool", "route": "operation", "resource": "resource", "function": "function",
          "prompt": "prompt", "forward": "forward"}


def closest(value: str, choices: Iterable[str], template: str = "did you mean `{}`?") -> str | None:
    match = difflib.get_close_matches(value, sorted(set(choices)), n=1, cutoff=0.6)
    return template.format(match[0]) if match else None


def describe(unit: Unit) -> str:
    """How messages name a unit: ``tool `x```, ``operation `GET /x```, ``function `ns.f```."""
    name = unit.ref if isinstance(unit, Function) else unit.label
    return f"{_KINDS.get(unit.kind, unit.kind)} `{name}`"


def input_names(unit: Unit) -> frozenset[str]:
    return frozenset(i.name for i in unit.inputs)


@dataclass(slots=True)
class CallSite:
    """One ``call: ns.op`` and what its caller has in scope."""

    unit: Unit
    call: Call
    prior: tuple[str, ...] = ()  # earlier steps' names
    outer: frozenset[str] = frozenset()  # the unit's own `with` keys, visible to its steps

    def supplied(self) -> set[str]:
        return {e.key for e in self.call.with_} | set(input_names(self.unit)) | set(self.prior) | set(self.outer)


def call_sites(unit: Unit) -> list[CallSite]:
    inv = unit.invocation
    if inv is None:
        return []
    sites = [CallSite(unit, inv.call)] if inv.call is not None else []
    outer = frozenset(e.key for e in inv.with_)
    prior: list[str] = []
    for step in inv.steps:
        if step.call is not None and step.kind == "call":
            sites.append(CallSite(unit, step.call, tuple(prior), outer))
        prior.append(step.name)
    return sites


class Context:
    def __init__(self, doc: Document, capability: Capability) -> None:
        self.doc = doc
        self.cap = capability
        self.out: list[Diagnostic] = []
        self.units = list(capability.invocable())
        self.callers: dict[str, list[CallSite]] = {}  # consumed operation ref -> call sites resolving to it

    def report(self, code: str, message: str, pointer: str, *, hint: str | None = None, key: bool = False,
               related: Iterable[str] = (), severity: Severity | None = None) -> None:
        location = self.doc.locate(pointer, key=key)
        places = tuple(self.doc.locate(p, key=key) for p in related)
        found = diagnostic(code, message, location, hint=hint, severity=severity)
        self.out.append(dataclasses.replace(found, related=places) if places else found)

    def skip(self, target: str) -> bool:
        """References into an import that could not be loaded are not checked (already warned)."""
        return target.split(".", 1)[0] in self.cap.unresolved_imports


def invocation(unit: Unit) -> Invocation:
    assert unit.invocation is not None
    return unit.invocation
