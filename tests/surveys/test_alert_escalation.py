"""Nobody forgets: `alerts escalate` re-notifies on-call and backup for alerts nobody tried to contact,
once per step, with a moved clock (level 3 after N minutes; level 2 at the end of the clinic's day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from surveys.domain.alerts import record_contact_attempt
from surveys.domain.escalation import level2_step, owe_reminders
from surveys.domain.notices import deliver_notices
from surveys.infra.db import db
from tests.smtp_sink import Sink
from tests.surveys.staff_world import BREATHING_NOW, FEVER, alert_of, submit_pirc

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def app_overrides(smtp: tuple[Sink, int]) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "alerts@prom.test"}


@pytest.fixture
def study(make_study: Any) -> Any:
    study = make_study("ESC", oncall_email="oncall@clinic.test")
    study.backup_oncall_email = "backup@clinic.test"
    study.renotify_level3_minutes = 15
    study.clinic_day_end_hour = 18
    return study


def raised_at(alert: Any, moment: datetime) -> Any:
    alert.created_at = alert.level_at = moment
    db.session.flush()
    return alert


def run(now: datetime) -> int:
    """One `alerts escalate` run at `now`: reminders owed, then delivered; how many were sent."""
    owed = owe_reminders(db.session, now)
    db.session.commit()
    return deliver_notices(db.session, "http://localhost", owed, now=now).sent


def test_a_level_3_alert_nobody_called_is_renotified_after_n_minutes_once_per_step(
    study, make_patient, inbox
) -> None:
    start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    alert = raised_at(
        alert_of(submit_pirc(make_patient(study, sessions_days_ago=(1,)), BREATHING_NOW)), start
    )
    assert run(start + timedelta(minutes=14, seconds=59)) == 0
    assert run(start + timedelta(minutes=15)) == 1
    assert run(start + timedelta(minutes=16)) == 0  # the same step: never twice
    assert run(start + timedelta(minutes=29)) == 0  # overlapping runs of the same step
    reminder = [m for m in inbox if "REMINDER" in m["Subject"]]
    assert len(reminder) == 1 and reminder[0]["To"] == "oncall@clinic.test, backup@clinic.test"
    assert f"#{alert.id}" in reminder[0]["Subject"]
    assert run(start + timedelta(minutes=30)) == 1  # the next step
    assert [n.step for n in alert.notices if n.kind == "reminder"] == ["level3:1", "level3:2"]


def test_a_contact_attempt_stops_the_reminders(study, make_patient, make_user, inbox) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    alert = raised_at(
        alert_of(submit_pirc(make_patient(study, sessions_days_ago=(1,)), BREATHING_NOW)), start
    )
    record_contact_attempt(
        db.session, alert, make_user("coordinator", (study,)), channel="phone", result="not_reached"
    )
    assert run(start + timedelta(hours=2)) == 0


def test_a_level_2_alert_is_renotified_when_the_clinic_day_ends_local_time(
    study, make_patient, inbox
) -> None:
    morning = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
    raised_at(
        alert_of(submit_pirc(make_patient(study, sessions_days_ago=(1,)), FEVER)), morning.astimezone(UTC)
    )
    assert run(datetime(2026, 11, 30, 17, 59, tzinfo=PARIS).astimezone(UTC)) == 0
    assert run(datetime(2026, 11, 30, 18, 0, tzinfo=PARIS).astimezone(UTC)) == 1  # 17:00 UTC
    assert run(datetime(2026, 11, 30, 23, 0, tzinfo=PARIS).astimezone(UTC)) == 0
    assert run(datetime(2026, 12, 1, 18, 5, tzinfo=PARIS).astimezone(UTC)) == 1  # the next day's end
    assert len([m for m in inbox if "REMINDER" in m["Subject"]]) == 2


def test_a_level_2_alert_raised_after_hours_waits_for_the_next_days_end() -> None:
    evening = datetime(2026, 11, 30, 19, 30, tzinfo=PARIS).astimezone(UTC)
    assert level2_step(evening, 18, "Europe/Paris", datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)) is None
    assert (
        level2_step(evening, 18, "Europe/Paris", datetime(2026, 12, 1, 18, 0, tzinfo=PARIS))
        == "level2:2026-12-01"
    )
    # Across the change to summer time (29 March 2026), 18:00 is still local 18:00.
    spring = datetime(2026, 3, 28, 12, 0, tzinfo=PARIS).astimezone(UTC)
    assert (
        level2_step(spring, 18, "Europe/Paris", datetime(2026, 3, 29, 16, 0, tzinfo=UTC))
        == "level2:2026-03-29"
    )
    assert (
        level2_step(spring, 18, "Europe/Paris", datetime(2026, 3, 29, 15, 59, tzinfo=UTC))
        == "level2:2026-03-28"
    )


def test_the_escalate_command_takes_a_moved_clock(study, make_patient, runner, inbox) -> None:
    start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    raised_at(alert_of(submit_pirc(make_patient(study, sessions_days_ago=(1,)), BREATHING_NOW)), start)
    db.session.commit()
    result = runner.invoke(args=["alerts", "escalate", "--now", "2026-11-30T10:20:00"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 reminders owed, 1 sent")
    again = runner.invoke(args=["alerts", "escalate", "--now", "2026-11-30T10:21:00+00:00"])
    assert again.output.startswith("0 reminders owed")
    assert runner.invoke(args=["alerts", "escalate", "--now", "yesterday"]).exit_code == 2
