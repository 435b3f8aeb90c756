"""Tidy frames from the database and the cohort tables built from them, on small known cohorts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from reports.dashboards import cohort, frames, windows
from surveys.domain.models import Alert, Response
from surveys.domain.patients import study_protocol
from surveys.domain.protocol import load_protocol, session_number
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.domain.schedule import Anchors, compute_schedule
from surveys.infra.db import db, utcnow
from tests.today import local_today

WHO5 = {f"who5_{i}": 3 for i in range(1, 6)}  # percent 60


def answer(library, patient, timepoint, instrument, answers, when=None):
    """Store and submit one questionnaire through the real services."""
    inst = library[instrument]
    number = session_number(timepoint)
    treatment = next((s for s in patient.sessions if s.number == number), None) if number else None
    response = start_response(db.session, patient, timepoint, inst, "en", treatment)
    save_answers(db.session, response, inst, answers)
    submit_response(db.session, response, inst)
    if when is not None:
        response.submitted_at = when
    db.session.flush()
    return response


def who5(percent):
    raw = percent // 4
    codes = [raw // 5 + (1 if i < raw % 5 else 0) for i in range(5)]
    return {f"who5_{i + 1}": c for i, c in enumerate(codes)}


@pytest.fixture
def cohort_of_two(make_study, make_patient, library):
    study = make_study()
    a = make_patient(
        study,
        "A",
        sex="female",
        birth_year=1980,
        diagnosis="female_pattern_hair_loss",
        enrolled_days_ago=140,
        sessions_days_ago=(130, 100),
    )
    b = make_patient(
        study,
        "B",
        sex="male",
        birth_year=1995,
        diagnosis="androgenetic_alopecia",
        enrolled_days_ago=140,
        sessions_days_ago=(125,),
    )
    for patient, base, end in ((a, 40, 60), (b, 48, 44)):
        answer(library, patient, "T0", "who5", who5(base))
        answer(library, patient, "EOT", "who5", who5(end))
    answer(
        library, a, "S1", "pirc", {"pain_present": 1, "pain_worst": 2, "pain_now": 0, "pain_interference": 1}
    )
    return study, a, b


def test_score_frame_is_long_one_row_per_score(cohort_of_two):
    study, a, b = cohort_of_two
    scores = frames.score_frame(db.session, study.id, frames.Filters())
    who = scores[scores["instrument"] == "who5"]
    assert sorted(zip(who["patient_id"], who["timepoint"].astype(str), who["value"], strict=True)) == sorted(
        [(a.id, "T0", 40.0), (a.id, "EOT", 60.0), (b.id, "T0", 48.0), (b.id, "EOT", 44.0)]
    )
    assert set(scores["scale"].astype(str)) <= {s for _i, s in frames.OUTCOMES + frames.RESPONDER_SCORES}


def test_filters_select_patients_in_sql(cohort_of_two):
    study, _a, b = cohort_of_two
    assert list(frames.patient_frame(db.session, study.id, frames.Filters(sex="female"))["code"]) == ["A"]
    assert list(
        frames.patient_frame(db.session, study.id, frames.Filters(diagnosis="androgenetic_alopecia"))["code"]
    ) == ["B"]
    this_year = utcnow().year
    band = next(k for k, (lo, hi) in frames.AGE_BANDS.items() if lo <= this_year - 1980 <= hi)
    assert list(frames.patient_frame(db.session, study.id, frames.Filters(age_band=band))["code"]) == ["A"]
    assert frames.patient_frame(db.session, study.id, frames.Filters(enrolled_to=date(2000, 1, 1))).empty
    scores = frames.score_frame(db.session, study.id, frames.Filters(sex="male"))
    assert set(scores["patient_id"]) == {b.id}


def test_agents_filter_keeps_patients_with_a_session_of_that_formulation(cohort_of_two):
    study, a, _b = cohort_of_two
    a.sessions[0].agents = "dutasteride 0.01%"
    db.session.flush()
    chosen = frames.patient_frame(db.session, study.id, frames.Filters(agents="dutasteride 0.01%"))
    assert list(chosen["code"]) == ["A"]
    assert frames.filter_options(db.session, study.id)["agents"] == ["dutasteride 0.01%"]


def test_grade_frame_counts_grades_in_sql(cohort_of_two):
    study, _a, _b = cohort_of_two
    grades = frames.grade_frame(db.session, study.id, frames.Filters())
    pain = grades[grades["scale"] == "pain_grade"]
    assert list(zip(pain["timepoint"], pain["grade"], pain["count"], strict=True)) == [("S1", 2.0, 1)]
    table = cohort.side_effect_grades(grades)
    row = table[(table["symptom"] == "pain") & (table["session_number"] == 1)].iloc[0]
    assert row["n"] == 1 and bool(row["suppressed"])  # one checklist: under 5, suppressed
    assert np.isnan(row["grade_2"])


def test_submission_and_alert_frames(cohort_of_two, library):
    study, a, _b = cohort_of_two
    subs = frames.submission_frame(db.session, study.id, frames.Filters())
    assert set(subs.loc[subs["patient_id"] == a.id, "timepoint"]) == {"T0", "EOT", "S1"}
    assert str(subs["first_submitted"].dt.tz) == "UTC"
    response = db.session.query(Response).filter_by(patient_id=a.id, timepoint="S1").one()
    db.session.add(
        Alert(study_id=study.id, patient_id=a.id, response_id=response.id, level=2, reasons=["rf_fever"])
    )
    db.session.flush()
    alerts = frames.alert_frame(db.session, study.id, frames.Filters())
    assert list(alerts["reasons"]) == [["rf_fever"]]
    assert alerts["resolved_at"].isna().all() and list(alerts["state"]) == ["open"]


def test_empty_study_gives_empty_frames_and_tables(make_study):
    study = make_study()
    f = frames.Filters()
    scores = frames.score_frame(db.session, study.id, f)
    assert scores.empty
    table = cohort.outcome_distribution(scores, ("who5", "percent"), ["T0", "EOT"])
    assert list(table["n"]) == [0, 0]
    assert cohort.paired_changes(scores, ("who5", "percent"), "T0", ["EOT"])["n"].tolist() == [0]
    assert cohort.side_effect_grades(frames.grade_frame(db.session, study.id, f)).empty
    assert cohort.alerts_by_month(frames.alert_frame(db.session, study.id, f)).empty
    assert cohort.recruitment(frames.patient_frame(db.session, study.id, f))["enrolled"] == 0


def _scores(rows):
    frame = pd.DataFrame(
        rows, columns=["patient_id", "timepoint", "instrument", "scale", "value", "score_status"]
    )
    return frame.astype({"value": float})


def test_outcome_distribution_and_paired_change_with_suppression_under_five():
    rng = np.random.default_rng(3)
    base = rng.integers(20, 60, size=8) * 1.0
    rows = [(i, "T0", "who5", "percent", v, "complete") for i, v in enumerate(base)]
    rows += [(i, "EOT", "who5", "percent", v + 12, "complete") for i, v in enumerate(base)]
    rows += [(i, "M6", "who5", "percent", v + 4, "complete") for i, v in enumerate(base[:3])]
    rows += [(99, "M6", "who5", "percent", np.nan, "incomplete")]
    scores = _scores(rows)
    dist = cohort.outcome_distribution(scores, ("who5", "percent"), ["T0", "EOT", "M6", "M12"]).set_index(
        "timepoint"
    )
    assert dist.loc["T0", "median"] == np.median(base)
    assert dist.loc["EOT", "mean"] == pytest.approx(base.mean() + 12)
    assert bool(dist.loc["M6", "suppressed"]) and np.isnan(dist.loc["M6", "mean"])
    assert dist.loc["M6", "missing"] == 1  # the incomplete form is counted, not scored as 0
    assert dist.loc["M12", "n"] == 0 and not bool(dist.loc["M12", "suppressed"])  # all-missing timepoint
    change = cohort.paired_changes(scores, ("who5", "percent"), "T0", ["EOT", "M6", "M12"]).set_index(
        "timepoint"
    )
    assert change.loc["EOT", "n"] == 8 and change.loc["EOT", "mean"] == pytest.approx(12)
    assert bool(change.loc["M6", "suppressed"]) and np.isnan(change.loc["M6", "p_wilcoxon"])
    assert change.loc["M12", "n"] == 0


def test_responders_use_stated_rules_and_wilson_intervals():
    rows = []
    for i in range(10):
        rows.append((i, "T0", "who5", "percent", 40.0, "complete"))
        rows.append((i, "EOT", "who5", "percent", 52.0 if i < 6 else 44.0, "complete"))
        rows.append((i, "T0", "rses", "total", 10.0 + i, "complete"))
        rows.append((i, "EOT", "rses", "total", 10.0 + i + (8 if i < 3 else 0), "complete"))
        rows.append((i, "EOT", "pgic", "pgic", 2.0 if i < 4 else 4.0, "complete"))
        rows.append((i, "EOT", "hair_change", "amount", 2.0 if i < 5 else 1.0, "complete"))
    scores = _scores(rows)
    table = cohort.responders(scores, "T0", ["EOT"]).set_index("criterion")
    assert (table.loc["who5", "k"], table.loc["who5", "n"]) == (6, 10)
    assert (table.loc["pgic", "k"], table.loc["hair_change", "k"]) == (4, 5)
    rc = cohort.rses_reliable_change(scores, "T0")
    assert rc["sd"] == pytest.approx(np.std(np.arange(10.0) + 10, ddof=1))
    assert rc["reliability"] == cohort.RSES_TEST_RETEST == 0.85
    assert 3 < rc["threshold"] < 8  # 8-point gains are reliable here, no gain is not
    assert table.loc["rses", "k"] == 3
    assert table.loc["who5", "low"] == pytest.approx(0.3127, abs=1e-3)  # Wilson 6/10


def test_the_safety_panel_counts_states_and_times_and_never_suppresses_them():
    created = pd.Timestamp("2026-03-10 08:00", tz="UTC")
    hours = [created + pd.Timedelta(hours=h) for h in (1, 3, 5, 7, 9)] + [pd.NaT]
    alerts = pd.DataFrame(
        {
            "alert_id": range(6),
            "patient_id": [1, 2, 3, 4, 5, 6],
            "level": [1, 1, 2, 2, 2, 3],
            "reasons": [["x"], ["x"], ["rf_fever"], ["rf_fever"], ["rf_pus"], ["rf_faint_now", "rf_faint"]],
            "state": ["resolved"] * 5 + ["open"],
            "created_at": [created] * 6,
            "first_contact_at": [created + pd.Timedelta(minutes=30)] * 5 + [pd.NaT],
            "resolved_at": hours,
        }
    )
    month = cohort.alerts_by_month(alerts).iloc[0]
    assert (month["month"], month["level_1"], month["level_2"], month["level_3"]) == ("2026-03", 2, 3, 1)
    assert not month["suppressed"]  # six patients, but safety counts are never hidden from the clinic
    panel = cohort.alert_resolution(alerts, created + pd.Timedelta(hours=20)).set_index("level")
    assert not panel["suppressed"].any()
    assert (panel.loc[2, "alerts"], panel.loc[2, "resolved"], panel.loc[2, "open"]) == (3, 3, 0)
    assert panel.loc[2, "resolution_median_hours"] == 7.0 and panel.loc[2, "contact_median_hours"] == 0.5
    assert panel.loc[2, "resolution_p90_hours"] == pytest.approx(8.6)
    assert (panel.loc[3, "open"], panel.loc[3, "oldest_open_hours"]) == (1, 20.0)  # one level-3 alert: shown
    flags = cohort.red_flags(alerts, ("rf_fever", "rf_faint")).set_index("flag")
    assert flags.loc["rf_fever", "n"] == 2 and not flags.loc["rf_fever", "suppressed"]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"])
def test_vectorised_windows_agree_with_the_schedule_module(app, zone):
    """Random cohorts over two years (every DST change): the pandas windows equal compute_schedule's,
    window by window, in whole local days of the study's zone, windows staff extended included."""
    protocol, _raw = load_protocol()
    rng = random.Random(7)
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    patients, sessions, extensions, expected = [], [], [], {}
    for pid in range(1, 60):
        enrolled = now - timedelta(days=rng.randint(0, 500), hours=rng.randint(0, 23))
        days, day = [], enrolled.date() + timedelta(days=rng.randint(1, 14))
        for _n in range(rng.choice((0, 1, 3, 4, 6))):
            if day > now.date():
                break
            days.append(day)
            day += timedelta(days=rng.randint(20, 35))
        patients.append({"patient_id": pid, "enrolled_at": enrolled, "status": "active"})
        sessions += [
            {"patient_id": pid, "number": n, "date": datetime.combine(d, time(), UTC), "agents": ""}
            for n, d in enumerate(days, start=1)
        ]
        kept = {}
        if pid % 3:  # staff kept one window open longer (to a day before or after its own close)
            timepoint = rng.choice([w.timepoint for w in compute_schedule(
                protocol, Anchors(enrolled, tuple(enumerate(days, start=1)), zone=zone), now)])
            kept = {timepoint: now.date() + timedelta(days=rng.randint(-400, 30))}
            extensions.append({"patient_id": pid, "timepoint": timepoint,
                               "closes_on": pd.Timestamp(kept[timepoint])})
        anchors = Anchors(enrolled, tuple(enumerate(days, start=1)), zone=zone, extensions=kept)
        for w in compute_schedule(protocol, anchors, now):
            expected[(pid, w.timepoint)] = (w.opens_at, w.due_at, w.overdue_at, w.closes_at, w.state)
    frame = windows.window_frame(
        protocol,
        pd.DataFrame(patients),
        pd.DataFrame(sessions, columns=["patient_id", "number", "date", "agents"]).astype(
            {"date": "datetime64[ns, UTC]"}
        ),
        now,
        zone,
        pd.DataFrame(extensions),
    )
    got = {}
    for row in frame.itertuples():
        bounds = (row.opens_at, row.due_at, row.overdue_at, row.closes_at)
        got[(row.patient_id, row.timepoint)] = (
            *(None if pd.isna(v) else v.to_pydatetime() for v in bounds), row.state)
    assert got == expected


