"""The study dashboard's tables, from tidy frames. Pure pandas: no Flask, no database.

Every table row carries `n` and `suppressed`: a group of fewer than MIN_GROUP patients is
reported as suppressed (privacy) and its statistics are left out, never rounded or hidden quietly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports.dashboards import stats

#: Privacy: statistics of groups smaller than this many patients are not shown.
MIN_GROUP = 5
#: Rosenberg Self-Esteem Scale test-retest reliability r = 0.85 over two weeks
#: (Silber E, Tippett JS. Self-esteem: clinical assessment and measurement validation.
#: Psychol Rep 1965;16:1017-1071), the value usually quoted for the RSES.
RSES_TEST_RETEST = 0.85
#: Responder rules (stated on the dashboard).
WHO5_RESPONDER_CHANGE = 10.0  # percentage points; Topp et al. 2015, also `meaningful_change(who5)`
PGIC_RESPONDER_MAX = 2  # 1 very much improved, 2 much improved
HAIR_CHANGE_RESPONDER_MIN = 2  # "moderately increased" or more (hair_change `amount`)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _nan_to_none(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-ready rows (NaN -> None)."""
    return [{k: _nan_to_none(v) for k, v in row.items()} for row in frame.to_dict("records")]


def recruitment(patients: pd.DataFrame) -> dict[str, Any]:
    """Enrolled, active, completed, withdrawn and erased counts; suppressed below MIN_GROUP patients.

    An erased patient (a tombstone: code and dates, no data) counts as enrolled and erased, nothing else.
    """
    counts = patients["status"].value_counts()
    enrolled = len(patients)
    return {
        "enrolled": enrolled,
        "suppressed": 0 < enrolled < MIN_GROUP,
        **{status: int(counts.get(status, 0)) for status in ("active", "completed", "withdrawn", "erased")},
    }


def outcome_distribution(
    scores: pd.DataFrame, outcome: tuple[str, str], timepoints: Sequence[str]
) -> pd.DataFrame:
    """Per timepoint: quartiles, Tukey whiskers, mean and 95% CI, and how many answers are missing."""
    instrument, scale = outcome
    mine = scores[(scores["instrument"] == instrument) & (scores["scale"] == scale)]
    groups = dict(tuple(mine.groupby("timepoint", observed=True)))
    rows = []
    for tp in timepoints:  # a handful of protocol timepoints
        group = groups.get(tp, mine.iloc[0:0])
        values = group["value"].to_numpy(dtype=float)
        box, ci = stats.quartiles(values), stats.mean_ci(values)
        rows.append(
            {
                "timepoint": tp,
                "n": box.n,
                "submitted": len(group),
                "missing": int(np.isnan(values).sum()),
                "prorated": int((group["score_status"] == "prorated").sum()),
                "q1": box.q1,
                "median": box.median,
                "q3": box.q3,
                "lower_whisker": box.lower_whisker,
                "upper_whisker": box.upper_whisker,
                "mean": ci.mean,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "sd": ci.sd,
            }
        )
    return _suppress(
        pd.DataFrame(rows),
        ["q1", "median", "q3", "lower_whisker", "upper_whisker", "mean", "ci_low", "ci_high", "sd"],
    )


