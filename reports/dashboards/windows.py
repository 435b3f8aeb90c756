"""The protocol's questionnaire windows for a whole cohort at once, with pandas. Pure.

The same rules as `surveys.domain.schedule.compute_schedule` (a test holds the two together), but
vectorised: one pass per protocol timepoint over every patient, never a loop over patients.
Days are whole local days in the study's zone, as in the schedule: anchors become local calendar
days, offsets are added on the local wall clock, and each boundary is converted back to UTC.
Completion then classifies each window: answered on time (before it became overdue), late,
missed (closed unanswered), pending (open now) or not yet open; a window staff extended counts
against its extended close.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from surveys.domain.protocol import Protocol, Timepoint
from surveys.domain.schedule import baseline_closes

WINDOW_COLUMNS = [
    "patient_id",
    "timepoint",
    "kind",
    "session_number",
    "opens_at",
    "due_at",
    "overdue_at",
    "closes_at",
    "state",
]
OUTCOMES = ("on_time", "late", "missed", "pending", "not_open")


def _local_days(stamps: pd.Series, zone: str) -> pd.Series:
    """UTC instants -> their local calendar days in `zone`, as naive midnights."""
    stamps = pd.to_datetime(stamps, utc=True, cache=False)
    return stamps.dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()


def _session_days(dates: pd.Series) -> pd.Series:
    """Session dates (calendar dates stored as UTC midnight) -> naive midnights of the same day."""
    return pd.to_datetime(dates, utc=True, cache=False).dt.tz_localize(None).dt.normalize()


def _boundary(days: pd.Series, offset: timedelta, zone: str) -> pd.Series:
    """`schedule.local_boundary` over a column of local days (naive midnights): UTC instants."""
    wall = days + pd.Timedelta(days=offset.days) + pd.Timedelta(seconds=offset.seconds)
    # A cohort has a few hundred distinct days for tens of thousands of windows: localise each
    # distinct wall time once (tz_localize with DST rules is the costly step), then spread back.
    distinct, where = np.unique(wall.to_numpy(dtype="datetime64[ns]"), return_inverse=True)
    local = pd.DatetimeIndex(distinct).tz_localize(
        zone, ambiguous=np.ones(len(distinct), dtype=bool), nonexistent="shift_forward"
    ).tz_convert("UTC")
    return pd.Series(local[where.reshape(-1)], index=wall.index)


def _bounds(tp: Timepoint, anchor: pd.Series, zone: str) -> dict[str, pd.Series]:
    closes = _boundary(anchor, baseline_closes(tp), zone)  # the baseline rule, as in schedule
    due, overdue = _boundary(anchor, tp.due, zone), _boundary(anchor, tp.overdue, zone)
    return {
        "opens_at": _boundary(anchor, tp.opens, zone),
        "due_at": due.where(due.isna() | (due <= closes), closes),
        "overdue_at": overdue.where(overdue.isna() | (overdue <= closes), closes),
        "closes_at": closes,
    }


def _session_windows(tp: Timepoint, sessions: pd.DataFrame, zone: str) -> pd.DataFrame:
    ordered = sessions.sort_values(["patient_id", "number"]).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "patient_id": ordered["patient_id"],
            "timepoint": tp.id + ordered["number"].astype(str),
            "session_number": ordered["number"].astype(float),
        }
    )
    days = _session_days(ordered["date"])
    bounds = _bounds(tp, days, zone)
    if tp.close_at_next_session:
        nxt = _boundary(days.groupby(ordered["patient_id"]).shift(-1), timedelta(0), zone)
        closes = bounds["closes_at"].where(nxt.isna() | (bounds["closes_at"] <= nxt), nxt)
        bounds["closes_at"] = closes
        bounds["overdue_at"] = bounds["overdue_at"].where(bounds["overdue_at"] <= closes, closes)
        bounds["due_at"] = bounds["due_at"].where(bounds["due_at"] <= closes, closes)
    for key, values in bounds.items():
        frame[key] = values
    if "planned" in ordered:  # a planned session opens no post-session window until it is done
        frame = frame[~ordered["planned"].astype(bool)].reset_index(drop=True)
    return frame


def _anchored_windows(
    tp: Timepoint, patients: pd.DataFrame, sessions: pd.DataFrame, zone: str
) -> pd.DataFrame:
    if tp.anchor == "enrollment":
        anchor = _local_days(patients["enrolled_at"], zone)
    else:
        pick = "min" if tp.anchor == "first_session" else "max"
        dates = sessions.groupby("patient_id")["date"].agg(pick)
        anchor = _session_days(patients["patient_id"].map(dates))
    anchor = anchor.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "patient_id": patients["patient_id"].reset_index(drop=True),
            "timepoint": tp.id,
            "session_number": np.nan,
        }
    )
    for key, values in _bounds(tp, anchor, zone).items():
        frame[key] = values
    if tp.open_from_enrollment:
        enrolled = patients["enrolled_at"].reset_index(drop=True)
        frame["opens_at"] = frame["opens_at"].where(anchor.notna(), enrolled)
    return frame


def window_states(frame: pd.DataFrame, now: datetime) -> pd.Series:
    """Each window's time state at `now` (no completion): the order of `window_state`."""
    stamp = pd.Timestamp(now)
    opens, due, overdue, closes = (frame[c] for c in ("opens_at", "due_at", "overdue_at", "closes_at"))
    conditions = [
        opens.isna(),
        stamp < opens,
        closes.notna() & (stamp >= closes),
        overdue.notna() & (stamp >= overdue),
        due.notna() & (stamp >= due),
    ]
    choices = ["not_scheduled", "upcoming", "closed", "overdue", "due"]
    return pd.Series(np.select(conditions, choices, default="open"), index=frame.index)


