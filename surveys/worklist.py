"""The coordinator's worklist: which questionnaire windows are open, due, overdue or missed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from surveys.db import utcnow
from surveys.models import Patient, PatientLink, Response, Study
from surveys.patients import patient_schedule, study_protocol
from surveys.protocol import Protocol
from surveys.schedule import Window

# What the worklist shows, most urgent first; "missed" = closed without every questionnaire.
WORK_STATES = ("overdue", "due", "open", "missed")


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One patient's window that needs attention."""

    patient: Patient
    window: Window
    state: str
    submitted: frozenset[str]
    has_live_link: bool

    @property
    def timepoint_kind(self) -> str:
        """The protocol timepoint the window belongs to (`S` for `S3`)."""
        return self.window.definition.id


def submitted_instruments(session: Session, patient_ids: list[int]) -> dict[tuple[int, str], set[str]]:
    """(patient id, timepoint) -> the instruments submitted there."""
    done: dict[tuple[int, str], set[str]] = defaultdict(set)
    if not patient_ids:
        return done
    rows = session.execute(
        select(Response.patient_id, Response.timepoint, Response.instrument_id)
        .where(Response.patient_id.in_(patient_ids), Response.status == "submitted")
    )
    for pid, timepoint, instrument in rows:
        done[(pid, timepoint)].add(instrument)
    return done


def window_state(window: Window, submitted: set[str]) -> str:
    """The window's state counting submissions: completed when every instrument is in."""
    needed = {entry.instrument for entry in window.instruments}
    if needed and needed <= submitted:
        return "completed"
    if window.state == "closed":
        return "missed"
    return window.state


def build_worklist(
    session: Session,
    study: Study,
    *,
    states: tuple[str, ...] = WORK_STATES,
    timepoint: str | None = None,
    now: datetime | None = None,
    protocol: Protocol | None = None,
) -> list[WorkItem]:
    """The active patients' windows in the given states, most urgent first, then by patient."""
    now = now or utcnow()
    protocol = protocol or study_protocol(study)
    patients = list(session.scalars(
        select(Patient).where(Patient.study_id == study.id, Patient.status == "active")
        .options(selectinload(Patient.sessions)).order_by(Patient.code)
    ))
    done = submitted_instruments(session, [p.id for p in patients])
    live = set(session.scalars(
        select(PatientLink.patient_id).join(Patient, Patient.id == PatientLink.patient_id)
        .where(Patient.study_id == study.id, PatientLink.revoked_at.is_(None))
    ))
    items: list[WorkItem] = []
    for patient in patients:
        for window in patient_schedule(patient, protocol, now):
            if timepoint and window.definition.id != timepoint:
                continue
            submitted = done.get((patient.id, window.timepoint), set())
            state = window_state(window, submitted)
            if state in states:
                items.append(WorkItem(patient, window, state, frozenset(submitted), patient.id in live))
    rank = {state: n for n, state in enumerate(WORK_STATES)}
    items.sort(key=lambda i: (rank.get(i.state, 99), i.window.due_at or i.window.opens_at or now,
                              i.patient.code))
    return items


def worklist_counts(items: list[WorkItem]) -> dict[str, int]:
    """How many windows are in each worklist state."""
    counts = dict.fromkeys(WORK_STATES, 0)
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    return counts
