"""R, Stata and SPSS scripts, generated from the codebook, that load the export's files with
variable labels and value labels, every column with its declared type (codes, ids and versions
stay text), and that stop when a file does not hold the rows the export wrote.

- load.R reads the CSV files (base R), UTF-8 whatever the session's locale;
- load.do reads the CSV files by position into names valid in Stata (at most 32 characters,
  `stata_names`), the full name kept as the variable's label;
- load.sps opens the .sav files of the package (they carry labels, missing values and
  full-length strings: SPSS's and PSPP's own CSV reader splits a case at a line break inside a
  quoted answer, so it is not used).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from reports.exports.codebook import Variable

Files = Mapping[str, Sequence[Variable]]
RowCounts = Mapping[str, int]
HEADER = "Generated with the export; loads the files in this folder with their labels."
STATA_NAME_LIMIT = 32
R_CLASSES = {"integer": "integer", "number": "numeric"}  # everything else is read as text


def coded(variable: Variable) -> bool:
    """True for an integer variable whose every value has a label (a factor in R, labelled in SPSS/Stata)."""
    return variable.type == "integer" and bool(variable.codes) and all(
        isinstance(code, int) for code, _ in variable.codes)


def stata_names(names: Sequence[str]) -> list[str]:
    """Names valid in Stata, in order: at most 32 characters of [A-Za-z0-9_], unique.

    A longer name keeps its first 27 characters and gets '_' + 4 hex digits of its SHA-1, so the
    same column gets the same name in every export (e.g. satisfaction_would_recommend_score ->
    satisfaction_would_recommen_4f1c).
    """
    out: list[str] = []
    for name in names:
        clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not re.match(r"[A-Za-z_]", clean):
            clean = "v" + clean
        if len(clean) > STATA_NAME_LIMIT or clean in out:
            clean = f"{clean[:27]}_{hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:4]}"
        out.append(clean)
    return out


def _r_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def r_script(files: Files, rows: RowCounts) -> str:
    """load.R: base R; typed columns, UTF-8 in any locale, row counts checked; coded integers as factors."""
    lines = [
        f"# {HEADER}",
        "# Usage: setwd() to this folder, then source(\"load.R\").",
        "# Every column is read with its declared type (codes, ids and versions as text), in UTF-8",
        "# whatever the session's locale; a file that does not hold the rows the export wrote stops.",
        "",
        "read_export <- function(file, rows, classes) {",
        "  frame <- utils::read.csv(file, na.strings = \"\", colClasses = classes, encoding = \"UTF-8\",",
        "                           check.names = FALSE, stringsAsFactors = FALSE, quote = \"\\\"\",",
        "                           comment.char = \"\", strip.white = FALSE)",
        "  if (nrow(frame) != rows) {",
        "    stop(sprintf(\"%s: read %d rows, the export wrote %d\", file, nrow(frame), rows),",
        "         call. = FALSE)",
        "  }",
        "  frame",
        "}",
        "",
    ]
    for file, variables in files.items():
        frame = file.removesuffix(".csv")
        classes = ", ".join(f'{_r_text(v.name)} = "{R_CLASSES.get(v.type, "character")}"' for v in variables)
        lines.append(f'{frame} <- read_export("{file}", {int(rows.get(file, 0))}L, c({classes}))')
        for v in variables:
            column = f'{frame}[["{v.name}"]]'
            if coded(v):
                levels = ", ".join(str(code) for code, _ in v.codes)
                labels = ", ".join(_r_text(label) for _, label in v.codes)
                lines.append(f"{column} <- factor({column}, levels = c({levels}), labels = c({labels}))")
            lines.append(f'attr({column}, "label") <- {_r_text(v.label)}')
        lines.append("")
    return "\n".join(lines)


def _stata_text(text: str, limit: int = 80) -> str:
    clean = text.replace('"', "'").replace("`", "'").replace("\n", " ")
    return f'"{clean[:limit]}"'


def stata_script(files: Files, rows: RowCounts) -> str:
    """load.do: imports each CSV by position (text as strings), names, labels, checks rows, saves .dta.

    Columns are read as v1, v2, ... (`varnames(nonames)`) and renamed to `stata_names`, so no
    name is left to Stata's own shortening; text columns are forced to strings (`stringcols`),
    so codes like 001 keep their zeros. No `capture`: any failure stops the script.
    """
    lines = [f"* {HEADER}", "* Usage: cd to this folder, then: do load.do", "version 16", ""]
    label_number = 0
    for file, variables in files.items():
        frame = file.removesuffix(".csv")
        names = stata_names([v.name for v in variables])
        strings = " ".join(str(i) for i, v in enumerate(variables, 1) if v.type not in R_CLASSES)
        numbers = " ".join(str(i) for i, v in enumerate(variables, 1) if v.type in R_CLASSES)
        options = ["clear", "varnames(nonames)", "rowrange(2)", 'encoding("utf-8")', "bindquote(strict)",
                   "maxquotedrows(unlimited)", "delimiters(\",\")"]
        if strings:
            options.append(f"stringcols({strings})")
        if numbers:
            options.append(f"numericcols({numbers})")
        lines.append(f'import delimited using "{file}", {" ".join(options)}')
        lines.append(f"assert _N == {int(rows.get(file, 0))}")
        lines.append("rename (" + " ".join(f"v{i}" for i in range(1, len(variables) + 1)) + ") ("
                     + " ".join(names) + ")")
        for v, name in zip(variables, names, strict=True):
            label = v.label if name == v.name else f"{v.name}: {v.label}"
            lines.append(f"label variable {name} {_stata_text(label)}")
            if coded(v):
                label_number += 1
                value_label = f"lbl{label_number}"
                pairs = " ".join(f"{code} {_stata_text(text, 240)}" for code, text in v.codes)
                lines.append(f"label define {value_label} {pairs}, replace")
                lines.append(f"label values {name} {value_label}")
        lines.append(f'save "{frame}.dta", replace')
        lines.append("")
    return "\n".join(lines)


def spss_script(files: Files, rows: RowCounts) -> str:
    """load.sps: opens each .sav of the package as a named dataset and checks its number of cases."""
    lines = [f"* {HEADER}",
             "* Usage: open in SPSS or PSPP with this folder as the working directory; Run All.",
             "* The .sav files carry variable and value labels, missing values and full-length strings.", ""]
    # GET replaces the active dataset, named or not: each file is copied into a dataset of its
    # own name (DATASET COPY), so all of them stay open side by side.
    for file in files:
        frame = file.removesuffix(".csv")
        lines += [f"GET FILE='{frame}.sav'.", f"DATASET COPY {frame}.",
                  f"* {frame}.sav holds {int(rows.get(file, 0))} cases: SHOW N must say so.", "SHOW N.", ""]
    lines.append(f"DATASET ACTIVATE {next(iter(files)).removesuffix('.csv')}.")
    return "\n".join(lines)
