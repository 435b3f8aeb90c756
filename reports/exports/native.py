"""Native statistical files: SPSS .sav and Stata .dta, written with pyreadstat from the export's rows.

Each file holds one table of the export (`file_variables`) with the codebook's variable labels
and value labels. Integers and numbers are numeric columns (missing: system missing in SPSS,
`.` in Stata); every other column is a string of its full length (SPSS long strings, Stata
str# up to 2,045 bytes and strL beyond), so no answer is cut. Stata names are at most 32
characters (`stata_names`): a shortened name keeps the full one at the start of its label.

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


def write_sav(frame: pd.DataFrame, variables: list[Variable], path: Path, title: str) -> None:
    """A .sav (SPSS, PSPP) with variable and value labels; strings at full length."""
    import pyreadstat

    names = [v.name for v in variables]
    pyreadstat.write_sav(
        frame, str(path), file_label=title[:64], column_labels={v.name: v.label for v in variables},
        variable_value_labels=_value_labels(variables, names),
        variable_measure={v.name: ("nominal" if v.type not in ("integer", "number") or coded(v) else "scale")
                          for v in variables},
        variable_format={v.name: "F8.0" for v in variables if v.type == "integer"},
    )


def write_dta(frame: pd.DataFrame, variables: list[Variable], path: Path, title: str) -> None:
    """A .dta (Stata 15 format, 118) with names of at most 32 characters, variable and value labels."""
    import pyreadstat

    names = stata_names([v.name for v in variables])
    labels = {}
    for v, name in zip(variables, names, strict=True):
        label = v.label if name == v.name else f"{v.name}: {v.label}"
        labels[name] = label[:STATA_LABEL_LIMIT]
    renamed = frame.set_axis(names, axis=1)
    pyreadstat.write_dta(renamed, str(path), file_label=title[:80], column_labels=labels, version=15,
                         variable_value_labels={k: {c: t[:32000] for c, t in v.items()}
                                                for k, v in _value_labels(variables, names).items()})


def native_file(fmt: str, name: str, session: Session, ctx: ExportContext,
                count: RowCount) -> Iterator[bytes]:
    """One table as .sav or .dta bytes (written to a temporary file, then streamed and removed)."""
    variables = file_variables(ctx)[name]
    frame = table_frame(name, session, ctx, count)
    title = f"{ctx.study.code} {name.removesuffix('.csv')}"
    handle, raw = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(handle)
    path = Path(raw)
    try:
        (write_sav if fmt == "sav" else write_dta)(frame, variables, path, title)
        del frame
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
