"""Running one export: pick the generator, name the file, and audit it when the stream ends.

Why the audit event is written at the end, in its own transaction: the row count is only
known then; and the read must stay read-only while it streams. `surveys.domain.audit.record` takes
an advisory lock on PostgreSQL (and any write takes SQLite's single write lock) until its
transaction ends: recorded at the start inside a read that lasts minutes, it would stall every
other audited action (logins, enrollments, patients submitting) for that long. So the stream
ends its read transaction first (it wrote nothing), then appends the event in a short
transaction and commits. A download cut short (client gone, database error) is recorded
too, with `completed: false` and the rows sent so far.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from instruments import Instrument, versions_of
from reports.exports.codebook import ExportContext, codebook_csv, codebook_json, file_variables
from reports.exports.datapackage import package_chunks
from reports.exports.deidentify import KeyedPseudonyms, Pseudonyms
from reports.exports.fhir import bundle_chunks, ndjson_chunks
from reports.exports.files import csv_file
from reports.exports.native import native_file
from reports.exports.options import NATIVE_FORMATS, TABLES, ExportOptions, OptionError, study_instruments
from reports.exports.spreadsheet import xlsx_file
from reports.exports.tables import RowCount
from surveys.domain.audit import record_after_reads
from surveys.domain.models import Study
from surveys.infra.db import utcnow

log = logging.getLogger(__name__)
# Media types without parameters: the response adds "; charset=utf-8" to a text/* type itself
# (naming it here too sent "text/csv; charset=utf-8; charset=utf-8").
MIMETYPES = {"csv": "text/csv", "json": "application/json", "zip": "application/zip",
             "fhir": "application/fhir+json", "sav": "application/x-spss-sav",
             "dta": "application/x-stata-dta",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
EXTENSIONS = {"fhir": "fhir.json"}


@dataclass
class ExportDownload:
    """A named, typed stream of bytes, audited when it ends."""

    filename: str
    mimetype: str
    chunks: Iterator[bytes]


def export_context(study: Study, options: ExportOptions, library: Mapping[str, Instrument],
                   pseudonym_key: str | None = None) -> ExportContext:
    """The instruments an export covers (the study's, narrowed by the instrument filter) and its pseudonyms.

    `pseudonym_key` is the server's EXPORT_PSEUDONYM_KEY: needed when the options ask for
    `stable_ids` (OptionError otherwise, or when it is shorter than 32 characters).
    """
    instruments = [i for i in study_instruments(study, library)
                   if not options.instruments or i.id in options.instruments]
    if options.stable_ids:
        if not pseudonym_key or len(pseudonym_key) < 32:
            raise OptionError("Stable pseudonyms need EXPORT_PSEUDONYM_KEY (32 characters or more) set on "
                              "the server; ask the administrator, or export without stable_ids.")
        pseudonyms: Callable[[int], str] = KeyedPseudonyms(pseudonym_key, study.code)
    else:
        pseudonyms = Pseudonyms()
    return ExportContext(study=study, options=options, instruments=tuple(instruments),
                         versions={i.id: versions_of(library, i.id) for i in instruments},
                         pseudonyms=pseudonyms)


Counted = tuple[str, Iterator[bytes], Callable[[], dict[str, Any]]]


def _counted(session: Session, ctx: ExportContext) -> Counted:
    """The kind of file, its chunks, and how to read the row counts once they are streamed."""
    fmt, opts = ctx.options.format, ctx.options
    if fmt in TABLES:
        count = RowCount()
        return "csv", csv_file(f"{fmt}.csv", session, ctx, count), lambda: {"rows": count.rows}
    if fmt == "codebook":
        chunks = codebook_json(ctx) if opts.as_json else codebook_csv(ctx)
        variables = sum(len(v) for v in file_variables(ctx).values())
        return ("json" if opts.as_json else "csv"), chunks, lambda: {"rows": variables}
    if fmt == "xlsx":
        count = RowCount()
        return fmt, xlsx_file(f"{opts.table}.csv", session, ctx, count), lambda: {"rows": count.rows}
    if fmt == "fhir-ndjson":
        count = RowCount()
        return "zip", ndjson_chunks(session, ctx, count), lambda: {"rows": count.rows}
    if fmt in ("sav", "dta"):
        count = RowCount()
        return fmt, native_file(fmt, f"{opts.table}.csv", session, ctx, count), lambda: {"rows": count.rows}
    if fmt == "fhir":
        count = RowCount()
        return "fhir", bundle_chunks(session, ctx, count), lambda: {"rows": count.rows}
    counts: dict[str, RowCount] = {}
    chunks = package_chunks(session, ctx, counts)
    return "zip", chunks, lambda: {"rows": sum(c.rows for c in counts.values()),
                                   "files": {name: c.rows for name, c in counts.items()}}


def open_export(
    session: Session, study: Study, options: ExportOptions, library: Mapping[str, Instrument],
    *, actor: str, via: str, extra: Mapping[str, Any] | None = None, pseudonym_key: str | None = None,
) -> ExportDownload:
    """Prepare an export; nothing is read until the chunks are iterated.

    Raises OptionError when the options cannot be served (stable ids without a server key, a
    de-identified table of free text).
    """
    if pseudonym_key is None and has_app_context():
        pseudonym_key = current_app.config.get("EXPORT_PSEUDONYM_KEY")
    ctx = export_context(study, options, library, pseudonym_key)
    table = options.table if options.format in NATIVE_FORMATS else options.format
    if table in TABLES and f"{table}.csv" not in file_variables(ctx):
        raise OptionError(f"The table '{table}' is not part of this kind of export.")
    kind, chunks, counted = _counted(session, ctx)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    suffix = "-deidentified" if options.deidentified else ""
    extension = EXTENSIONS.get(kind, kind)
    what = f"{options.format}-{options.table}" if options.format in NATIVE_FORMATS else options.format
    filename = f"{study.code}-{what}{suffix}-{stamp}.{extension}"
    details = {"via": via, **options.audit_details(), **(extra or {}), "file": filename}
    audited = _audited(session, chunks, actor=actor, study_id=study.id, details=details, counted=counted)
    return ExportDownload(filename, MIMETYPES[kind], audited)


def _audited(session: Session, chunks: Iterator[bytes], *, actor: str, study_id: int,
             details: dict[str, Any], counted: Callable[[], dict[str, Any]]) -> Iterator[bytes]:
    completed = False
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            yield chunk
        completed = True
    finally:
        _record(session, actor, study_id, {**details, **counted(), "bytes": size, "completed": completed})


def _record(session: Session, actor: str, study_id: int, details: dict[str, Any]) -> None:
    try:
        session.commit()  # end the read transaction (it wrote nothing), whatever the export's own fate
    except SQLAlchemyError:
        session.rollback()
    try:
        record_after_reads(session, actor, "export", entity="study", entity_id=study_id, study_id=study_id,
                           details=details)
        session.commit()
    except SQLAlchemyError:  # never hide the export's own error behind the audit's
        session.rollback()
        log.exception("could not record the audit event of an export: %s", details)
        raise
