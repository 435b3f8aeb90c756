"""answer_history.csv: every change of an answer after it was first given (issue 13's `answer_version`).

The database keeps, per item of a response, the values that were replaced (`answer_version`, in
`id` order, each with the time it was given and the time it was replaced) and the value in force
(`answer`). Read in that order they are the item's versions: version 1 is the first answer, and
every row of this file is one event that made the next version:

- `changed`: the value was replaced by another (the new value was given at the moment the old
  one was superseded);
- `cleared`: the value was dropped because another answer hid its item (a "yes" changed to "no"),
  and nothing replaced it at that moment;
- `given_again`: an item that had been cleared was answered again later.

Who changed it is a role, never a name: the patient for answers given on their own device or a
clinic tablet, else the role of the staff member who recorded the response (paper entry,
interview), or `staff` when that account no longer exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from reports.exports.codebook import ExportContext
from reports.exports.deidentify import days_between
from reports.exports.tables import (
    BATCH,
    LocalDays,
    RowCount,
    answer_labels,
    patient_facts,
    patient_labeller,
    response_filter,
    utc_text,
)
from surveys.domain.models import Answer, AnswerVersion, Response, StaffUser

#: Modes in which the patient gives the answers themselves (surveys.domain.models.MODES).
PATIENT_MODES = ("own_device", "tablet_in_clinic")

Value = tuple[int | None, str | None]


def changed_by(mode: str, staff_role: str | None) -> str:
    """Who gave a response's answers, as a role: patient, coordinator, clinician, admin or staff."""
    if mode in PATIENT_MODES:
        return "patient"
    return staff_role or "staff"


def item_events(history: list[tuple[Value, Any, Any]], current: tuple[Value, Any] | None
                ) -> Iterator[tuple[int, str, Value | None, Value | None, Any]]:
    """The events of one item's answer, oldest first: (version made, kind, old, new, when).

    `history`: the replaced values in `id` order as (value, answered_at, superseded_at);
    `current`: the value in force and its answered_at, or None when the item has no answer now.
    Timestamps are compared as stored (a change writes one instant as both the old value's
    superseded_at and the new value's answered_at).
    """
    version = 1
    for index, (value, _given, superseded) in enumerate(history):
        following = (history[index + 1][0], history[index + 1][1]) if index + 1 < len(history) else current
        version += 1
        if following is not None and following[1] == superseded:
            yield version, "changed", value, following[0], superseded
            continue
        yield version, "cleared", value, None, superseded
        if following is not None:
            version += 1
            yield version, "given_again", None, following[0], following[1]


def answer_history_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """answer_history.csv: one row per change of an answer of a submitted response of the export.

    The export's filters apply to the response. De-identified exports leave out free-text items
    and every date (time is days since the first session); identified ones add the old and new
    text, the UTC time of the change and its local date in the study's time zone (the day that
    `days_since_first_session` counts to, as every file of the export does).
    """
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    labels = answer_labels(ctx)
    local_day = LocalDays(ctx.study.timezone)
    identified = not ctx.deidentified
    stmt = response_filter(
        select(Response.patient_id, Response.timepoint, Response.instrument_id, Response.instrument_version,
               Response.mode, StaffUser.role, AnswerVersion.item_id, AnswerVersion.code, AnswerVersion.text,
               AnswerVersion.answered_at, AnswerVersion.superseded_at, Answer.code, Answer.text,
               Answer.answered_at, Response.protocol_version)
        .select_from(Response)
        .join(AnswerVersion, AnswerVersion.response_id == Response.id)
        .outerjoin(Answer, and_(Answer.response_id == Response.id, Answer.item_id == AnswerVersion.item_id))
        .outerjoin(StaffUser, StaffUser.id == Response.assisted_by_id), ctx,
    ).order_by(Response.patient_id, Response.timepoint, Response.instrument_id, AnswerVersion.item_id,
               AnswerVersion.id)
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    for _key, group in groupby(result, key=lambda r: (r[0], r[1], r[2], r[6])):
        rows = list(group)
        pid, timepoint, inst, version_of, mode, role, item = rows[0][:7]
        now_code, now_text, now_at, protocol = rows[0][11:15]
        history = [((r[7], r[8]), r[9], r[10]) for r in rows]
        if not identified and any(value[0] is None for value, _, _ in history):
            continue  # a free-text item: left out of de-identified exports
        current = None if now_at is None else ((now_code, now_text), now_at)
        by = changed_by(mode, role)
        item_labels = labels.get((inst, version_of), {})
        for version, kind, old, new, when in item_events(history, current):
            old_code, old_text = old or (None, None)
            new_code, new_text = new or (None, None)
            day = local_day(when)
            row = [patient(pid), timepoint, days_between(facts[pid].first_session, day), inst,
                   version_of, protocol, item, version, kind, old_code, item_labels.get((item, old_code)),
                   new_code, item_labels.get((item, new_code)), by]
            if identified:
                row += [old_text, new_text, utc_text(when), day.isoformat() if day else None]
            count.rows += 1
            yield row
