"""csv, tsv and psv: the header row gives the keys, every value stays a string."""

from __future__ import annotations

import csv
import io
from typing import Any

from naftiko_runtime.formats._rows import column_names, row_object
from naftiko_runtime.formats._text import Converter, decode, fail


def delimited(fmt: str, delimiter: str) -> Converter:
    """The converter for format ``fmt``, whose cells are separated by ``delimiter``."""

    def convert_delimited(body: bytes, _schema: str | None, content_type: str | None) -> Any:
        text = decode(body, fmt, content_type)
        # strict: an unbalanced quote is an error, not a cell that swallows the rest of the file
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            rows = [row for row in reader if _filled(row)]
        except csv.Error as exc:
            raise fail(fmt, f"{exc} (line {reader.line_num})") from None
        if not rows:
            return []
        keys = column_names([cell.strip() for cell in rows[0]])
        return [row_object(keys, row) for row in rows[1:]]

    return convert_delimited


def _filled(row: list[str]) -> bool:
    """False for a blank line (no cells, or a single whitespace-only cell)."""
    return bool(row) and not (len(row) == 1 and not row[0].strip())


convert_csv = delimited("csv", ",")
convert_tsv = delimited("tsv", "\t")
convert_psv = delimited("psv", "|")
