"""R, Stata and SPSS scripts, generated from the codebook, that load the export's CSV files
with variable labels and value labels (integer-coded variables become labelled factors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reports.exports.codebook import Variable

Files = Mapping[str, Sequence[Variable]]
HEADER = "Generated with the export; loads the CSV files in this folder with their labels."


def _coded(variable: Variable) -> bool:
    return variable.type == "integer" and bool(variable.codes) and all(
        isinstance(code, int) for code, _ in variable.codes)


def _r_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def r_script(files: Files) -> str:
    """load.R: base R only; coded integers become factors, labels go in the 'label' attribute."""
    lines = [f"# {HEADER}", "# Usage: setwd() to this folder, then source(\"load.R\").", ""]
    for file, variables in files.items():
        frame = file.removesuffix(".csv")
        lines.append(f'{frame} <- read.csv("{file}", na.strings = "", stringsAsFactors = FALSE, '
                     'fileEncoding = "UTF-8-BOM", check.names = FALSE)')
        for v in variables:
            column = f'{frame}[["{v.name}"]]'
            if _coded(v):
                levels = ", ".join(str(code) for code, _ in v.codes)
                labels = ", ".join(_r_text(label) for _, label in v.codes)
                lines.append(f"{column} <- factor({column}, levels = c({levels}), labels = c({labels}))")
            lines.append(f'attr({column}, "label") <- {_r_text(v.label)}')
        lines.append("")
    return "\n".join(lines)


def _stata_text(text: str, limit: int = 80) -> str:
    clean = text.replace('"', "'").replace("`", "'").replace("\n", " ")
    return f'"{clean[:limit]}"'


def stata_script(files: Files) -> str:
    """load.do: imports each CSV, labels variables and values, saves a .dta beside it."""
    lines = [f"* {HEADER}", "* Usage: cd to this folder, then: do load.do", "version 14", ""]
    label_number = 0
    for file, variables in files.items():
        frame = file.removesuffix(".csv")
        lines.append(f'import delimited using "{file}", clear varnames(1) encoding("utf-8") '
                     "bindquote(strict)")
        for v in variables:
            lines.append(f"capture label variable {v.name} {_stata_text(v.label)}")
            if _coded(v):
                label_number += 1
                name = f"lbl{label_number}"
                pairs = " ".join(f"{code} {_stata_text(label, 240)}" for code, label in v.codes)
                lines.append(f"label define {name} {pairs}, replace")
                lines.append(f"capture label values {v.name} {name}")
        lines.append(f'save "{frame}.dta", replace')
        lines.append("")
    return "\n".join(lines)


def _spss_text(text: str, limit: int = 120) -> str:
    return "'" + text.replace("'", "''").replace("\n", " ")[:limit] + "'"


def _spss_format(variable: Variable) -> str:
    if variable.type == "integer":
        return "F8.0"
    if variable.type == "number":
        return "F12.4"
    if variable.type == "datetime":
        return "A20"
    return "A1000" if variable.name.endswith(("_other", "text", "prior_treatments")) else "A200"


def spss_script(files: Files) -> str:
    """load.sps: reads each CSV into a named dataset with variable and value labels."""
    lines = [f"* {HEADER}", "* Usage: open in SPSS with this folder as the working directory; Run All.",
             "* Encoding: UTF-8.", ""]
    for file, variables in files.items():
        frame = file.removesuffix(".csv")
        lines += ["GET DATA /TYPE=TXT", f"  /FILE='{file}'", "  /ENCODING='UTF8'",
                  "  /DELIMITERS=','", "  /QUALIFIER='\"'", "  /ARRANGEMENT=DELIMITED",
                  "  /FIRSTCASE=2", "  /VARIABLES="]
        lines += [f"    {v.name} {_spss_format(v)}" for v in variables]
        lines[-1] += "."
        lines.append(f"DATASET NAME {frame}.")
        lines.append("VARIABLE LABELS")
        lines += [f"  {v.name} {_spss_text(v.label)}" for v in variables]
        lines[-1] += "."
        coded = [v for v in variables if _coded(v)]
        if coded:
            lines.append("VALUE LABELS")
            for index, v in enumerate(coded):
                lines.append(f"  {'/' if index else ''}{v.name}")
                lines += [f"    {code} {_spss_text(label)}" for code, label in v.codes]
            lines[-1] += "."
        lines += ["EXECUTE.", ""]
    return "\n".join(lines)
