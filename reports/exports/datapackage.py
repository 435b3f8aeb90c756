"""A Frictionless Data Package of the exports as one zip, written as it streams.

The zip holds long.csv, wide.csv and scores.csv (always codes, comma-separated UTF-8 without a
BOM: value labels come with the syntax files), datapackage.json with a Table Schema per CSV,
the codebook (CSV and JSON) and load.R, load.do and load.sps. Everything is generated here
from the codebook; `frictionless` is used only by the tests, never at run time.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from reports.exports.analysis_syntax import r_script, spss_script, stata_script
from reports.exports.codebook import ExportContext, Variable, codebook_csv, codebook_json, file_variables
from reports.exports.tables import CSV_FILES, RowCount, csv_file
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


def descriptor(ctx: ExportContext) -> dict[str, Any]:
    """datapackage.json: one tabular resource with its Table Schema per CSV file."""
    resources = []
    for file, variables in file_variables(ctx).items():
        resources.append({
            "name": file.removesuffix(".csv"), "path": file, "profile": "tabular-data-resource",
            "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "schema": {"fields": [_field(v) for v in variables], "missingValues": [""]},
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


class _Sink:
    """A write-only file for zipfile that hands the bytes written so far to the stream."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to do: the bytes wait in memory until `drain`."""

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def package_chunks(session: Session, ctx: ExportContext, counts: dict[str, RowCount]) -> Iterator[bytes]:
    """The zip in chunks; `counts` receives the rows written per CSV file."""
    ctx = replace(ctx, options=replace(ctx.options, values="codes", excel=False))
    files = file_variables(ctx)
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for name in CSV_FILES:
            counts[name] = RowCount()
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in csv_file(name, session, ctx, counts[name]):
                    member.write(chunk)
                    yield sink.drain()
        archive.writestr("datapackage.json", json.dumps(descriptor(ctx), ensure_ascii=False, indent=2))
        archive.writestr("codebook.csv", b"".join(codebook_csv(ctx)))
        archive.writestr("codebook.json", b"".join(codebook_json(ctx)))
        archive.writestr("load.R", r_script(files))
        archive.writestr("load.do", stata_script(files))
        archive.writestr("load.sps", spss_script(files))
    yield sink.drain()
