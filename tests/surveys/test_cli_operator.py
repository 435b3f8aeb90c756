"""Every command-line action that writes to the audit trail names who did it: the staff account given
with `--as EMAIL`, or, explicitly, the operating-system user; never an anonymous "cli" (issue 15).
An unknown or deactivated `--as` account changes nothing, and so does one without the role the web
asks for the same action."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.domain.models import AuditEvent, StaffUser
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
    "studies consent-add": (lambda s, t: ["studies", "consent-add", s.code, "9.0", "--en", str(t / "en.txt"),
                                          "--fr", str(t / "fr.txt")], "consent.version"),
    "sessions record": (lambda s, _t: ["sessions", "record", s.code, "OP-1", "--number", "2", "--date",
                                       (study_today(s) - timedelta(days=1)).isoformat()], "session.create"),
    "sessions import": (lambda s, t: ["sessions", "import", s.code, str(t / "log.csv")], "session.create"),
    "studies amend": (lambda s, t: ["studies", "amend", s.code, str(_amendment(s, t)), "--reason", "W8"],
                      "study.protocol_amend"),
    "export": (lambda s, t: ["export", s.code, "--format", "long", "--out", str(t / "long.csv")], "export"),
}


#: The commands only an administrator may run with --as (as on the web); the others need a coordinator.
ADMIN_ONLY = {"patients erase", "patients access"}


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
    make_user("admin", (study,), email="head@clinic.test")
    (tmp_path / "log.csv").write_text(
        f"patient,number,date\nOP-1,2,{(study_today(study) - timedelta(days=2)).isoformat()}\n")
    (tmp_path / "en.txt").write_text("I agree to take part.", encoding="utf-8")
    (tmp_path / "fr.txt").write_text("J'accepte de participer.", encoding="utf-8")
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
    if name in ADMIN_ONLY:
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "head@clinic.test"))
    named = ["--as", user.email.upper()] if as_staff else []
    result = runner.invoke(args=[*build(study, tmp_path), *named])
    assert result.exit_code == 0, result.output
    event = _last(action)
    assert event is not None
    assert event.actor == (f"staff:{user.id}" if as_staff else f"os-user:{getpass.getuser()}")


# A command, and a role the web refuses the same action.
REFUSED = [("patients enroll", "clinician"), ("patients withdraw", "clinician"),
           ("patients erase", "coordinator"), ("patients access", "coordinator"),
           ("sessions record", "clinician"), ("sessions import", "clinician"),
           ("studies amend", "clinician"), ("studies set", "clinician"), ("studies consent-add", "clinician"),
           ("export", "clinician")]


@pytest.mark.parametrize(("name", "role"), REFUSED)
def test_an_as_account_without_the_role_the_web_asks_changes_nothing(name, role, runner, make_user, world,
                                                                     tmp_path) -> None:
    study, _user = world
    build, _action = COMMANDS[name]
    someone = make_user(role, (study,), email="someone@clinic.test")
    db.session.commit()
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    result = runner.invoke(args=[*build(study, tmp_path), "--as", someone.email])
    assert result.exit_code == 1 and f"is a {role}" in result.output and "administrator" in result.output
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "long.csv").exists()


def test_the_account_commands_refuse_an_as_account_that_is_not_an_admin(runner, make_user, world) -> None:
    study, coordinator = world
    target = make_user("clinician", (study,), email="target@clinic.test")
    db.session.commit()
    for args in (["users", "deactivate", target.email], ["users", "reset-totp", target.email],
                 ["users", "set-role", target.email, "--role", "coordinator"],
                 ["users", "create", "new@clinic.test", "--role", "admin", "--password-stdin"]):
        result = runner.invoke(args=[*args, "--as", coordinator.email], input="a long enough password 1\n")
        assert result.exit_code == 1 and "only an administrator" in result.output, args
    db.session.expire_all()
    assert (target.active, target.role) == (True, "clinician")
    assert db.session.scalar(select(StaffUser).where(StaffUser.email == "new@clinic.test")) is None


def test_a_clinician_may_export_de_identified_data_from_the_command_line(runner, make_user, world,
                                                                         tmp_path) -> None:
    study, _user = world
    clinician = make_user("clinician", (study,), email="doctor@clinic.test")
    db.session.commit()
    result = runner.invoke(args=["export", study.code, "--format", "long", "--deidentified",
                                 "--out", str(tmp_path / "long.csv"), "--as", clinician.email])
    assert result.exit_code == 0, result.output


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
