"""Native statistical files: SPSS .sav and Stata .dta, written with pyreadstat from the export's rows.

Each file holds one table of the export (`file_variables`) with the codebook's variable labels
and value labels. Integers and numbers are numeric columns (missing: system missing in SPSS,
`.` in Stata); every other column is a string of its full length (SPSS long strings, Stata
str# up to 2,045 bytes and strL beyond), so no answer is cut. Stata names are at most 32
characters (`stata_names`): a shortened name keeps the full one at the start of its label.

Declared missing value: in wide.sav / wide.dta an item that was not asked because its condition
(show_if) did not hold for that response is NOT_ASKED (-98, declared user-missing in SPSS) or
Stata's extended missing `.a`, labelled "not asked"; an item of an answered instrument left
empty otherwise is system missing / `.` (not answered, or not part of that timepoint's section).

pyreadstat writes from a pandas DataFrame, so one table is held in memory while it is written
(the CSV formats stream instead; see docs/EXPORTS.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from reports.exports.analysis_syntax import coded, stata_names
from reports.exports.codebook import ExportContext, Variable, file_variables
from reports.exports.files import table_rows
from reports.exports.tables import RowCount

if TYPE_CHECKING:
    import pandas as pd

CHUNK = 1 << 20
STATA_LABEL_LIMIT = 80
NOT_ASKED = -98.0
NOT_ASKED_LABEL = "not asked (its condition did not hold)"


def conditional_items(ctx: ExportContext) -> dict[str, tuple[str, Any]]:
    """wide.csv columns of items asked only under a condition -> (instrument id, show_if)."""
    return {f"{inst.id}_{item.id}": (inst.id, item.show_if) for inst in ctx.instruments
            for item in inst.items if item.show_if is not None and not item.is_text}


def mark_not_asked(frame: pd.DataFrame, ctx: ExportContext) -> list[str]:
    """Set NOT_ASKED where an answered instrument's conditional item was hidden; the columns touched.

    Each answered row's answers are read once per instrument, and each condition evaluated on
    them; the cells found are set column by column. (Reading the answers again for every
    conditional column, cell by cell, took minutes for 1,000 patients: bench/export.py.)
    """
    from instruments.conditions import Facts, holds

    if ctx.options.values != "codes":
        return []
    conditions = conditional_items(ctx)
    touched = []
    for inst in ctx.instruments:
        status = f"{inst.id}_status"
        columns = [c for c, (inst_id, _) in conditions.items() if inst_id == inst.id and c in frame]
        if not columns or status not in frame:
            continue
        touched += columns
        prefix = f"{inst.id}_"
        items = [name for name in (f"{prefix}{item.id}" for item in inst.items if not item.is_text)
                 if name in frame]
        position = {name: n for n, name in enumerate(items)}
        answered = frame.index[frame[status] != ""]
        hidden: dict[str, list[Any]] = {c: [] for c in columns}
        for row, values in zip(answered, frame.loc[answered, items].to_numpy(), strict=True):
            facts = Facts(answers={name.removeprefix(prefix): int(v)
                                   for name, v in zip(items, values, strict=True) if v == v})  # not NaN
            for column in columns:
                value = values[position[column]]
                if value != value and not holds(conditions[column][1], facts):
                    hidden[column].append(row)
        for column, rows in hidden.items():
            if rows:
                frame.loc[rows, column] = NOT_ASKED
    return touched


def table_frame(name: str, session: Session, ctx: ExportContext, count: RowCount) -> pd.DataFrame:
    """One table of the export as a DataFrame: numeric columns float64 (NaN missing), text as object."""
    import pandas as pd  # loaded on the first native export only: the CSV path stays light

    variables = file_variables(ctx)[name]
    frame = pd.DataFrame.from_records(list(table_rows(name, session, ctx, count)),
                                      columns=[v.name for v in variables])
    for v in variables:
        if v.type in ("integer", "number"):
            frame[v.name] = pd.to_numeric(frame[v.name], errors="raise").astype("float64")
        else:
            frame[v.name] = frame[v.name].astype(object).where(frame[v.name].notna(), "")
    return frame


def _value_labels(variables: list[Variable], names: list[str]) -> dict[str, dict[Any, str]]:
    return {name: {float(code): label for code, label in v.codes}
            for v, name in zip(variables, names, strict=True) if coded(v)}


def write_sav(frame: pd.DataFrame, variables: list[Variable], path: Path, title: str,
              not_asked: list[str] | None = None) -> None:
    """A .sav (SPSS, PSPP) with variable and value labels; strings at full length; NOT_ASKED user-missing."""
    import pyreadstat

    names = [v.name for v in variables]
    labels = _value_labels(variables, names)
    for column in not_asked or ():
        labels.setdefault(column, {})[NOT_ASKED] = NOT_ASKED_LABEL
    pyreadstat.write_sav(
        frame, str(path), file_label=title[:64], column_labels={v.name: v.label for v in variables},
        variable_value_labels=labels, missing_ranges={c: [NOT_ASKED] for c in not_asked or ()},
        variable_measure={v.name: ("nominal" if v.type not in ("integer", "number") or coded(v) else "scale")
                          for v in variables},
        variable_format={v.name: "F8.0" for v in variables if v.type == "integer"},
    )


def write_dta(frame: pd.DataFrame, variables: list[Variable], path: Path, title: str,
              not_asked: list[str] | None = None) -> None:
    """A .dta (Stata 15 format, 118): names of at most 32 characters, labels, NOT_ASKED as `.a`."""
    import pyreadstat

    names = stata_names([v.name for v in variables])
    labels = {}
    for v, name in zip(variables, names, strict=True):
        label = v.label if name == v.name else f"{v.name}: {v.label}"
        labels[name] = label[:STATA_LABEL_LIMIT]
    renamed = frame.set_axis(names, axis=1)
    value_labels: dict[str, dict[Any, str]] = _value_labels(variables, names)
    stata_of = dict(zip([v.name for v in variables], names, strict=True))
    extended = [stata_of[c] for c in not_asked or ()]
    for column in extended:  # Stata's extended missing .a: the value 'a' in the column
        # As a categorical column: an object column is typed by its first 100 values (narwhals,
        # under pyreadstat 1.3), so one whose first 100 rows are all 'a' or empty was taken for
        # text and failed on its first number (every real cohort: red flags are rare).
        renamed[column] = (renamed[column].astype(object).where(renamed[column] != NOT_ASKED, "a")
                           .astype("category"))
        value_labels.setdefault(column, {})["a"] = NOT_ASKED_LABEL
    pyreadstat.write_dta(renamed, str(path), file_label=title[:80], column_labels=labels, version=15,
                         variable_value_labels=value_labels,
                         missing_user_values={c: ["a"] for c in extended} or None)


def native_file(fmt: str, name: str, session: Session, ctx: ExportContext,
                count: RowCount) -> Iterator[bytes]:
    """One table as .sav or .dta bytes (written to a temporary file, then streamed and removed)."""
    variables = file_variables(ctx)[name]
    frame = table_frame(name, session, ctx, count)
    not_asked = mark_not_asked(frame, ctx) if name == "wide.csv" else []
    title = f"{ctx.study.code} {name.removesuffix('.csv')}"
    handle, raw = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(handle)
    path = Path(raw)
    try:
        (write_sav if fmt == "sav" else write_dta)(frame, variables, path, title, not_asked)
        del frame
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
