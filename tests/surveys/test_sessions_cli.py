"""`flask patients enroll --enrolled-on`, `flask sessions record` and `flask sessions import`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from surveys.domain.models import AuditEvent, Patient, TreatmentSession
from surveys.domain.patients import local_day_start
from surveys.infra.db import db
from tests.today import local_today


def sessions_of(patient_id: int) -> list[tuple[int, date, bool]]:
    rows = db.session.execute(
        select(TreatmentSession.number, TreatmentSession.date, TreatmentSession.planned)
        .where(TreatmentSession.patient_id == patient_id).order_by(TreatmentSession.number)
    )
    return [tuple(row) for row in rows]


def test_a_patient_already_in_treatment_is_enrolled_back_dated_with_earlier_sessions(runner, make_study):
    study = make_study("BACK")
    enrolled = local_today() - timedelta(days=30)
    result = runner.invoke(args=["patients", "enroll", "BACK", "R01", "--enrolled-on", enrolled.isoformat(),
                                 "--sex", "male"])
    assert result.exit_code == 0, result.output
    patient = db.session.scalar(select(Patient).where(Patient.study_id == study.id))
    assert patient.enrolled_at == local_day_start(study, enrolled)
    first = local_today() - timedelta(days=60)
    result = runner.invoke(args=["sessions", "record", "BACK", "R01", "--number", "1", "--date",
                                 first.isoformat(), "--agents", "dutasteride"])
    assert result.exit_code == 0, result.output
    assert "no baseline" in result.output  # stderr is mixed in: the missing baseline is said, not invented
    assert sessions_of(patient.id) == [(1, first, False)]


def test_sessions_record_plans_ahead_and_warns_about_an_unanswered_baseline(runner, make_patient):
    patient = make_patient(code="PL1", enrolled_days_ago=1)
    study = patient.study.code
    ahead = local_today() + timedelta(days=14)
    result = runner.invoke(args=["sessions", "record", study, "PL1", "--number", "1",
                                 "--date", ahead.isoformat(), "--planned"])
    assert result.exit_code == 0, result.output
    assert "planned" in result.output and "has not answered the baseline" in result.output
    refused = runner.invoke(args=["sessions", "record", study, "PL1", "--number", "2", "--date",
                                  (ahead + timedelta(days=28)).isoformat()])
    assert refused.exit_code != 0 and "cannot be in the future" in refused.output
    assert sessions_of(patient.id) == [(1, ahead, True)]
    bad_date = runner.invoke(args=["sessions", "record", study, "PL1", "--number", "1",
                                   "--date", "12/01/2026"])
    assert bad_date.exit_code != 0 and "YYYY-MM-DD" in bad_date.output


def test_sessions_import_stores_a_whole_treatment_log(runner, make_patient, tmp_path: Path):
    one = make_patient(code="I01", enrolled_days_ago=100, sex="male")
    two = make_patient(study=one.study, code="I02", enrolled_days_ago=100)
    d = [local_today() - timedelta(days=n) for n in (90, 60, 30)]
    log = tmp_path / "log.csv"
    log.write_text("\ufeffpatient;number;date;agents;planned\n"
                   f"I01;2;{d[1]};dutasteride;\n"  # out of order: applied by number
                   f"I01;1;{d[0]};dutasteride;no\n"
                   f"I02;1;{d[2]};\"biotin; zinc\";\n"
                   f"I02;2;{local_today() + timedelta(days=5)};;yes\n", encoding="utf-8")
    result = runner.invoke(args=["sessions", "import", one.study.code, str(log)])
    assert result.exit_code == 0, result.output
    assert "4 session(s) created" in result.output
    assert sessions_of(one.id) == [(1, d[0], False), (2, d[1], False)]
    assert sessions_of(two.id)[1][2] is True
    again = runner.invoke(args=["sessions", "import", one.study.code, str(log)])
    assert "0 session(s) created, 0 updated, 4 unchanged" in again.output


def test_a_bad_row_is_reported_with_its_line_and_nothing_is_stored(runner, make_patient, tmp_path: Path):
    patient = make_patient(code="X01", enrolled_days_ago=100)
    db.session.commit()
    log = tmp_path / "log.csv"
    log.write_text("patient,number,date\n"
                   f"X01,1,{local_today() - timedelta(days=50)}\n"
                   f"X01,2,{local_today() - timedelta(days=20)}\n"
                   "X01,3,2026-13-01\n"
                   f"NOBODY,1,{local_today() - timedelta(days=3)}\n"
                   f"X01,4,{local_today() + timedelta(days=3)}\n", encoding="utf-8")
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    result = runner.invoke(args=["sessions", "import", patient.study.code, str(log)])
    assert result.exit_code != 0
    assert "line 4: date '2026-13-01' is not YYYY-MM-DD" in result.output
    assert "line 5: no patient NOBODY" in result.output
    assert "line 6: patient X01 session 4" in result.output
    assert "Nothing of log.csv was stored" in result.output
    assert sessions_of(patient.id) == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_file_without_the_columns_is_refused_at_line_1(runner, make_study, tmp_path: Path):
    study = make_study("HDR")
    log = tmp_path / "log.csv"
    log.write_text("code,when\nA,2026-01-01\n", encoding="utf-8")
    result = runner.invoke(args=["sessions", "import", study.code, str(log)])
    assert result.exit_code != 0 and "line 1: missing column(s) patient, number, date" in result.output
