"""CSV output that keeps the data and defuses spreadsheet formulas, streamed in byte chunks.

Two writers give the same bytes for the same cells: `csv_chunks` takes rows of values and uses
the `csv` module; `line_chunks` takes rows already written as lines, for the one file big
enough for the difference to matter (long.csv, one line per answer: see `reports.exports.tables`).
Their cells follow one rule, checked against each other in the tests: text quoted (quotes
doubled, a formula start prefixed with `'`), numbers bare, a missing value an empty cell.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

# OWASP's list: a spreadsheet treats a cell starting with one of these as a formula (tab and CR
# too, because some programs strip them and then see the next character).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = "\ufeff"
FLUSH_EVERY = 2000  # rows per chunk handed to the web server


class _Empty:
    """A missing value: `csv` sees a number (so leaves it unquoted) whose text is empty."""

    __slots__ = ()

    def __float__(self) -> float:
        return float("nan")

    def __str__(self) -> str:
        return ""


EMPTY = _Empty()


def starts_formula(text: str) -> bool:
    """True when a spreadsheet could read the text as a formula: it starts with a formula character,
    or with a Unicode look-alike of one (full-width `＝ ＋ － ＠`, small forms `﹦ ﹢ ﹣ ﹫`, which
    some spreadsheets fold to ASCII), possibly after spaces (NFKC folds them all)."""
    if text.startswith(FORMULA_STARTS):
        return True
    first = text[:1]
    if not first or (first.isascii() and first != " "):
        return False  # the common case, decided without normalising
    return unicodedata.normalize("NFKC", text[:16]).lstrip().startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    """A text cell that could start a formula gets a `'` prefix; numbers and other text stay as they are."""
    if isinstance(value, str) and starts_formula(value):
        return "'" + value
    return value


def text_cell(value: str) -> str:
    """A text cell as `csv_chunks` writes it: quoted, quotes doubled, a formula start defused."""
    return '"' + neutralise(value).replace('"', '""') + '"'


class TextCells(dict[str, str]):
    """`text_cell` of values that come back again and again (ids, labels, patient codes), made once each."""

    def __missing__(self, value: str) -> str:
        cell = self[value] = text_cell(value)
        return cell


def delimiter_of(excel: bool) -> str:
    """The cell separator: `;` for spreadsheets set to a European locale (the Excel option), else `,`."""
    return ";" if excel else ","


def line_chunks(
    header: Sequence[str], batches: Iterable[list[str]], *, excel: bool = False
) -> Iterator[bytes]:
    """UTF-8 CSV of rows already written as lines (text cells made by `text_cell`), a chunk per batch."""
    prefix = UTF8_BOM if excel else ""
    yield (prefix + delimiter_of(excel).join(text_cell(name) for name in header) + "\r\n").encode("utf-8")
    for lines in batches:
        if lines:
            lines.append("")
            yield "\r\n".join(lines).encode("utf-8")


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, excel: bool = False
) -> Iterator[bytes]:
    """UTF-8 CSV in chunks of FLUSH_EVERY rows; `excel` adds a BOM and uses `;` as separator.

    Row generators give plain values (str, int, float, None); `None` is written as an empty cell.
    Every cell passes through here, so no generator can forget to defuse a formula. (Finding
    formula starts with a regular expression over the written text instead misreads a quoted
    cell that ends in the separator or a line break at the end of a row.)
    """
    delimiter = delimiter_of(excel)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([neutralise(name) for name in header])
    prefix = UTF8_BOM if excel else ""
    rows = iter(rows)
    while True:
        # QUOTE_NONNUMERIC would write None as "" (a text cell): EMPTY is written as a bare empty cell.
        batch = islice(rows, FLUSH_EVERY)
        writer.writerows([EMPTY if v is None else neutralise(v) for v in row] for row in batch)
        text = buffer.getvalue()
        if not text:
            return
        buffer.seek(0)
        buffer.truncate()
        yield (prefix + text).encode("utf-8")
        prefix = ""
