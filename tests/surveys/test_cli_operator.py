"""Every command-line action that writes to the audit trail names who did it: the staff account given
with `--as EMAIL`, or, explicitly, the operating-system user; never an anonymous "cli" (issue 15).
An unknown or deactivated `--as` account changes nothing."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.domain.models import AuditEvent
from surveys.domain.patients import study_today
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

# name -> (the command's arguments for study ST-OP and patient OP-1, the audit action it writes)
Build = Callable[[Any, Path], list[str]]
COMMANDS: dict[str, tuple[Build, str]] = {
    "patients enroll": (lambda s, _t: ["patients", "enroll", s.code, "OP-NEW"], "patient.enroll"),
    "patients withdraw": (lambda s, _t: ["patients", "withdraw", s.code, "OP-1", "--on",
                                         study_today(s).isoformat(), "--reason", "lost_to_follow_up"],
                          "patient.withdraw"),
    "patients complete": (lambda s, _t: ["patients", "complete", "--study", s.code], "patient.complete"),
    "patients erase": (lambda s, _t: ["patients", "erase", s.code, "OP-1", "--yes"], "patient.erase"),
    "patients access": (lambda s, t: ["patients", "access", s.code, "OP-1", "--out", str(t / "a.zip")],
                        "patient.access"),
    "studies set": (lambda s, _t: ["studies", "set", s.code, "--name", "Renamed"], "study.settings"),
    "sessions record": (lambda s, _t: ["sessions", "record", s.code, "OP-1", "--number", "2", "--date",
                                       (study_today(s) - timedelta(days=1)).isoformat()], "session.create"),
    "sessions import": (lambda s, t: ["sessions", "import", s.code, str(t / "log.csv")], "session.create"),
    "studies amend": (lambda s, t: ["studies", "amend", s.code, str(_amendment(s, t)), "--reason", "W8"],
                      "study.protocol_amend"),
    "export": (lambda s, t: ["export", s.code, "--format", "long", "--out", str(t / "long.csv")], "export"),
}


def _amendment(study: Any, folder: Path) -> Path:
    """A protocol amendment file for the study: version 2.1, one more timepoint (W8)."""
    from tests.surveys.test_protocol_amendments import amended

    path = folder / "amendment.json"
    path.write_text(json.dumps(amended(study)), encoding="utf-8")
    return path


@pytest.fixture
def world(make_study: Any, make_patient: Any, make_user: Any, tmp_path: Path) -> tuple[Any, Any]:
    study = make_study("ST-OP")
    # Enrolled long ago, treated once long ago: every window has closed (`patients complete` marks it).
    make_patient(study, "OP-1", enrolled_days_ago=900, sessions_days_ago=(890,))
    user = make_user("coordinator", (study,), email="nurse@clinic.test")
    (tmp_path / "log.csv").write_text(
        f"patient,number,date\nOP-1,2,{(study_today(study) - timedelta(days=2)).isoformat()}\n")
    db.session.commit()
    return study, user


def _last(action: str) -> AuditEvent | None:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action)
                             .order_by(AuditEvent.id.desc()).limit(1))


@pytest.mark.parametrize("as_staff", [True, False], ids=["as-staff", "os-user"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_names_the_staff_account_or_the_operating_system_user(name, as_staff, runner, world,
                                                                          tmp_path) -> None:
    study, user = world
    build, action = COMMANDS[name]
    named = ["--as", "NURSE@clinic.test"] if as_staff else []
    result = runner.invoke(args=[*build(study, tmp_path), *named])
    assert result.exit_code == 0, result.output
    event = _last(action)
    assert event is not None
    assert event.actor == (f"staff:{user.id}" if as_staff else f"os-user:{getpass.getuser()}")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unknown_or_deactivated_as_account_changes_nothing(name, runner, world, tmp_path) -> None:
    study, user = world
    build, _action = COMMANDS[name]
    user.active = False
    db.session.commit()
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    for who in ("nobody@clinic.test", user.email):
        result = runner.invoke(args=[*build(study, tmp_path), "--as", who])
        assert result.exit_code != 0
        assert "No staff account" in result.output or "deactivated" in result.output
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events


def test_no_command_attributes_an_action_to_an_anonymous_cli() -> None:
    sources = [*Path("surveys").rglob("*.py"), *Path("reports").rglob("*.py")]
    offenders = [str(path) for path in sources if 'actor="cli"' in path.read_text()]
    assert offenders == []
