"""The data files of an export by name: their rows as values, and as CSV chunks.

`file_variables` (codebook) names the files and their columns; here each name gets its row
generator, so every format (CSV, the data package, .sav, .dta, .xlsx) writes the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from reports.exports import answer_history, clinical_tables, tables
from reports.exports.codebook import ExportContext, file_variables
from reports.exports.csv_cells import csv_chunks, dialect_of, line_chunks
from reports.exports.tables import RowCount

Rows = Callable[[Session, ExportContext, RowCount], Iterator[list[Any]]]
GENERATORS: dict[str, Rows] = {
    "patients.csv": clinical_tables.patients_rows,
    "long.csv": tables.long_rows,
    "wide.csv": tables.wide_rows,
    "scores.csv": tables.scores_rows,
    "answer_history.csv": answer_history.answer_history_rows,
    "sessions.csv": clinical_tables.sessions_rows,
    "prior_treatments.csv": clinical_tables.prior_treatments_rows,
    "alerts.csv": clinical_tables.alerts_rows,
    "clinician_stages.csv": clinical_tables.clinician_stages_rows,
}


def table_rows(name: str, session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """The rows of one data file (a name of `file_variables`), plain values in its columns' order.

    Values are str, int, float or None (missing); dates and timestamps are ISO 8601 text.
    `count.rows` grows as rows are yielded. KeyError for an unknown file name.
    """
    return GENERATORS[name](session, ctx, count)


def csv_file(name: str, session: Session, ctx: ExportContext, count: RowCount) -> Iterator[bytes]:
    """One data file as UTF-8 CSV chunks in the export's dialect; `count` receives its rows as they stream."""
    header = [v.name for v in file_variables(ctx)[name]]
    dialect = dialect_of(ctx.options.excel, ctx.options.excel_locale)
    if name == "long.csv":
        return line_chunks(header, tables.long_lines(session, ctx, count), dialect=dialect)
    return csv_chunks(header, table_rows(name, session, ctx, count), dialect=dialect)