def test_completion_counts_an_extended_window_against_its_extended_close(make_study, make_patient, library):
    """A baseline staff extended is pending while the extension runs (not missed), and an answer
    given in it is late (answered, not missed); read from the database like the dashboard."""
    from reports.dashboards.dashboard import load_frames
    from surveys.domain.patients import extend_window

    study = make_study()
    protocol = study_protocol(study)
    waiting = make_patient(study, "KEPT", enrolled_days_ago=50, sessions_days_ago=(40,))
    answered = make_patient(study, "KEPT-ANSWERED", enrolled_days_ago=50, sessions_days_ago=(40,))
    make_patient(study, "NOT-KEPT", enrolled_days_ago=50, sessions_days_ago=(40,))
    for patient in (waiting, answered):
        extend_window(db.session, patient, "T0", local_today() + timedelta(days=3), reason="phoned",
                      actor="t")
    answer(library, answered, "T0", "who5", WHO5, when=utcnow() - timedelta(hours=1))
    db.session.flush()
    data = load_frames(db.session, study.id, frames.Filters())
    wins = windows.window_frame(protocol, data.patients, data.sessions, utcnow(), extensions=data.extensions)
    done = windows.completion_frame(wins, data.submissions, data.patients, utcnow())
    t0 = done[done["timepoint"] == "T0"].merge(data.patients[["patient_id", "code"]], on="patient_id")
    assert dict(zip(t0["code"], t0["outcome"], strict=True)) == {
        "KEPT": "pending", "KEPT-ANSWERED": "late", "NOT-KEPT": "missed"}
    table = windows.completion_table(done, protocol).set_index("timepoint")
    assert table.loc["T0", "rate"] == pytest.approx(1 / 2)


