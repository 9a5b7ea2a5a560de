"""The model builds and the rules run even when the shape is wrong: never a crash, whatever the data holds."""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from naftiko_runtime.load import load_file
from naftiko_runtime.model import build
from naftiko_runtime.rules import check_rules, check_together

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLES = [p for p in sorted(FIXTURES.glob("valid/*.yaml")) + sorted(FIXTURES.glob("invalid/*/capability.yaml"))
           if load_file(p, env={}).data]  # files that fail to load have no data to mutate
JUNK: tuple[Any, ...] = (None, 0, -1, True, 2.5, "", "x", "a.b", "{{x}}", "$.[", [], {}, [None], [1, "a"],
                         {"a": 1}, {"name": 1}, ["{{y}}"], {"type": "call", "call": 3})


def _pointers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _pointers(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _pointers(value, (*path, i))


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> None:
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name if p.name == "capability.yaml" else p.name)
def test_rules_never_crash_on_values_of_the_wrong_type(path: Path) -> None:
    doc = load_file(path, env={})
    original = doc.data
    pointers = list(_pointers(original))
    rnd = random.Random(path.name)  # deterministic per file
    for _ in range(60):
        data = copy.deepcopy(original)
        for pointer in rnd.sample(pointers, k=min(len(pointers), rnd.randint(1, 4))):
            with contextlib.suppress(KeyError, IndexError, TypeError):  # an earlier change removed it
                _replace(data, pointer, copy.deepcopy(rnd.choice(JUNK)))
        doc.data = data
        capability = build(doc)
        check_rules(doc, capability)
        check_together([(doc, capability), (doc, capability)])


def test_rules_accept_documents_whose_sections_are_not_mappings() -> None:
    doc = load_file(FIXTURES / "valid" / "mock-tool.yaml", env={})
    for broken in ({"capability": []}, {"capability": {"exposes": {"a": 1}}}, {"consumes": "x"}, {}):
        doc.data = broken
        capability = build(doc)
        assert check_rules(doc, capability) == []
        assert check_together([(doc, capability)]) == []
