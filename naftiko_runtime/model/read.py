"""Defensive reading of a document's data for the model builder.

The builder runs on every document, valid or not. ``Reader`` gives typed access that treats a
value as absent when it has the wrong type or when structure already reported it as broken (a
value error at that pointer), so building never raises and never guesses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from naftiko_runtime.source import join


class Reader:
    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        self.broken = broken

    def ok(self, pointer: str) -> bool:
        return pointer not in self.broken

    def mapping(self, value: Any, pointer: str) -> dict[str, Any] | None:
        return value if isinstance(value, dict) and self.ok(pointer) else None

    def child(self, node: dict[str, Any], key: str, pointer: str) -> tuple[Any, str]:
        """The value of ``key`` (None when absent or broken) and its pointer."""
        child = join(pointer, key)
        return (node.get(key) if self.ok(child) else None), child

    def entries(self, node: dict[str, Any] | None, key: str, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(pointer, mapping) for each mapping in the list ``node[key]``; anything else is skipped."""
        if node is None:
            return
        items, base = self.child(node, key, pointer)
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            ptr = join(base, i)
            if isinstance(item, dict) and self.ok(ptr):
                yield ptr, item

    def text(self, node: dict[str, Any] | None, key: str, pointer: str) -> str | None:
        if node is None:
            return None
        value, _ = self.child(node, key, pointer)
        return value if isinstance(value, str) else None

    def flag(self, node: dict[str, Any] | None, key: str, pointer: str, default: bool = False) -> bool:
        if node is None:
            return default
        value, _ = self.child(node, key, pointer)
        return value if isinstance(value, bool) else default

    def integer(self, node: dict[str, Any] | None, key: str, pointer: str) -> int | None:
        """An integer, also from its decimal text (`port: "8080"`, a rendered load-time template)."""
        if node is None:
            return None
        value, _ = self.child(node, key, pointer)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
            return int(value)
        return None

    def number(self, node: dict[str, Any] | None, key: str, pointer: str) -> float | None:
        if node is None:
            return None
        value, _ = self.child(node, key, pointer)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def texts(self, node: dict[str, Any] | None, key: str, pointer: str) -> tuple[str, ...]:
        if node is None:
            return ()
        value, _ = self.child(node, key, pointer)
        return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