def test_completion_classifies_on_time_late_missed_and_pending(make_study, make_patient, library):
    study = make_study()
    protocol = study_protocol(study)
    on_time = make_patient(study, "ON", enrolled_days_ago=50, sessions_days_ago=(40,))
    late = make_patient(study, "LATE", enrolled_days_ago=50, sessions_days_ago=(40,))
    make_patient(study, "MISSED", enrolled_days_ago=50, sessions_days_ago=(40,))
    make_patient(study, "WAITING", enrolled_days_ago=3)
    first = datetime.combine(local_today() - timedelta(days=40), time(), UTC)
    answer(library, on_time, "T0", "who5", WHO5, when=first - timedelta(days=2))
    answer(library, late, "T0", "who5", WHO5, when=first + timedelta(hours=5))
    f = frames.Filters()
    pats = frames.patient_frame(db.session, study.id, f)
    wins = windows.window_frame(protocol, pats, frames.session_frame(db.session, study.id, f), utcnow())
    done = windows.completion_frame(wins, frames.submission_frame(db.session, study.id, f), pats, utcnow())
    t0 = done[done["timepoint"] == "T0"].merge(pats[["patient_id", "code"]], on="patient_id")
    assert dict(zip(t0["code"], t0["outcome"], strict=True)) == {
        "ON": "on_time",
        "LATE": "late",
        "MISSED": "missed",
        "WAITING": "pending",
    }
    table = windows.completion_table(done, protocol).set_index("timepoint")
    assert table.loc["T0", "rate"] == pytest.approx(2 / 3)
    assert list(table.index[:2]) == ["T0", "S1"]
