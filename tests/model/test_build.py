"""The model builder (model/build.py): it never raises, whatever the document holds, and what it
builds is usable downstream (every schema a unit carries is a valid JSON Schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, corpus_path
from jsonschema import Draft202012Validator

from naftiko_runtime.load import load_file
from naftiko_runtime.model import Capability, Tool, build, plain
from naftiko_runtime.validate import check_documents

FIXTURES = ROOT / "tests" / "fixtures"
INVALID = sorted(FIXTURES.glob("invalid/*/capability.yaml"))
VALID = sorted(FIXTURES.glob("valid/*.yaml"))
SHIPPED = sorted([*ROOT.glob("capabilities/*.yaml"), *ROOT.glob("examples/**/*.yaml")])
# Every YAML file of the shared corpus, realworld/ included (None when the corpus is absent: that test skips).
CORPUS_FILES: list[str | None] = sorted(
    str(p.relative_to(CORPUS)) for p in [*CORPUS.rglob("*.yaml"), *CORPUS.rglob("*.yml")]
) if CORPUS.is_dir() else [None]


_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)
_CHECKED: set[str] = set()


def check_schema(schema: object) -> None:
    """``schema`` is a valid 2020-12 JSON Schema (each distinct schema is checked once)."""
    text = json.dumps(plain(schema), sort_keys=True)
    if text not in _CHECKED:
        _META.validate(json.loads(text))
        _CHECKED.add(text)


def usable(capability: Capability) -> None:
    """Walk everything downstream code reads; every schema must be one a validator can compile."""
    units = list(capability.units())
    assert len({id(u) for u in units}) == len(units)
    for unit in units:
        check_schema(unit.input_schema)
        if unit.invocation is not None:
            unit.invocation.resolved()
            list(unit.invocation.calls())
        if isinstance(unit, Tool) and unit.output_schema is not None:
            check_schema(unit.output_schema)
    for exposure in capability.exposures:
        assert exposure.namespace is not None
    for consumer in capability.consumers.values():
        for op in consumer.operations.values():
            op.feeds()
    assert capability.bind_names is not None


def built(path: Path) -> None:
    """``path`` built twice: bare (no structure check) and through the validator, as serve does."""
    doc = load_file(path, env={})
    usable(build(doc))
    checked, _ = check_documents([load_file(path, env={})], together=True)
    for item in checked:
        if item.capability is not None:
            usable(item.capability)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.parent.name)
def test_the_model_builds_from_every_invalid_fixture(path: Path) -> None:
    built(path)


@pytest.mark.parametrize("path", [*VALID, *SHIPPED], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_model_builds_from_every_valid_fixture_and_shipped_capability(path: Path) -> None:
    built(path)


@pytest.mark.parametrize("relative", CORPUS_FILES, ids=str)
def test_the_model_builds_from_every_yaml_file_of_the_corpus(relative: str | None) -> None:
    built(corpus_path(relative or ""))


def test_the_corpus_walk_includes_the_realworld_files(corpus: Path) -> None:
    realworld = [name for name in CORPUS_FILES if name and name.startswith("realworld/")]
    assert len(realworld) >= 60
