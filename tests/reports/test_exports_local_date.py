"""Exports keep UTC timestamps and add each response's local date in the study's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from reports.exports.tables import LocalDays
from surveys.infra.db import db
from tests.reports.test_exports import answer, download, read_csv


def test_scores_export_adds_the_local_date_beside_the_utc_time(client, login, make_study, make_patient,
                                                               make_user) -> None:
    paris, new_york = make_study("LOCP"), make_study("LOCNY", timezone="America/New_York")
    for study, code in ((paris, "P-1"), (new_york, "N-1")):
        patient = make_patient(study, code)
        response = answer(patient, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)})
        response.submitted_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 in Paris, 18:30 in New York
    user = make_user("coordinator", (paris, new_york))
    db.session.commit()
    login(user)
    for code, local in (("LOCP", "2026-03-02"), ("LOCNY", "2026-03-01")):
        scores = read_csv(download(client, code, "scores").data, dtype=str)
        assert list(scores.submitted_at) == ["2026-03-01T23:30:00Z"]  # UTC, unchanged
        assert list(scores.submitted_local_date) == [local]
        codebook = read_csv(download(client, code, "codebook").data, dtype=str)
        row = codebook[codebook.variable == "submitted_local_date"].iloc[0]
        assert row.type == "date" and ("Europe/Paris" if code == "LOCP" else "America/New_York") in row.label
    deidentified = read_csv(download(client, "LOCP", "scores", deidentified="1").data, dtype=str)
    assert "submitted_local_date" not in deidentified.columns  # a date identifies: days only


def test_local_days_read_stored_text_and_datetimes() -> None:
    days = LocalDays("Europe/Paris")
    assert days("2026-10-25 22:59:59.000000").isoformat() == "2026-10-25"  # 23:59:59 CET
    assert days("2026-10-25 23:00:00.000000").isoformat() == "2026-10-26"
    assert days(datetime(2026, 7, 1, 22, 0)).isoformat() == "2026-07-02"  # naive UTC: 00:00 CEST
    assert days(datetime(2026, 7, 1, 21, 59, tzinfo=UTC)).isoformat() == "2026-07-01"
    assert days(None) is None


def test_days_since_first_session_and_the_date_filter_count_local_days(client, login, make_study,
                                                                        make_patient, make_user) -> None:
    """Paris 00:30 on the session's day and New York 21:00 on it are day 0 (the UTC date says -1 and 1);
    `from`/`to` are local days; `enrolled_on` is the local day of enrollment (issue 17)."""
    import json

    from surveys.domain.patients import record_session

    cases = {"LDP": ("Europe/Paris", date(2026, 3, 2), datetime(2026, 3, 1, 23, 30, tzinfo=UTC)),
             "LDNY": ("America/New_York", date(2026, 3, 1), datetime(2026, 3, 2, 2, 0, tzinfo=UTC))}
    studies = []
    for code, (zone, session_day, submitted) in cases.items():
        study = make_study(code, timezone=zone)
        studies.append(study)
        patient = make_patient(study, f"{code}-1")
        patient.enrolled_at = submitted
        record_session(db.session, patient, actor="test", number=1, day=session_day)
        response = answer(patient, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)})
        response.submitted_at = submitted
    user = make_user("coordinator", tuple(studies))
    db.session.commit()
    login(user)
    for code, (_zone, session_day, _submitted) in cases.items():
        for table in ("long", "scores", "wide"):
            rows = read_csv(download(client, code, table).data, dtype=str)
            assert set(rows.days_since_first_session) == {"0"}, (code, table)
        bundle = json.loads(download(client, code, "fhir", deidentified="1").data)
        days = [ext["valueInteger"] for entry in bundle["entry"]
                for ext in entry["resource"].get("extension", []) if "valueInteger" in ext]
        assert days == [0], code
        patients = read_csv(download(client, code, "patients").data, dtype=str)
        assert list(patients.enrolled_on) == [session_day.isoformat()], code
        day = session_day.isoformat()
        kept = read_csv(download(client, code, "scores", **{"from": day, "to": day}).data, dtype=str)
        assert len(kept) == 1, code
        other = (session_day - timedelta(days=1)).isoformat() if code == "LDP" else \
            (session_day + timedelta(days=1)).isoformat()
        left = read_csv(download(client, code, "scores", **{"from": other, "to": other}).data, dtype=str)
        assert len(left) == 0, code


def test_the_dashboards_enrollment_filter_takes_local_days(app, make_study, make_patient) -> None:
    """Enrolled at 23:30 UTC on 1 March: 2 March in Paris, 1 March in New York (issue 17)."""
    from sqlalchemy import select

    from reports.dashboards.cohort_filters import Filters, cohort_conditions
    from surveys.domain.models import Patient

    for zone, local in (("Europe/Paris", date(2026, 3, 2)), ("America/New_York", date(2026, 3, 1))):
        study = make_study(timezone=zone)
        patient = make_patient(study)
        patient.enrolled_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        db.session.flush()

        def chosen(day: date, study=study, zone=zone) -> list[str]:
            filters = Filters(enrolled_from=day, enrolled_to=day, zone=zone)
            return list(db.session.scalars(select(Patient.code).where(*cohort_conditions(study.id, filters))))

        assert chosen(local) == [patient.code], zone
        assert chosen(local + timedelta(days=1)) == [] and chosen(local - timedelta(days=1)) == [], zone


def test_the_dashboard_page_filters_by_the_studys_local_days(client, login, make_user, make_study,
                                                             monkeypatch) -> None:
    import pytest

    import reports.dashboards.dashboard as dashboard

    class Seen(Exception):
        pass

    def capture(_session, _study_id, _protocol, _library, filters, *_rest):
        raise Seen(filters)

    monkeypatch.setattr(dashboard, "build_dashboard", capture)
    study = make_study(timezone="America/New_York")
    login(make_user("clinician", (study,)))
    with pytest.raises(Seen) as seen:
        client.get(f"/studies/{study.code}/dashboard?enrolled_from=2026-03-01")
    filters = seen.value.args[0]
    assert (filters.enrolled_from, filters.zone) == (date(2026, 3, 1), "America/New_York")
