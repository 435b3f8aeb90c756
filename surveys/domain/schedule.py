"""Questionnaire windows per patient, computed from anchor dates. Pure: no Flask, no database.

Windows are never stored: they are re-computed from the anchors (enrollment and treatment
session dates) every time, so moving a session date moves every window that hangs on it.

Windows are counted in whole local days in the study's time zone (`Anchors.zone`, an IANA name):
an anchor is a local calendar day, an offset of N days lands on local midnight N days later, and an
offset in hours is wall-clock time on that local day (24 h = the next local midnight). So a window
that closes "after 1 December" closes at 00:00 local on 2 December (23:00 UTC in Paris winter),
and a daylight-saving change (last Sundays of March and October in Europe) neither shortens nor
lengthens it. Every boundary returned is an aware UTC instant; `now` is compared in UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from surveys.domain.protocol import Protocol, ProtocolInstrument, Timepoint

STATES = ("not_scheduled", "upcoming", "open", "due", "overdue", "closed", "completed")
ANSWERABLE = frozenset({"open", "due", "overdue"})
ONE_DAY = timedelta(days=1)


def is_baseline(tp: Timepoint) -> bool:
    """A pre-treatment baseline: anchored on the first session and closing no later than its day."""
    return tp.anchor == "first_session" and tp.closes < ONE_DAY


def baseline_closes(tp: Timepoint) -> timedelta:
    """When a timepoint closes, counted from its anchor, with the baseline rule applied.

    A timepoint anchored on the first session that would close at or before that session's
    start (a pre-treatment baseline) stays answerable through the whole day of the first
    session: patients answer in the waiting room, and without a baseline there is no
    before/after. Other timepoints keep their protocol offset.
    """
    if is_baseline(tp):
        return ONE_DAY
    return tp.closes


@dataclass(frozen=True, slots=True)
class Anchors:
    """A patient's anchor dates: enrollment (a UTC instant), the local dates of recorded sessions by
    number, and the study's time zone (IANA name) in which days are counted.

    `planned` holds the numbers of sessions planned ahead (not yet done): they anchor the
    windows that hang on them (the baseline before the first session, week 12...), but open no
    post-session checklist until they are recorded as done. `extensions` maps a timepoint id
    (`T0`, `S2`) to the last local day staff kept it open to (a reopened or extended window).
    """

    enrollment: datetime
    sessions: tuple[tuple[int, date], ...] = ()
    #: the formulation (agents) recorded for each session, in the order of `sessions` ("" when
    #: none): an entry with `if_agents` is asked in a window when a session dated before the
    #: window's own close names one of its agents (a later session never adds a part to a window
    #: that had closed, or was completed, before it)
    agents: tuple[str, ...] = ()
    planned: frozenset[int] = frozenset()
    extensions: Mapping[str, date] = field(default_factory=dict)
    zone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def enrollment_day(self) -> date:
        """The local calendar day of enrollment."""
        enrolled = self.enrollment if self.enrollment.tzinfo else self.enrollment.replace(tzinfo=UTC)
        return enrolled.astimezone(self.tz).date()

    @property
    def first_session_day(self) -> date | None:
        return self.sessions[0][1] if self.sessions else None

    @property
    def last_session_day(self) -> date | None:
        return self.sessions[-1][1] if self.sessions else None

    @property
    def first_session(self) -> datetime | None:
        """Local midnight starting the first session's day, as a UTC instant."""
        day = self.first_session_day
        return local_boundary(day, timedelta(0), self.tz) if day else None

    @property
    def last_session(self) -> datetime | None:
        """Local midnight starting the last session's day, as a UTC instant."""
        day = self.last_session_day
        return local_boundary(day, timedelta(0), self.tz) if day else None


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
    # Staff reopened or extended it and `now` is past its own close: answers are flagged.
    extended: bool = False
    # The close the protocol gives it (UTC), before any extension staff granted (`closes_at` is
    # the extended one): an answer given at or after it is flagged `window_extended`.
    own_closes_at: datetime | None = None

    @property
    def answerable(self) -> bool:
        return self.state in ANSWERABLE

    def label(self, lang: str) -> str:
        """The window's label in a language."""
        return self.definition.label_for(lang, self.session_number)


def local_boundary(day: date, offset: timedelta, zone: ZoneInfo) -> datetime:
    """The UTC instant `offset` after the start of local calendar `day` in `zone`, on the wall clock.

    Whole days move the calendar date (so a DST change never adds or removes an hour); the rest of
    the offset is a local time of day: `timedelta(days=-1)` is the local midnight starting the day
    before, `timedelta(hours=36)` is 12:00 local on the day after next. A local time that does
    not exist (a spring-forward gap, which starts at midnight in a few zones) is read with the offset
    in force before the gap, i.e. the moment the clocks jump; a repeated one is its first occurrence.
    """
    wall = datetime.combine(day + timedelta(days=offset.days), time(0, 0)) + timedelta(seconds=offset.seconds)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def last_open_day(closes_at: datetime, zone: ZoneInfo) -> date:
    """The last local day on which a window that closes at the instant `closes_at` is answerable."""
    return (closes_at - timedelta(microseconds=1)).astimezone(zone).date()


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


