"""Questionnaire windows per patient, computed from anchor dates. Pure: no Flask, no database.

Windows are never stored: they are re-computed from the anchors (enrollment and treatment
session dates) every time, so moving a session date moves every window that hangs on it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from surveys.domain.protocol import Protocol, ProtocolInstrument, Timepoint

STATES = ("not_scheduled", "upcoming", "open", "due", "overdue", "closed", "completed")
ANSWERABLE = frozenset({"open", "due", "overdue"})


@dataclass(frozen=True, slots=True)
class Anchors:
    """A patient's anchor dates: enrollment and the dates of recorded sessions, by number."""

    enrollment: datetime
    sessions: tuple[tuple[int, date], ...] = ()
    #: the formulation (agents) recorded for the patient's sessions, joined: entries with
    #: `if_agents` are asked only when it names one of their agents
    agents: str = ""

    @property
    def first_session(self) -> datetime | None:
        return _at_midnight(self.sessions[0][1]) if self.sessions else None

    @property
    def last_session(self) -> datetime | None:
        return _at_midnight(self.sessions[-1][1]) if self.sessions else None


@dataclass(frozen=True, slots=True)
class Window:
    """One timepoint's window for one patient, with its state at a given time."""

    timepoint: str
    definition: Timepoint
    session_number: int | None
    opens_at: datetime | None
    due_at: datetime | None
    overdue_at: datetime | None
    closes_at: datetime | None
    instruments: tuple[ProtocolInstrument, ...]
    state: str

    @property
    def answerable(self) -> bool:
        return self.state in ANSWERABLE

    def label(self, lang: str) -> str:
        """The window's label in a language."""
        return self.definition.label_for(lang, self.session_number)


def _at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def window_state(
    now: datetime,
    opens_at: datetime | None,
    due_at: datetime | None,
    overdue_at: datetime | None,
    closes_at: datetime | None,
    completed: bool = False,
) -> str:
    """The state of a window at `now`: completed wins, then the time rules."""
    if completed:
        return "completed"
    if opens_at is None:
        return "not_scheduled"
    if now < opens_at:
        return "upcoming"
    if closes_at is not None and now >= closes_at:
        return "closed"
    if overdue_at is not None and now >= overdue_at:
        return "overdue"
    if due_at is not None and now >= due_at:
        return "due"
    return "open"


def _instruments_for(
    tp: Timepoint, opens_at: datetime | None, anchors: Anchors
) -> tuple[ProtocolInstrument, ...]:
    last = anchors.last_session
    kept = []
    for entry in tp.instruments:
        if not entry.applies_to(anchors.agents):
            continue
        limit = entry.until_days_after_last_session
        if limit is not None and (
            last is None or opens_at is None or opens_at > last + timedelta(days=limit)
        ):
            continue
        kept.append(entry)
    return tuple(kept)


def _make(
    tp: Timepoint,
    timepoint_id: str,
    anchor: datetime | None,
    anchors: Anchors,
    now: datetime,
    completed: Collection[str],
    session_number: int | None = None,
    next_anchor: datetime | None = None,
) -> Window:
    if anchor is None:
        opens = anchors.enrollment if tp.open_from_enrollment else None
        due = overdue = closes = None
    else:
        opens, due, overdue, closes = (
            anchor + tp.opens,
            anchor + tp.due,
            anchor + tp.overdue,
            anchor + tp.closes,
        )
        if tp.close_at_next_session and next_anchor is not None:
            closes = min(closes, next_anchor)
            overdue, due = min(overdue, closes), min(due, closes)
    state = window_state(now, opens, due, overdue, closes, timepoint_id in completed)
    return Window(
        timepoint=timepoint_id,
        definition=tp,
        session_number=session_number,
        opens_at=opens,
        due_at=due,
        overdue_at=overdue,
        closes_at=closes,
        instruments=_instruments_for(tp, opens, anchors),
        state=state,
    )


def compute_schedule(
    protocol: Protocol, anchors: Anchors, now: datetime, completed: Collection[str] = ()
) -> list[Window]:
    """Every window of a patient, in protocol order, with its state at `now`.

    `completed` holds the ids of timepoints whose questionnaires are all submitted.
    Per-session timepoints expand to one window per recorded session (`S1`, `S2`, ...).
    """
    windows: list[Window] = []
    sessions: Sequence[tuple[int, date]] = anchors.sessions
    for tp in protocol.timepoints:
        if tp.anchor == "each_session":
            for index, (number, day) in enumerate(sessions):
                nxt = _at_midnight(sessions[index + 1][1]) if index + 1 < len(sessions) else None
                windows.append(
                    _make(tp, f"{tp.id}{number}", _at_midnight(day), anchors, now, completed, number, nxt)
                )
            continue
        anchor = {
            "enrollment": anchors.enrollment,
            "first_session": anchors.first_session,
            "last_session": anchors.last_session,
        }[tp.anchor]
        windows.append(_make(tp, tp.id, anchor, anchors, now, completed))
    return windows


def window_for(windows: Sequence[Window], timepoint_id: str) -> Window | None:
    """The window with a timepoint id, if the schedule has it."""
    return next((w for w in windows if w.timepoint == timepoint_id), None)
