"""Golden fixtures: each folder under fixtures/invalid/ is named after one diagnostic code.

Its ``capability.yaml`` triggers that code, and ``expected.txt`` lists every diagnostic the file
produces as ``FILE:LINE:COL: CODE`` (file basename only), so a fixture also guards against noise.
A meta-test keeps the set of folders in step with every code the runtime can emit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from naftiko_runtime.errors import Diagnostic, Severity
from naftiko_runtime.validate import all_codes, validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = FIXTURES / "invalid"
VALID = FIXTURES / "valid"

# Codes no single capability.yaml can trigger, with the test that covers them instead.
NOT_FROM_ONE_FILE = {
    "file-not-found": "test_a_missing_path_is_reported_as_file_not_found",
    "file-too-large": "test_a_file_over_the_size_limit_is_refused_unread",
    "import-not-followed": "test_text_loaded_without_following_imports_reads_no_other_file",  # load_text only
}
# Codes the registry (codes.py) declares but nothing in the package emits yet. Each needs a fixture
# once it is emitted; `test_codes_not_emitted_yet_are_not_emitted` flags an entry that went stale.
NOT_EMITTED_YET: frozenset[str] = frozenset()
PACKAGE = Path(__file__).resolve().parents[1] / "naftiko_runtime"


def _lines(diagnostics: list[Diagnostic]) -> list[str]:
    return sorted(f"{Path(d.location.file).name}:{d.location.line}:{d.location.col}: {d.code}"
                  for d in diagnostics)


def _expected(folder: Path) -> list[str]:
    text = (folder / "expected.txt").read_text(encoding="utf-8")
    return sorted(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _folders() -> list[Path]:
    return sorted(p for p in INVALID.iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_fixture_produces_exactly_its_expected_diagnostics(folder: Path) -> None:
    _, diagnostics = validate_paths([folder / "capability.yaml"], env={})
    assert _lines(diagnostics) == _expected(folder)


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_fixture_expects_the_code_it_is_named_after(folder: Path) -> None:
    assert any(line.endswith(f": {folder.name}") for line in _expected(folder))


def test_every_diagnostic_code_has_a_golden_fixture() -> None:
    missing = set(all_codes()) - {p.name for p in _folders()} - set(NOT_FROM_ONE_FILE) - NOT_EMITTED_YET
    assert not missing, f"add tests/fixtures/invalid/<code>/ for: {sorted(missing)}"


def test_codes_not_emitted_yet_are_not_emitted() -> None:
    """A registered code that nothing emits cannot have a fixture; once something emits it, it must get one."""
    assert set(all_codes()) >= NOT_EMITTED_YET
    sources = [p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py") if p.name != "codes.py"]
    emitted = {code for code in NOT_EMITTED_YET if any(f'"{code}"' in text for text in sources)}
    assert not emitted, f"now emitted: add tests/fixtures/invalid/<code>/ and drop from NOT_EMITTED_YET: {emitted}"


def test_every_fixture_folder_names_a_known_code() -> None:
    unknown = {p.name for p in _folders()} - set(all_codes())
    assert not unknown


def test_a_missing_path_is_reported_as_file_not_found(tmp_path: Path) -> None:
    _, diagnostics = validate_paths([tmp_path / "nowhere.yaml"], env={})
    assert [d.code for d in diagnostics] == ["file-not-found"]
    assert diagnostics[0].severity is Severity.ERROR


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAFTIKO_MAX_SPEC_BYTES", "1000")
    path = tmp_path / "big.yaml"
    path.write_text('naftiko: "1.0.0-alpha2"\n# ' + "x" * 2000 + "\n", encoding="utf-8")
    _, diagnostics = validate_paths([path], env={})
    assert [(d.code, d.location.line) for d in diagnostics] == [("file-too-large", 1)]


@pytest.mark.parametrize("path", sorted(VALID.glob("*.yaml")), ids=lambda p: p.name)
def test_valid_fixture_has_no_diagnostics(path: Path) -> None:
    _, diagnostics = validate_paths([path], env={})
    assert [str(d) for d in diagnostics] == []


def test_valid_fixtures_exist() -> None:
    assert len(list(VALID.glob("*.yaml"))) >= 4


def test_published_live_streams_capability_has_no_diagnostics(corpus: Path) -> None:
    path = corpus / "hms" / "capabilities" / "live-streams.yaml"
    _, diagnostics = validate_paths([path], env={})
    assert [str(d) for d in diagnostics] == []
