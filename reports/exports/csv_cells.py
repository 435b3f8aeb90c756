"""CSV output that keeps the data, streamed in byte chunks; spreadsheet CSVs also defuse formulas.

Two kinds of CSV (a `Dialect` each):
- the analysis CSV (R, Stata, SPSS, pandas; the data package): UTF-8 without a BOM, ',' between
  cells, '.' decimals, and every text exactly as given;
- the spreadsheet CSV (`excel`): a BOM, the separators of the spreadsheet's locale (a decimal
  comma and ';' between cells for French and German, so numbers stay numbers there), and a text
  cell or header that a spreadsheet would run as a formula gets a leading `'`.

Two writers give the same bytes for the same cells: `csv_chunks` takes rows of values and uses
the `csv` module; `line_chunks` takes rows already written as lines, for the one file big
enough for the difference to matter (long.csv, one line per answer: see `reports.exports.tables`).
Their cells follow one rule, checked against each other in the tests: text quoted (quotes
doubled), numbers bare, a missing value an empty cell.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

# OWASP's list: a spreadsheet treats a cell starting with one of these as a formula (tab and CR
# too, because some programs strip them and then see the next character), and their full-width
# look-alikes (U+FF1D, U+FF0B, U+FF0D, U+FF20), which spreadsheets in East Asian locales fold to
# the ASCII signs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
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


@dataclass(frozen=True)
class Dialect:
    """How a CSV is written: cell separator, decimal mark, byte-order mark, formula defusing."""

    delimiter: str = ","
    decimal: str = "."
    bom: bool = False
    spreadsheet: bool = False  # defuse formula starts in text cells and headers


ANALYSIS = Dialect()
DECIMAL_COMMA_LOCALES = ("fr", "de")


def dialect_of(excel: bool, locale: str = "") -> Dialect:
    """The analysis CSV, or a spreadsheet CSV for a locale (en: ',' and '.'; fr, de: ';' and ',')."""
    if not excel:
        return ANALYSIS
    if locale in DECIMAL_COMMA_LOCALES:
        return Dialect(delimiter=";", decimal=",", bom=True, spreadsheet=True)
    return Dialect(delimiter=",", decimal=".", bom=True, spreadsheet=True)


def neutralise(value: Any) -> Any:
    """A text cell that could start a formula gets a `'` prefix; numbers and other text stay as they are.

    Only for files meant for spreadsheets (the Excel CSV, .xlsx): analysis files keep text as given.
    """
    if isinstance(value, str) and starts_formula(value):
        return "'" + value
    return value


def text_cell(value: str, spreadsheet: bool = False) -> str:
    """A text cell as `csv_chunks` writes it: quoted, quotes doubled; formulas defused for spreadsheets."""
    if spreadsheet:
        value = neutralise(value)
    return '"' + value.replace('"', '""') + '"'


class TextCells(dict[str, str]):
    """`text_cell` of values that come back again and again (ids, labels, patient codes), made once each."""

    def __init__(self, spreadsheet: bool = False) -> None:
        super().__init__()
        self.spreadsheet = spreadsheet

    def __missing__(self, value: str) -> str:
        cell = self[value] = text_cell(value, self.spreadsheet)
        return cell


class _CommaDecimal(float):
    """A float the `csv` module writes bare (a number) with a decimal comma."""

    __slots__ = ()

    def __str__(self) -> str:
        return repr(float(self)).replace(".", ",")


def line_chunks(
    header: Sequence[str], batches: Iterable[list[str]], *, dialect: Dialect = ANALYSIS
) -> Iterator[bytes]:
    """UTF-8 CSV of rows already written as lines (text cells made by `text_cell`), a chunk per batch."""
    prefix = UTF8_BOM if dialect.bom else ""
    yield (prefix + dialect.delimiter.join(text_cell(name, dialect.spreadsheet) for name in header)
           + "\r\n").encode("utf-8")
    for lines in batches:
        if lines:
            lines.append("")
            yield "\r\n".join(lines).encode("utf-8")


def _spreadsheet_cell(value: Any, comma: bool) -> Any:
    if value is None:
        return EMPTY
    if comma and type(value) is float:
        return _CommaDecimal(value)
    return neutralise(value)


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, dialect: Dialect = ANALYSIS
) -> Iterator[bytes]:
    """UTF-8 CSV in chunks of FLUSH_EVERY rows, written in `dialect` (the analysis CSV by default).

    Row generators give plain values (str, int, float, None); `None` is written as an empty cell.
    Every cell passes through here, so no generator can forget to defuse a formula in a
    spreadsheet CSV. (Finding formula starts with a regular expression over the written text
    instead misreads a quoted cell that ends in the separator or a line break at the end of a row.)
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n",
                        quoting=csv.QUOTE_NONNUMERIC)
    spreadsheet, comma = dialect.spreadsheet, dialect.decimal == ","
    writer.writerow([neutralise(name) if spreadsheet else name for name in header])
    prefix = UTF8_BOM if dialect.bom else ""
    rows = iter(rows)
    while True:
        # QUOTE_NONNUMERIC would write None as "" (a text cell): EMPTY is written as a bare empty cell.
        batch = islice(rows, FLUSH_EVERY)
        if spreadsheet:
            writer.writerows([_spreadsheet_cell(v, comma) for v in row] for row in batch)
        else:
            writer.writerows([EMPTY if v is None else v for v in row] for row in batch)
        text = buffer.getvalue()
        if not text:
            return
        buffer.seek(0)
        buffer.truncate()
        yield (prefix + text).encode("utf-8")
        prefix = ""
