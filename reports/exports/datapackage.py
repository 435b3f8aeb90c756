"""A Frictionless Data Package of the exports as one zip, written as it streams.

The zip holds the data files of `file_variables` (patients, long, wide, scores, answer history,
sessions, prior treatments when identified, alerts: always codes, analysis CSV: comma-separated
UTF-8 without a BOM, text exactly as given; value labels come with the syntax files),
datapackage.json with a Table Schema per CSV (primary keys, foreign keys to patients.csv, and
answer history's to its responses in scores.csv), the codebook (CSV and
JSON) and load.R, load.do and load.sps, which check the row counts written here. Everything is
generated from the codebook; `frictionless` is used only by the tests, never at run time.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from reports.exports.analysis_syntax import r_script, spss_script, stata_script
from reports.exports.codebook import (
    FOREIGN_KEYS,
    PRIMARY_KEYS,
    ExportContext,
    Variable,
    codebook_csv,
    codebook_json,
    file_variables,
)
from reports.exports.files import csv_file
from reports.exports.native import native_file
from reports.exports.tables import RowCount
from reports.exports.zipsink import ZipSink
from surveys.infra.db import utcnow


def _field(variable: Variable) -> dict[str, Any]:
    field: dict[str, Any] = {"name": variable.name, "type": variable.type, "title": variable.label}
    if variable.notes:
        field["description"] = variable.notes
    wanted = int if variable.type == "integer" else str if variable.type == "string" else None
    codes = [code for code, _ in variable.codes]
    if variable.exhaustive and codes and wanted and all(type(code) is wanted for code in codes):
        field["constraints"] = {"enum": codes}
    if variable.type == "datetime":
        field["format"] = "%Y-%m-%dT%H:%M:%SZ"
    return field


def _schema(file: str, variables: list[Variable]) -> dict[str, Any]:
    schema: dict[str, Any] = {"fields": [_field(v) for v in variables], "missingValues": [""],
                              "primaryKey": list(PRIMARY_KEYS[file])}
    if file != "patients.csv":
        schema["foreignKeys"] = [{"fields": ["patient"],
                                  "reference": {"resource": "patients", "fields": ["patient"]}}]
        for fields, other in FOREIGN_KEYS.get(file, ()):
            schema["foreignKeys"].append({"fields": list(fields), "reference": {
                "resource": other.removesuffix(".csv"), "fields": list(fields)}})
    return schema


def descriptor(ctx: ExportContext) -> dict[str, Any]:
    """datapackage.json: one tabular resource with its Table Schema per CSV file."""
    resources = []
    for file, variables in file_variables(ctx).items():
        resources.append({
            "name": file.removesuffix(".csv"), "path": file, "profile": "tabular-data-resource",
            "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "schema": _schema(file, variables),
        })
    return {
        "profile": "tabular-data-package",
        "name": f"{ctx.study.code.lower().replace('_', '-')}-export",
        "title": f"{ctx.study.name} ({ctx.study.code}): questionnaire export",
        "created": utcnow().isoformat(timespec="seconds"),
        "description": ("De-identified export" if ctx.deidentified
                        else "Identified export (pseudonymous patient codes)"),
        "resources": resources,
    }


def package_chunks(session: Session, ctx: ExportContext, counts: dict[str, RowCount]) -> Iterator[bytes]:
    """The zip in chunks; `counts` receives the rows written per CSV file."""
    ctx = replace(ctx, options=replace(ctx.options, values="codes", excel=False))
    files = file_variables(ctx)
    sink = ZipSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for name in files:
            counts[name] = RowCount()
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in csv_file(name, session, ctx, counts[name]):
                    member.write(chunk)
                    yield sink.drain()
        for name in files:  # the same rows again, as native files (each table held while written)
            for fmt in ("sav", "dta"):
                with archive.open(f"{name.removesuffix('.csv')}.{fmt}", "w", force_zip64=True) as member:
                    for chunk in native_file(fmt, name, session, ctx, RowCount()):
                        member.write(chunk)
                        yield sink.drain()
        archive.writestr("datapackage.json", json.dumps(descriptor(ctx), ensure_ascii=False, indent=2))
        archive.writestr("codebook.csv", b"".join(codebook_csv(ctx)))
        archive.writestr("codebook.json", b"".join(codebook_json(ctx)))
        rows = {name: counts[name].rows for name in files}
        archive.writestr("load.R", r_script(files, rows))
        archive.writestr("load.do", stata_script(files, rows))
        archive.writestr("load.sps", spss_script(files, rows))
    yield sink.drain()