def _agents_before(anchors: Anchors, closes_at: datetime | None) -> str:
    """The agents of the sessions whose day starts before `closes_at` (a UTC instant; None: every
    session), joined as `ProtocolInstrument.applies_to` reads them."""
    return " | ".join(
        text for (_number, day), text in zip(anchors.sessions, anchors.agents, strict=False)
        if text and (closes_at is None or local_boundary(day, timedelta(0), anchors.tz) < closes_at)
    )


def _instruments_for(
    tp: Timepoint, opens_at: datetime | None, closes_at: datetime | None, anchors: Anchors
) -> tuple[ProtocolInstrument, ...]:
    last = anchors.last_session_day
    # Only an entry with `if_agents` reads the agents: most windows need not compute them.
    agents = _agents_before(anchors, closes_at) if any(e.if_agents for e in tp.instruments) else ""
    kept = []
    for entry in tp.instruments:
        if not entry.applies_to(agents):
            continue
        limit = entry.until_days_after_last_session
        if limit is not None and (
            last is None or opens_at is None
            or opens_at > local_boundary(last, timedelta(days=limit), anchors.tz)
        ):
            continue
        kept.append(entry)
    return tuple(kept)


def _make(
    tp: Timepoint,
    timepoint_id: str,
    anchor: date | None,
    anchors: Anchors,
    now: datetime,
    completed: Collection[str],
    session_number: int | None = None,
    next_anchor: date | None = None,
) -> Window:
    if anchor is None:
        opens = anchors.enrollment if tp.open_from_enrollment else None
        due = overdue = closes = None
    else:
        zone = anchors.tz
        opens, due, overdue, closes = (
            local_boundary(anchor, tp.opens, zone),
            local_boundary(anchor, tp.due, zone),
            local_boundary(anchor, tp.overdue, zone),
            local_boundary(anchor, baseline_closes(tp), zone),
        )
        if tp.close_at_next_session and next_anchor is not None:
            closes = min(closes, local_boundary(next_anchor, timedelta(0), zone))
        overdue, due = min(overdue, closes), min(due, closes)
    extended, own_closes = False, closes
    kept_to = anchors.extensions.get(timepoint_id)
    if kept_to is not None and opens is not None and closes is not None:
        kept_closes = local_boundary(kept_to, ONE_DAY, anchors.tz)  # the end of that local day
        if kept_closes > closes:
            extended = now >= closes
            closes = kept_closes
    state = window_state(now, opens, due, overdue, closes, timepoint_id in completed)
    return Window(
        timepoint=timepoint_id,
        definition=tp,
        session_number=session_number,
        opens_at=opens,
        due_at=due,
        overdue_at=overdue,
        closes_at=closes,
        instruments=_instruments_for(tp, opens, own_closes, anchors),
        state=state,
        extended=extended and state in ANSWERABLE,
        own_closes_at=own_closes,
    )


def compute_schedule(
    protocol: Protocol, anchors: Anchors, now: datetime, completed: Collection[str] = ()
) -> list[Window]:
    """Every window of a patient, in protocol order (`when_due`), with its state at `now`.

    `completed` holds the ids of timepoints whose questionnaires are all submitted.
    Per-session timepoints expand to one window per session done (`S1`, `S2`, ...); a planned
    session opens none until it is recorded as done. A baseline stays open through the first
    session's local day (`baseline_closes`); a window staff extended closes at the end of its new
    local day. Boundaries are UTC instants at whole local days in `anchors.zone` (see the module
    docstring).
    """
    windows: list[Window] = []
    sessions: Sequence[tuple[int, date]] = anchors.sessions
    for tp in protocol.timepoints:
        if tp.anchor == "each_session":
            for index, (number, day) in enumerate(sessions):
                if number in anchors.planned:
                    continue
                nxt = sessions[index + 1][1] if index + 1 < len(sessions) else None
                windows.append(_make(tp, f"{tp.id}{number}", day, anchors, now, completed, number, nxt))
            continue
        anchor = {
            "enrollment": anchors.enrollment_day,
            "first_session": anchors.first_session_day,
            "last_session": anchors.last_session_day,
        }[tp.anchor]
        windows.append(_make(tp, tp.id, anchor, anchors, now, completed))
    return windows


def window_for(windows: Sequence[Window], timepoint_id: str) -> Window | None:
    """The window with a timepoint id, if the schedule has it."""
    return next((w for w in windows if w.timepoint == timepoint_id), None)
