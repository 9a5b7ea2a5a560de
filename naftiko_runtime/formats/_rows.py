"""Table rows as objects keyed by the header, shared by csv/tsv/psv, html and markdown tables."""

from __future__ import annotations


def column_names(headers: list[str]) -> list[str]:
    """Header texts as keys; an empty header becomes ``columnN`` (1-based)."""
    return [text or f"column{index}" for index, text in enumerate(headers, start=1)]


def row_object(keys: list[str], cells: list[str]) -> dict[str, str]:
    """Pair cells with keys: missing cells are "", extra cells dropped, first duplicate key wins."""
    row: dict[str, str] = {}
    for index, key in enumerate(keys):
        row.setdefault(key, cells[index] if index < len(cells) else "")
    return row
