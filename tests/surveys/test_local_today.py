"""Dates checked against "today" and hours counted from a session use the study's local calendar, not
UTC: a Paris session recorded at 00:30 local is today's, a New York one typed in the evening for the
next UTC day is in the future; "hours since the session" start at local midnight (issue 17).

Every test moves the clock (`utcnow` of the modules concerned) and runs in Europe/Paris and
America/New_York.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from surveys.domain import participation, patients
from surveys.domain import responses as responses_module
from surveys.domain.models import Alert
from surveys.domain.patients import EnrollmentError, enroll_patient, record_session
from surveys.domain.responses import alert_context, start_response
from surveys.domain.sessions_import import SessionImportError, import_sessions
from surveys.domain.triage import follow_up
from surveys.infra.db import db
from surveys.infra.library import instruments

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
DAY = date(2026, 12, 2)


def local(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    """A local wall time as an aware UTC instant."""
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


# The moved clocks: local today differs from the UTC date at both.
# Paris, 00:30 on 2 December = 23:30 UTC on 1 December: the 2nd is today, though UTC says the 1st.
# New York, 21:00 on 1 December = 02:00 UTC on 2 December: the 2nd is tomorrow, though UTC says today.
CLOCKS = {"paris": (PARIS, local(PARIS, DAY, 0, 30), True),
          "new-york": (NEW_YORK, local(NEW_YORK, date(2026, 12, 1), 21), False)}


@pytest.fixture(params=sorted(CLOCKS))
def clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[ZoneInfo, datetime, bool]:
    """(zone, moved clock, whether 2 December is today or past there)."""
    zone, now, allowed = CLOCKS[request.param]
    for module in (patients, participation, responses_module):
        monkeypatch.setattr(module, "utcnow", lambda: now)
    return zone, now, allowed


@pytest.fixture
def patient(clock: Any, make_study: Any) -> Any:
    zone, _now, _allowed = clock
    study = make_study(timezone=zone.key)
    patient, _token = enroll_patient(db.session, study, "LOC1", actor="test",
                                     enrolled_at=datetime(2026, 11, 1, 10, tzinfo=UTC))
    return patient


def test_a_session_is_checked_against_the_local_today(clock, patient) -> None:
    _zone, _now, allowed = clock
    if allowed:
        assert record_session(db.session, patient, actor="t", number=1, day=DAY).date == DAY
    else:
        with pytest.raises(EnrollmentError, match="future"):
            record_session(db.session, patient, actor="t", number=1, day=DAY)


def test_a_planned_session_is_checked_against_the_local_today(clock, patient) -> None:
    _zone, _now, allowed = clock
    day_before = date(2026, 12, 1)
    if allowed:  # in Paris the 1st is yesterday: too late to plan
        with pytest.raises(EnrollmentError, match="today or later"):
            record_session(db.session, patient, actor="t", number=1, day=day_before, planned=True)
    else:
        assert record_session(db.session, patient, actor="t", number=1, day=day_before, planned=True).planned


def test_the_command_line_checks_a_session_against_the_local_today(clock, patient, runner) -> None:
    _zone, _now, allowed = clock
    db.session.commit()
    result = runner.invoke(args=["sessions", "record", patient.study.code, patient.code, "--number", "1",
                                 "--date", DAY.isoformat()])
    assert (result.exit_code == 0) is allowed, result.output


def test_an_imported_session_is_checked_against_the_local_today(clock, patient) -> None:
    _zone, _now, allowed = clock
    content = f"patient,number,date\n{patient.code},1,{DAY.isoformat()}\n".encode()
    if allowed:
        assert import_sessions(db.session, patient.study, content, actor="t").created == 1
    else:
        with pytest.raises(SessionImportError, match="line 2"):
            import_sessions(db.session, patient.study, content, actor="t")


def test_a_back_dated_enrollment_is_checked_against_the_local_today(clock, make_study) -> None:
    zone, _now, allowed = clock
    study = make_study(timezone=zone.key)
    if allowed:
        enrolled, _token = enroll_patient(db.session, study, "LOC2", actor="t", enrolled_on=DAY)
        assert enrolled.enrolled_at == local(zone, DAY, 0)
    else:
        with pytest.raises(EnrollmentError, match="future"):
            enroll_patient(db.session, study, "LOC2", actor="t", enrolled_on=DAY)


def test_a_withdrawal_date_is_checked_against_the_local_today(clock, patient) -> None:
    _zone, _now, allowed = clock
    if allowed:
        participation.withdraw_patient(db.session, patient, on=DAY, reason="lost_to_follow_up", note="",
                                       actor="t")
        assert patient.status == "withdrawn"
    else:
        with pytest.raises(participation.ParticipationError):
            participation.withdraw_patient(db.session, patient, on=DAY, reason="lost_to_follow_up", note="",
                                           actor="t")


@pytest.mark.parametrize("zone", [PARIS, NEW_YORK], ids=["paris", "new-york"])
@pytest.mark.parametrize("hours", [47.5, 48.5, 71.5, 72.5])
def test_hours_since_the_session_count_from_local_midnight(zone, hours, make_study) -> None:
    # pirc 2.0's time rules turn at 48 h and 72 h: half an hour either side of each edge.
    study = make_study(timezone=zone.key)
    patient, _token = enroll_patient(db.session, study, "LOC3", actor="t",
                                     enrolled_at=datetime(2026, 11, 1, 10, tzinfo=UTC))
    session_day = date(2026, 11, 28)
    treatment = record_session(db.session, patient, actor="t", number=1, day=session_day)
    response = start_response(db.session, patient, "S1", instruments()["pirc"], "en", treatment)
    midnight = local(zone, session_day, 0)
    now = datetime.fromtimestamp(midnight.timestamp() + hours * 3600, UTC)
    context = alert_context(db.session, response, now=now)
    assert context.hours_since_session == pytest.approx(hours)


@pytest.mark.parametrize("zone", [PARIS, NEW_YORK], ids=["paris", "new-york"])
def test_a_recheck_is_due_72_hours_after_local_midnight(app, zone) -> None:
    inst = instruments()["pirc"]
    rule = next(r for r in inst.alert_rules if r.get("task", {}).get("kind") == "recheck")
    alert = Alert(response_id=1, level=1, reasons=[rule["id"]])
    due = follow_up(alert, inst, date(2026, 11, 28), zone).recheck_at
    hours = rule["task"]["hours_after_session"]
    assert due is not None
    assert (due - local(zone, date(2026, 11, 28), 0)).total_seconds() == hours * 3600


@pytest.mark.parametrize(("zone", "day"), [(PARIS, "2026-03-02"), (NEW_YORK, "2026-03-01")],
                         ids=["paris", "new-york"])
def test_an_erasure_records_the_local_day_of_enrollment(zone, day, make_study) -> None:
    from sqlalchemy import select

    from surveys.domain.erasure import erase_patient
    from surveys.domain.models import AuditEvent

    study = make_study(timezone=zone.key)
    patient, _token = enroll_patient(db.session, study, "LOC4", actor="t",
                                     enrolled_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    erase_patient(db.session, patient, reason="data_subject_request", actor="t")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.erase"))
    assert event.details["enrolled_on"] == day
