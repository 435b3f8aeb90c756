"""The .xlsx export: one table of the export in a workbook, written row by row in constant memory.

XlsxWriter's `constant_memory` mode writes each row to a temporary file as soon as the next
one starts, so memory does not grow with the table (bench/export.py measures it). Numbers are
numeric cells, `date` columns are dates and `datetime` columns date-times (UTC, as the header
says), everything else text cells; text that a spreadsheet would run as a formula (`= + - @`,
tab, CR and their full-width look-alikes) gets a leading `'`, as in the Excel CSV.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import xlsxwriter
from sqlalchemy.orm import Session

from reports.exports.codebook import ExportContext, file_variables
from reports.exports.csv_cells import neutralise
from reports.exports.files import table_rows
from reports.exports.tables import RowCount

CHUNK = 1 << 20
EXCEL_ROWS = 1_048_576  # rows in a worksheet, the header included


class TooManyRows(ValueError):
    """The table does not fit in one worksheet."""


def xlsx_file(name: str, session: Session, ctx: ExportContext, count: RowCount) -> Iterator[bytes]:
    """One table as an .xlsx workbook in byte chunks (one sheet, the header row frozen).

    Raises TooManyRows when the table has more rows than a worksheet holds (the CSV has no limit).
    """
    variables = file_variables(ctx)[name]
    handle, raw = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    path = Path(raw)
    try:
        workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                                   "strings_to_formulas": False, "strings_to_urls": False})
        sheet = workbook.add_worksheet(name.removesuffix(".csv")[:31])
        bold = workbook.add_format({"bold": True})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for col, v in enumerate(variables):
            sheet.write_string(0, col, neutralise(v.name), bold)
        sheet.freeze_panes(1, 0)
        kinds = [v.type for v in variables]
        r = 0
        for r, row in enumerate(table_rows(name, session, ctx, count), start=1):
            if r >= EXCEL_ROWS:
                raise TooManyRows(f"{name} has more rows than a worksheet holds ({EXCEL_ROWS - 1:,}); "
                                  "use the CSV or a filter.")
            for col, value in enumerate(row):
                if value is None:
                    continue
                kind = kinds[col]
                if kind in ("integer", "number") and isinstance(value, int | float):
                    sheet.write_number(r, col, value)
                elif kind == "date" and isinstance(value, str):
                    sheet.write_datetime(r, col, date.fromisoformat(value), day)
                elif kind == "datetime" and isinstance(value, str):
                    sheet.write_datetime(r, col, datetime.fromisoformat(value.removesuffix("Z")), stamp)
                else:
                    sheet.write_string(r, col, neutralise(str(value)))
        if r:
            sheet.autofilter(0, 0, r, len(variables) - 1)
        workbook.close()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