def _extended(frame: pd.DataFrame, extensions: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Windows staff kept open longer close at the end of their `closes_on` local day, as in
    `compute_schedule`: only a window that has opened and closes earlier than that moves."""
    kept_to = frame[["patient_id", "timepoint"]].merge(
        extensions[["patient_id", "timepoint", "closes_on"]], on=["patient_id", "timepoint"], how="left"
    )["closes_on"]
    kept_to.index = frame.index
    rows = kept_to.notna() & frame["opens_at"].notna() & frame["closes_at"].notna()
    if not rows.any():
        return frame
    kept = _boundary(pd.to_datetime(kept_to[rows]).dt.normalize(), timedelta(days=1), zone)
    later = kept > frame.loc[rows, "closes_at"]
    frame.loc[later.index[later], "closes_at"] = kept[later]
    return frame


def window_frame(
    protocol: Protocol,
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    now: datetime,
    zone: str = "UTC",
    extensions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every patient's windows: one row per patient and timepoint (S1, S2... per session).

    `zone` is the study's IANA time zone; boundaries are UTC instants at whole local days in it.
    `extensions` (patient_id, timepoint, closes_on: a local day) are the windows staff reopened or
    extended; each closes at the end of that day when that is later than its own close.
    """
    parts = []
    for tp in protocol.timepoints:  # a handful of protocol timepoints, each over the whole cohort
        if tp.anchor == "each_session":
            part = _session_windows(tp, sessions, zone)
        else:
            part = _anchored_windows(tp, patients, sessions, zone)
        part["kind"] = tp.id
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    for column in ("opens_at", "due_at", "overdue_at", "closes_at"):
        if frame[column].dtype != "datetime64[ns, UTC]":
            frame[column] = pd.to_datetime(frame[column], utc=True, cache=False)
    if extensions is not None and not extensions.empty:
        frame = _extended(frame, extensions, zone)
    frame["state"] = window_states(frame, now)
    return frame[WINDOW_COLUMNS]


def completion_frame(
    windows: pd.DataFrame, submissions: pd.DataFrame, patients: pd.DataFrame, now: datetime
) -> pd.DataFrame:
    """Windows with how each went: on_time, late, missed, pending or not_open.

    A window counts as answered when at least one of its questionnaires was submitted; its time is
    the first submission. On time: before the window became overdue. Late: after. Missed: closed
    with nothing submitted. A withdrawn or completed patient's unanswered open windows are not
    expected any more (not_open).
    """
    merged = windows.merge(
        submissions[["patient_id", "timepoint", "first_submitted"]],
        on=["patient_id", "timepoint"],
        how="left",
    )
    status = merged["patient_id"].map(patients.set_index("patient_id")["status"])
    stamp = pd.Timestamp(now)
    answered = merged["first_submitted"].notna()
    late = answered & merged["overdue_at"].notna() & (merged["first_submitted"] >= merged["overdue_at"])
    closed = merged["closes_at"].notna() & (stamp >= merged["closes_at"])
    opened = merged["opens_at"].notna() & (stamp >= merged["opens_at"])
    conditions = [
        answered & ~late,
        late,
        ~answered & closed & opened,
        ~answered & opened & (status == "active"),
    ]
    merged["outcome"] = np.select(conditions, ["on_time", "late", "missed", "pending"], default="not_open")
    return merged


def completion_table(completion: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Counts per timepoint of each outcome and the completion rate among windows that are decided.

    Rate = (on time + late) / (on time + late + missed); pending windows are not yet decided.
    Rows follow the protocol's order, per-session windows by session number.
    """
    columns = ["kind", "timepoint", "session_number", *OUTCOMES]
    if completion.empty:
        counts = pd.DataFrame(columns=columns)
    else:
        counts = (
            completion.groupby(["kind", "timepoint", "session_number"], dropna=False, sort=False)["outcome"]
            .value_counts()
            .unstack("outcome", fill_value=0)
            .reindex(columns=list(OUTCOMES), fill_value=0)
            .reset_index()
        )
    order = {tp.id: index for index, tp in enumerate(protocol.timepoints)}
    counts = (
        counts.assign(_kind=counts["kind"].map(order))
        .sort_values(["_kind", "session_number"], na_position="first")
        .drop(columns="_kind")
        .reset_index(drop=True)
    )
    for outcome in OUTCOMES:
        counts[outcome] = counts[outcome].astype(int)
    decided = counts["on_time"] + counts["late"] + counts["missed"]
    counts["decided"] = decided
    counts["rate"] = np.where(
        decided > 0, (counts["on_time"] + counts["late"]) / decided.where(decided > 0, 1), np.nan
    )
    return counts
