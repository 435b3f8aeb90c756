"""CSV output that keeps the data and defuses spreadsheet formulas, streamed in byte chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# OWASP's list: a spreadsheet treats a cell starting with one of these as a formula (tab and CR
# too, because some programs strip them and then see the next character).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = "\ufeff"
FLUSH_EVERY = 1000  # rows per chunk handed to the web server


def neutralise(value: Any) -> Any:
    """A text cell that could start a formula gets a `'` prefix; numbers and other text stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_row(row: Sequence[Any]) -> list[Any]:
    """`neutralise` applied to every cell of a row."""
    return [neutralise(v) if type(v) is str else v for v in row]


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, excel: bool = False
) -> Iterator[bytes]:
    """UTF-8 CSV in chunks of about FLUSH_EVERY rows; `excel` adds a BOM and uses `;` as separator.

    Row generators give plain values (str, int, float, None); `None` is written as an empty cell.
    Every text cell and header is neutralised here, once, so no generator can forget it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write(UTF8_BOM)
    writer.writerow(neutralise_row(header))
    starts = FORMULA_STARTS
    pending = 0
    for row in rows:
        # The common case (no risky text) stays on the fast path: one scan, no new list.
        for value in row:
            if type(value) is str and value.startswith(starts):
                row = neutralise_row(row)
                break
        writer.writerow(row)
        pending += 1
        if pending >= FLUSH_EVERY:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    tail = buffer.getvalue()
    if tail:
        yield tail.encode("utf-8")
