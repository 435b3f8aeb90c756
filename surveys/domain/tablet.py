"""Answering in the clinic on a tablet ("answer in clinic"): a short-lived credential of its own.

Staff start it from the patient's page on the clinic's tablet. The tablet then opens the patient's
due questionnaires with a token of its own (stored only as a hash), never the patient's personal
link, which keeps working and is not revoked. The session ends when the patient has nothing left
to answer, after TABLET_IDLE_MINUTES without a request, or when staff end it; an ended session's
pages show only a neutral screen. Responses started on the tablet record the mode of
administration "tablet_in_clinic" and the staff member who started it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from surveys.domain.audit import record
from surveys.domain.links import TOKEN_BYTES, hash_token
from surveys.domain.models import Patient, StaffUser, TabletSession
from surveys.infra.db import utcnow

TABLET_IDLE_MINUTES = 10
END_REASONS = ("completed", "idle", "staff")


def start_tablet(session: Session, patient: Patient, staff: StaffUser, *, actor: str) -> str:
    """Start a tablet session for a patient (ending any other of theirs); returns its token (once)."""
    end_patient_tablets(session, patient, "staff", actor=actor)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    tablet = TabletSession(patient_id=patient.id, token_hash=hash_token(token), started_by_id=staff.id)
    session.add(tablet)
    session.flush()
    record(session, actor, "tablet.start", entity="patient", entity_id=patient.id, study_id=patient.study_id,
           details={"patient": patient.code, "tablet_session": tablet.id})
    return token


def end_patient_tablets(session: Session, patient: Patient, reason: str, *, actor: str) -> int:
    """End every open tablet session of a patient; returns how many were open."""
    open_ids = list(session.scalars(
        select(TabletSession.id)
        .where(TabletSession.patient_id == patient.id, TabletSession.ended_at.is_(None))
    ))
    for tablet_id in open_ids:
        end_tablet(session, tablet_id, reason, actor=actor, study_id=patient.study_id)
    return len(open_ids)


def end_tablet(
    session: Session, tablet_id: int, reason: str, *, actor: str, study_id: int | None = None
) -> bool:
    """End one tablet session (`reason` in END_REASONS); False when it had already ended."""
    if reason not in END_REASONS:
        raise ValueError(f"unknown end reason {reason!r}")
    result = session.execute(
        update(TabletSession).where(TabletSession.id == tablet_id, TabletSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    ended = bool(result.rowcount)
    if ended:
        record(session, actor, "tablet.end", entity="tablet_session", entity_id=tablet_id, study_id=study_id,
               details={"reason": reason})
    return ended


def tablet_seen(session: Session, tablet_id: int, now: datetime | None = None) -> bool:
    """Note activity on a tablet session; ends it (idle) instead when it was idle too long.

    Returns True while the session goes on, False when it has ended (now or before).
    """
    now = now or utcnow()
    row = session.execute(
        select(TabletSession.last_seen_at, TabletSession.ended_at, TabletSession.started_by_id)
        .where(TabletSession.id == tablet_id)
    ).one_or_none()
    if row is None or row.ended_at is not None:
        return False
    if now - row.last_seen_at > timedelta(minutes=TABLET_IDLE_MINUTES):
        end_tablet(session, tablet_id, "idle", actor="system")
        return False
    session.execute(update(TabletSession).where(TabletSession.id == tablet_id).values(last_seen_at=now))
    return True


def tablet_assistant(session: Session, tablet_id: int) -> int | None:
    """The staff member who started a tablet session (who assisted), if their account still exists."""
    return session.scalar(select(TabletSession.started_by_id).where(TabletSession.id == tablet_id))
