"""What every test module shares: where the shared corpus is, and how a test that needs it skips.

The corpus (``../shared/corpus`` beside the repository) is reference input that is not part of the
project: a test that reads it asks for the ``corpus`` fixture (or calls ``corpus_path``), and is
skipped, always with ``CORPUS_MISSING``, when the folder is absent. Modules that need a corpus path
while they are collected (parametrization) import ``CORPUS`` and ``needs_corpus`` from here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_MISSING = "../shared/corpus is not present"

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=CORPUS_MISSING)


def corpus_path(*parts: str) -> Path:
    """A path inside the shared corpus; skips the calling test when the corpus is absent."""
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_MISSING)
    return CORPUS.joinpath(*parts)


@pytest.fixture
def corpus() -> Path:
    """The shared corpus folder (the test is skipped when it is absent)."""
    return corpus_path()
