"""Every semantic-rule diagnostic carries a hint: its own, or the code registry's default."""

from __future__ import annotations

from pathlib import Path

import pytest

from naftiko_runtime.codes import CODES
from naftiko_runtime.load import load_file
from naftiko_runtime.model import build
from naftiko_runtime.rules import check_rules, check_together

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLES = sorted([*FIXTURES.glob("valid/*.yaml"), *FIXTURES.glob("invalid/*/capability.yaml")])


def test_the_registry_gives_every_code_a_summary_and_a_hint() -> None:
    assert all(entry.summary.strip() and entry.hint.strip() for entry in CODES.values())


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name if p.name == "capability.yaml" else p.name)
def test_rule_diagnostics_always_carry_a_hint_of_a_registered_code(path: Path) -> None:
    doc = load_file(path, env={})
    capability = build(doc)
    for diagnostic in [*check_rules(doc, capability), *check_together([(doc, capability)])]:
        assert diagnostic.code in CODES, diagnostic
        assert diagnostic.hint and diagnostic.hint.strip(), diagnostic


def test_a_diagnostic_without_its_own_hint_gets_the_registry_default() -> None:
    doc = load_file(FIXTURES / "invalid" / "unbound-credential" / "capability.yaml", env={})
    diagnostic = doc.diag("unbound-credential", "message", "/capability")
    assert diagnostic.hint == CODES["unbound-credential"].hint
    assert doc.diag("unbound-credential", "message", "/capability", hint="own").hint == "own"
