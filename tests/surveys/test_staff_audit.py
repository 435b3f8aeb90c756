"""`flask --app app audit verify`: an intact trail passes; any edit, deletion or reordering fails."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, update

from surveys.domain.audit import record
from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from tests.conftest import allow_audit_tampering
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def trail(n: int = 4) -> list[AuditEvent]:
    return [record(db.session, "staff:1", "patient.view", entity="patient", entity_id=i, study_id=1,
                   details={"old": None, "new": {"n": i}}) for i in range(n)]


def verify(runner: Any, *args: str) -> Any:
    db.session.expire_all()
    return runner.invoke(args=["audit", "verify", *args])


@pytest.fixture(autouse=True)
def _attacker_owns_the_database(app) -> None:
    allow_audit_tampering()


def test_an_intact_trail_verifies_and_prints_its_head(runner) -> None:
    events = trail()
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "intact: 4 events checked" in result.output and events[-1].hash in result.output


def test_an_edited_event_fails_and_is_named(runner) -> None:
    events = trail()
    db.session.execute(update(AuditEvent).where(AuditEvent.id == events[1].id).values(actor="staff:666"))
    result = verify(runner)
    assert result.exit_code == 1
    assert f"event {events[1].id}: content does not match its hash (edited)" in result.output
    assert f"event {events[2].id}" not in result.output


def test_an_edited_old_value_fails(runner) -> None:
    events = trail()
    db.session.execute(update(AuditEvent).where(AuditEvent.id == events[0].id)
                       .values(details={"old": None, "new": {"n": 42}}))
    result = verify(runner)
    assert result.exit_code == 1 and f"event {events[0].id}" in result.output


def test_a_deleted_event_fails_and_the_next_one_is_named(runner) -> None:
    events = trail()
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == events[2].id))
    result = verify(runner)
    assert result.exit_code == 1
    assert f"event {events[3].id}: does not follow the previous event" in result.output


def test_reordered_events_fail(runner) -> None:
    events = trail()
    a, b = events[1], events[2]
    values = {c: getattr(a, c) for c in ("at", "actor", "action", "entity", "entity_id", "details")}
    db.session.execute(update(AuditEvent).where(AuditEvent.id == a.id).values(
        **{c: getattr(b, c) for c in values}))
    db.session.execute(update(AuditEvent).where(AuditEvent.id == b.id).values(**values))
    result = verify(runner)
    assert result.exit_code == 1 and f"event {a.id}" in result.output


def test_events_cut_off_the_end_are_caught_by_a_recorded_head(runner) -> None:
    events = trail()
    head = events[-1].hash
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == events[-1].id))  # cut off the newest event
    assert verify(runner).exit_code == 0  # the chain alone cannot tell a shortened trail
    result = verify(runner, "--head", head)
    assert result.exit_code == 1 and "no longer in the trail" in result.output


def test_logins_views_and_changes_all_land_in_the_chain(client, login, make_user, make_study, runner) -> None:
    study = make_study()
    login(make_user("coordinator", (study,)))
    client.post(f"/studies/{study.code}/enroll", data={"code": "AUD-1", "language": "en"})
    client.post("/login", data={"email": "x@clinic.test", "password": "wrong password"})
    actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert {"study.create", "login.success", "patient.enroll", "login.failure"} <= set(actions)
    assert verify(runner).exit_code == 0


def test_the_trail_page_is_for_the_studys_staff_only(client, login, make_user, make_study) -> None:
    mine, theirs = make_study("MINE"), make_study("THEIRS")
    login(make_user("clinician", (mine,)))
    assert client.get("/studies/MINE/audit").status_code == 200
    assert client.get("/studies/THEIRS/audit").status_code == 404
    assert theirs.code not in client.get("/studies/MINE/audit").get_data(as_text=True)


def test_every_action_the_code_records_has_a_label_in_english_and_french(app) -> None:
    """The audit page and the access summary word each action from one table: a code missing there
    reaches readers raw (patient.enroll, reauth.failure)."""
    import ast
    from pathlib import Path

    from flask_babel import force_locale

    from surveys.domain.audit_labels import ACTION_LABELS

    root = Path(__file__).resolve().parents[2]
    recorded: set[str] = set()
    for path in [*root.joinpath("surveys").rglob("*.py"), *root.joinpath("reports").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 3:
                continue
            if getattr(node.func, "id", getattr(node.func, "attr", "")) == "record":
                action = node.args[2]
                for value in ([action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        recorded.add(value.value)
    assert len(recorded) > 40 and recorded <= set(ACTION_LABELS), sorted(recorded - set(ACTION_LABELS))
    with app.test_request_context():
        with force_locale("en"):
            english = {code: str(label) for code, label in ACTION_LABELS.items()}
        with force_locale("fr"):
            untranslated = [code for code, label in ACTION_LABELS.items() if str(label) == english[code]]
    assert untranslated == []
