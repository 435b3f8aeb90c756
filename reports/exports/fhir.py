"""The responses of a study as one FHIR R4 Bundle (type collection), streamed as JSON text.

The Bundle starts with the Questionnaire of every instrument it covers, then holds one
QuestionnaireResponse per submitted response; each response's `questionnaire` is the
canonical URL and version of its instrument (`urn:instrument:<id>|<version>`), so it resolves
to a Questionnaire inside the same Bundle. The subject is a logical reference by identifier
(patient code, or the export's random id when de-identified: then `authored` is left out and
the days since the first session are given in an extension, and free text is dropped). Every
response carries its mode of administration and its scoring status (complete, prorated,
incomplete: the same status as scores.csv and long.csv) as coded extensions, and the version of the
study protocol it was started under as a string extension.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from itertools import chain, groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import AnswerError
from instruments.fhir import questionnaire, questionnaire_response
from reports.exports.codebook import ExportContext
from reports.exports.deidentify import days_between
from reports.exports.tables import (
    BATCH,
    LocalDays,
    RowCount,
    patient_facts,
    patient_labeller,
    raw_column,
    response_filter,
    utc_text,
)
from reports.exports.zipsink import ZipSink
from surveys.domain.models import Answer, Response
from surveys.infra.db import utcnow

DAYS_EXTENSION = "urn:hair-prom:fhir:days-since-first-session"
#: The mode of administration of each response (how it was collected), as a coded extension.
MODE_EXTENSION = "urn:hair-prom:fhir:mode-of-administration"
MODE_SYSTEM = "urn:hair-prom:mode-of-administration"
MODE_DISPLAY = {
    "own_device": "Own device (personal link)",
    "tablet_in_clinic": "Clinic tablet",
    "staff_interview": "Staff interview",
    "paper_entry": "Paper, transcribed by staff",
}
#: The scoring status of each response (complete, prorated, incomplete), as a coded extension: a
#: prorated score was computed from the answered items by the instrument's missing-item rule.
SCORING_STATUS_EXTENSION = "urn:hair-prom:fhir:scoring-status"
SCORING_STATUS_SYSTEM = "urn:hair-prom:scoring-status"
SCORING_STATUS_DISPLAY = {
    "complete": "Complete: every item needed was answered",
    "prorated": "Prorated: scored from the answered items (missing-item rule)",
    "incomplete": "Incomplete: too many missing items, no score",
}
#: The version of the study protocol each response was started under (a protocol amendment never moves
#: answers already given), as a string extension.
PROTOCOL_VERSION_EXTENSION = "urn:hair-prom:fhir:protocol-version"
FLUSH_EVERY = 200  # resources per chunk


def _entry(resource: dict[str, Any]) -> str:
    return json.dumps({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": resource},
                      ensure_ascii=False, separators=(",", ":"))


def _resources(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[dict[str, Any]]:
    """The Questionnaire of every instrument, then one QuestionnaireResponse per submitted response."""
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    local_day = LocalDays(ctx.study.timezone)
    system = f"urn:hair-prom:study:{ctx.study.code}:" + ("export-id" if ctx.deidentified else "patient")
    library = {(inst.id, inst.version): inst for inst in ctx.all_versions()}
    for inst in ctx.all_versions():
        lang = ctx.options.lang if ctx.options.lang in inst.languages else inst.languages[0]
        yield questionnaire(inst, lang)
    stmt = response_filter(
        select(Response.id, Response.patient_id, Response.instrument_id, Response.language,
               raw_column(Response.submitted_at), Response.instrument_version, Response.mode,
               Response.score_status, Response.protocol_version, Answer.item_id, Answer.code, Answer.text)
        .outerjoin(Answer, Answer.response_id == Response.id),
        ctx,
    ).order_by(Response.patient_id, Response.submitted_at, Response.id)
    rows = chain.from_iterable(
        session.connection().execute(stmt.execution_options(yield_per=BATCH)).partitions())
    for rid, group in groupby(rows, key=lambda r: r[0]):
        first = next(group)
        _, pid, inst_id, lang, submitted, version, mode, status, protocol = first[:9]
        # answered in a version the library no longer keeps: described with the current one
        inst = library.get((inst_id, version)) or next(i for i in ctx.instruments if i.id == inst_id)
        answers = {item: (text if code is None else code)
                   for *_, item, code, text in (first, *group) if item is not None}
        if ctx.deidentified:
            answers = {k: v for k, v in answers.items() if not inst.has_item(k) or not inst.item(k).is_text}
        try:
            resource = questionnaire_response(
                inst, answers, lang=lang if lang in inst.languages else inst.languages[0],
                authored=utc_text(submitted) or "", response_id=f"r{rid}" if not ctx.deidentified else None,
            )
        except AnswerError:
            # Stored under another version of the definition: keep the response, without items.
            resource = questionnaire_response(inst, {}, lang=inst.languages[0],
                                              authored=utc_text(submitted) or "")
        resource["subject"] = {"identifier": {"system": system, "value": patient(pid)}}
        resource["extension"] = [{"url": MODE_EXTENSION, "valueCoding": {
            "system": MODE_SYSTEM, "code": mode, "display": MODE_DISPLAY.get(mode, mode)}}]
        resource["extension"].append({"url": PROTOCOL_VERSION_EXTENSION, "valueString": protocol})
        if status is not None:
            resource["extension"].append({"url": SCORING_STATUS_EXTENSION, "valueCoding": {
                "system": SCORING_STATUS_SYSTEM, "code": status,
                "display": SCORING_STATUS_DISPLAY.get(status, status)}})
        if ctx.deidentified:
            resource.pop("authored", None)
            resource.pop("id", None)
            days = days_between(facts[pid].first_session, local_day(submitted))
            if days is not None:
                resource["extension"].append({"url": DAYS_EXTENSION, "valueInteger": days})
        count.rows += 1
        yield resource


def bundle_chunks(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[bytes]:
    """The Bundle JSON in chunks; `count.rows` is the number of QuestionnaireResponses."""
    head = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection",
            "timestamp": utcnow().isoformat(timespec="seconds")}
    parts = [json.dumps(head, separators=(",", ":"))[:-1] + ',"entry":[']
    separator = ""
    for resource in _resources(session, ctx, count):
        parts.append(separator + _entry(resource))
        separator = ","
        if len(parts) >= FLUSH_EVERY:
            yield "".join(parts).encode("utf-8")
            parts = []
    parts.append("]}")
    yield "".join(parts).encode("utf-8")


def ndjson_chunks(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[bytes]:
    """FHIR Bulk Data layout: a zip of `<resourceType>.ndjson` files, one resource per line (UTF-8).

    Questionnaire.ndjson holds the instruments, QuestionnaireResponse.ndjson the responses, whose
    `questionnaire` points to them (`urn:instrument:<id>|<version>`). `count.rows` is the number
    of QuestionnaireResponses. Streamed: each file is written as its resources come.
    """
    sink = ZipSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        member, current, lines = None, None, []
        for resource in _resources(session, ctx, count):
            kind = resource["resourceType"]
            if kind != current:
                if member is not None:
                    member.write("".join(lines).encode("utf-8"))
                    member.close()
                member, current, lines = archive.open(f"{kind}.ndjson", "w", force_zip64=True), kind, []
            lines.append(json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n")
            if len(lines) >= FLUSH_EVERY:
                member.write("".join(lines).encode("utf-8"))
                lines = []
                yield sink.drain()
        if member is not None:
            member.write("".join(lines).encode("utf-8"))
            member.close()
    yield sink.drain()
