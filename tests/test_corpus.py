"""The official corpus through the whole validator (load, structure, rules), file by file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS, needs_corpus

from naftiko_runtime.errors import Severity
from naftiko_runtime.validate import validate_paths

CAPABILITIES = CORPUS / "naftiko" / "capabilities"
pytestmark = needs_corpus

ACCEPTED = [f"{n:02d}" for n in [*range(1, 16), 17, 22]]


def corpus_file(prefix: str) -> Path:
    return next(CAPABILITIES.glob(f"{prefix}-*"))


def errors(prefix: str) -> list[tuple[str, int]]:
    _, diagnostics = validate_paths([corpus_file(prefix)])
    return [(d.code, d.location.line) for d in diagnostics if d.severity is Severity.ERROR]


@pytest.mark.parametrize("prefix", ACCEPTED)
def test_files_their_schema_accepts_validate_without_errors(prefix: str) -> None:
    assert errors(prefix) == []


def test_a_control_adapter_under_alpha1_is_a_warning_at_its_type_line() -> None:
    _, diagnostics = validate_paths([corpus_file("16")])
    assert errors("16") == []  # the runtime serves it
    assert ("feature-not-in-version", 24) in [(d.code, d.location.line) for d in diagnostics]


def test_the_generated_teams_sandbox_is_rejected_at_its_offending_lines() -> None:
    _, diagnostics = validate_paths([corpus_file("18")])
    unknown = {d.location.line for d in diagnostics if d.code == "unknown-field"}
    assert unknown == {71}  # skill `groups` (a REST `description` is our extension)
    assert ("schema-required", 66) in [(d.code, d.location.line) for d in diagnostics if d.severity is Severity.ERROR]


def test_the_legacy_0_4_file_is_unsupported_and_shows_what_to_change() -> None:
    found = errors("19")
    assert ("unsupported-version", 2) in found
    assert ("schema-enum", 18) in found  # `type: "api"`


def test_the_ikanos_files_validate() -> None:
    _, diagnostics = validate_paths([corpus_file("20")])
    assert errors("20") == []
    # the e2e file's Keycloak is on localhost over http, which works and is said once
    assert {(d.code, d.location.line) for d in diagnostics} >= {("oauth2-https-authserver", 58)}
    _, diagnostics = validate_paths([corpus_file("21")])
    # its registry file (step 7) is not in the corpus: the one defect, a warning at the `from` line
    assert [(d.code, d.location.line) for d in diagnostics] == [("import-not-found", 20)]