def _suppress(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    if frame.empty:
        return frame.assign(suppressed=pd.Series(dtype=bool))
    frame["suppressed"] = (frame["n"] > 0) & (frame["n"] < MIN_GROUP)
    keep = ~frame["suppressed"].to_numpy()
    if not keep.all():
        for column in columns:
            frame[column] = frame[column].astype(float).where(keep)
    return frame


def wide(scores: pd.DataFrame, outcome: tuple[str, str]) -> pd.DataFrame:
    """One row per patient, one column per timepoint, for one score."""
    instrument, scale = outcome
    mine = scores[(scores["instrument"] == instrument) & (scores["scale"] == scale)]
    # A numpy pivot: (patient, timepoint) is unique per score, and this is several times faster
    # than set_index().unstack() on 100k rows.
    patients, rows = np.unique(mine["patient_id"].to_numpy(), return_inverse=True)
    timepoint = mine["timepoint"]
    if isinstance(timepoint.dtype, pd.CategoricalDtype):  # as score_frame gives it
        used, cols = np.unique(timepoint.cat.codes.to_numpy(), return_inverse=True)
        timepoints = np.asarray(timepoint.cat.categories[used], dtype=object)
    else:
        timepoints, cols = np.unique(timepoint.to_numpy(dtype=str), return_inverse=True)
    grid = np.full((len(patients), len(timepoints)), np.nan)
    grid[rows, cols] = mine["value"].to_numpy(dtype=float)
    return pd.DataFrame(grid, index=pd.Index(patients, name="patient_id"),
                        columns=pd.Index(timepoints, name="timepoint"))


def paired_changes(
    scores: pd.DataFrame, outcome: tuple[str, str], baseline: str, followups: Sequence[str]
) -> pd.DataFrame:
    """Change from baseline per follow-up: n, mean change, 95% CI, Wilcoxon p, Cohen's d_z."""
    table = wide(scores, outcome)
    before = table[baseline] if baseline in table else pd.Series(dtype=float)
    rows = []
    for tp in followups:
        after = table[tp] if tp in table else pd.Series(np.nan, index=before.index)
        change = stats.paired_change(before.reindex(after.index), after)
        rows.append({"timepoint": tp, **change.as_dict()})
    return _suppress(pd.DataFrame(rows), ["mean", "sd", "low", "high", "median", "p_wilcoxon", "d_z"])


def rses_reliable_change(scores: pd.DataFrame, baseline: str) -> dict[str, float]:
    """The RSES reliable-change threshold from this cohort's baseline SD and RSES_TEST_RETEST."""
    table = wide(scores, ("rses", "total"))
    base = table[baseline].dropna() if baseline in table else pd.Series(dtype=float)
    sd = float(base.std(ddof=1)) if len(base) >= 2 else math.nan
    threshold = stats.reliable_change_threshold(sd, RSES_TEST_RETEST) if not math.isnan(sd) else math.nan
    return {"sd": sd, "n": len(base), "reliability": RSES_TEST_RETEST, "threshold": threshold}


def responders(scores: pd.DataFrame, baseline: str, followups: Sequence[str]) -> pd.DataFrame:
    """Responder proportions with Wilson 95% CIs, per criterion and follow-up timepoint."""
    who5 = wide(scores, ("who5", "percent"))
    rses = wide(scores, ("rses", "total"))
    pgic = wide(scores, ("pgic", "pgic"))
    amount = wide(scores, ("hair_change", "amount"))
    rse = rses_reliable_change(scores, baseline)
    rows = []
    for tp in followups:
        tests: dict[str, pd.Series] = {}
        if baseline in who5 and tp in who5:
            tests["who5"] = (who5[tp] - who5[baseline]).dropna() >= WHO5_RESPONDER_CHANGE
        if baseline in rses and tp in rses:
            pairs = rses[[baseline, tp]].dropna()
            index = stats.reliable_change_index(pairs[baseline], pairs[tp], rse["sd"], RSES_TEST_RETEST)
            tests["rses"] = pd.Series(index >= stats.RCI_CRITICAL, index=pairs.index)
        if tp in pgic:
            tests["pgic"] = pgic[tp].dropna() <= PGIC_RESPONDER_MAX
        if tp in amount:
            tests["hair_change"] = amount[tp].dropna() >= HAIR_CHANGE_RESPONDER_MIN
        for criterion in ("who5", "rses", "pgic", "hair_change"):
            hits = tests.get(criterion, pd.Series(dtype=bool))
            share = stats.wilson_ci(int(hits.sum()), len(hits))
            rows.append({"criterion": criterion, "timepoint": tp, **share.as_dict()})
    frame = pd.DataFrame(rows, columns=["criterion", "timepoint", "k", "n", "p", "low", "high"])
    return _suppress(frame, ["k", "p", "low", "high"])


def side_effect_grades(grades: pd.DataFrame) -> pd.DataFrame:
    """Per symptom and session number: checklists, and the share at each grade 0-4."""
    columns = ["symptom", "session_number", "n", "missing", *[f"grade_{g}" for g in range(5)]]
    if grades.empty:
        return pd.DataFrame(columns=[*columns, "suppressed"])
    frame = grades.assign(
        symptom=grades["scale"].str.removesuffix("_grade"),
        session_number=grades["timepoint"].str.extract(r"(\d+)$")[0].astype(int),
        grade_label=grades["grade"].map(lambda g: "missing" if pd.isna(g) else f"grade_{int(g)}"),
    )
    table = frame.pivot_table(
        index=["symptom", "session_number"],
        columns="grade_label",
        values="count",
        aggfunc="sum",
        fill_value=0,
    )
    table = table.reindex(columns=["missing", *[f"grade_{g}" for g in range(5)]], fill_value=0)
    table["n"] = table.sum(axis=1)
    answered = (table["n"] - table["missing"]).replace(0, np.nan)
    for g in range(5):
        table[f"grade_{g}"] = table[f"grade_{g}"] / answered
    table = table.reset_index().sort_values(["symptom", "session_number"])[columns]
    table["n"] = table["n"].astype(int)
    return _suppress(table.reset_index(drop=True), [f"grade_{g}" for g in range(5)])


def alerts_by_month(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts per calendar month (of creation) and level. Safety counts: never suppressed for the
    clinic's own staff (`suppressed` is always False)."""
    columns = ["month", "level_1", "level_2", "level_3", "n"]
    if alerts.empty:
        return pd.DataFrame(columns=[*columns, "suppressed"])
    stamp = alerts["created_at"].dt
    key = stamp.year * 100 + stamp.month  # strftime on every row is slow; format each month once
    month = key.map({k: f"{k // 100:04d}-{k % 100:02d}" for k in key.unique()})
    table = (
        alerts.assign(month=month)
        .pivot_table(index="month", columns="level", values="alert_id", aggfunc="count", fill_value=0)
        .reindex(columns=[1, 2, 3], fill_value=0)
    )
    table.columns = ["level_1", "level_2", "level_3"]
    table["n"] = alerts.assign(month=month).groupby("month")["patient_id"].nunique()
    return table.reset_index().assign(suppressed=False)


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return ((later - earlier).dt.total_seconds() / 3600).dropna()


def alert_resolution(alerts: pd.DataFrame, now: Any) -> pd.DataFrame:
    """The safety panel, per level: alerts by state (open, in progress, resolved), hours from the
    alert to the first contact attempt and to the resolution (median and 90th percentile, over the
    alerts that got there), the quartiles of the time to resolution (for the figure), and the
    oldest alert not resolved.

    Never suppressed: these are the clinic's own safety counts, read by its own staff (small-cell
    suppression is for exports and reports shared outside the clinic). `suppressed` is always False.
    """
    rows = []
    for level in (1, 2, 3):
        mine = alerts[alerts["level"] == level] if not alerts.empty else alerts
        empty = mine.empty
        contact = pd.Series(dtype=float) if empty else _hours(mine["first_contact_at"], mine["created_at"])
        resolved = pd.Series(dtype=float) if empty else _hours(mine["resolved_at"], mine["created_at"])
        box = stats.quartiles(resolved.to_numpy())
        states = mine["state"].value_counts() if not empty else pd.Series(dtype=int)
        waiting = mine[mine["state"] != "resolved"] if not empty else mine
        oldest = math.nan
        if len(waiting):
            oldest = (pd.Timestamp(now) - waiting["created_at"].min()).total_seconds() / 3600
        rows.append(
            {
                "level": level,
                "alerts": len(mine),
                "n": int(mine["patient_id"].nunique()) if len(mine) else 0,
                "open": int(states.get("open", 0)),
                "in_progress": int(states.get("in_progress", 0)),
                "resolved": int(states.get("resolved", 0)),
                "contacted": len(contact),
                "contact_median_hours": float(contact.median()) if len(contact) else math.nan,
                "contact_p90_hours": float(contact.quantile(0.9)) if len(contact) else math.nan,
                "resolution_median_hours": box.median,
                "resolution_p90_hours": float(resolved.quantile(0.9)) if len(resolved) else math.nan,
                "q1_hours": box.q1,
                "q3_hours": box.q3,
                "lower_whisker": box.lower_whisker,
                "upper_whisker": box.upper_whisker,
                "oldest_open_hours": oldest,
                "suppressed": False,
            }
        )
    return pd.DataFrame(rows)


def red_flags(alerts: pd.DataFrame, flags: Sequence[str]) -> pd.DataFrame:
    """Per red flag: checklists reporting it (from the alert reasons that name it) and distinct patients."""
    if alerts.empty:
        exploded = pd.DataFrame(columns=["patient_id", "reasons"])
    else:
        exploded = alerts[["patient_id", "reasons"]].explode("reasons").dropna()
    rows = []
    for flag in flags:
        yes = exploded[exploded["reasons"] == flag]
        rows.append({"flag": flag, "reports": len(yes), "n": int(yes["patient_id"].nunique())})
    frame = pd.DataFrame(rows, columns=["flag", "reports", "n"])
    return frame.assign(suppressed=False)  # safety counts: shown to the clinic's staff whatever their size
