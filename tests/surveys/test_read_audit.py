"""Reads of health data are audited (who saw which page of which study and patient); refused
requests are counted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def reads() -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == "read").order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def test_every_page_with_health_data_records_who_read_it(client, login, make_user, make_patient,
                                                         make_study) -> None:
    study = make_study()
    patient = make_patient(study)
    user = make_user("coordinator", (study,))
    login(user)
    pages = {
        f"/studies/{study.code}/patients?q=P0": "staff.patients",
        f"/studies/{study.code}/patients/{patient.code}/manage": "staff.manage",
        f"/studies/{study.code}/worklist": "staff.worklist",
        f"/studies/{study.code}/alerts": "staff.alerts",
        f"/studies/{study.code}/dashboard": "reports.dashboard",
        f"/studies/{study.code}/exports": "exports.index",
        f"/studies/{study.code}/audit": "staff.audit_trail",
    }
    for path in pages:
        assert client.get(path).status_code == 200, path
    seen = reads()
    assert {event.details["page"] for event in seen} >= {p for p in pages.values() if p != "staff.manage"}
    assert all(event.actor == f"staff:{user.id}" and event.study_id == study.id for event in seen)
    manage = [e for e in seen if e.details.get("patient_code") == patient.code]
    assert manage, "the patient's own pages name the patient"
    listing = next(e for e in seen if e.details["page"] == "staff.patients")
    assert listing.details["filters"] == {"q": ["P0"]}


def test_the_patient_record_keeps_its_own_event_and_the_timeline_is_not_a_read(
        client, login, make_user, make_patient, make_study) -> None:
    study = make_study()
    patient = make_patient(study)
    login(make_user("clinician", (study,)))
    assert client.get(f"/studies/{study.code}/patients/{patient.code}").status_code == 200
    assert client.get(f"/studies/{study.code}/timeline").status_code == 200
    assert reads() == []
    views = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.view")).all()
    assert len(views) == 1


@pytest.mark.parametrize("app_overrides", [{"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}])
def test_refused_requests_are_counted_per_day_and_status(app, client, login, make_user, make_study,
                                                         runner) -> None:
    from surveys.staff.read_audit import refused_counts

    study = make_study()
    login(make_user("clinician", (study,)))
    assert client.get(f"/studies/{study.code}/enroll").status_code == 403
    for n in range(11):
        client.get(f"/p/not-a-link-{n}")
    today = refused_counts(1)
    assert (today[0][1], today[0][2]) == (403, 1) and (today[1][1], today[1][2]) == (429, 1)
    assert not reads()


@pytest.mark.parametrize("app_overrides", [{"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}])
def test_refused_requests_are_counted_across_workers_without_redis(app, client, runner, database_url,
                                                                   tmp_path) -> None:
    """Two workers, each with the limiter's own in-memory storage (a second app is a second worker:
    creating it gives the limiter a fresh memory, as a new process would): their refusals add up."""
    from app import create_app
    from surveys.domain.models import RefusedCount
    from surveys.staff.read_audit import refused_counts
    from tests.conftest import app_config

    def guess_links(worker_client: Any, prefix: str) -> None:
        statuses = [worker_client.get(f"/p/{prefix}-{n}").status_code for n in range(11)]
        assert statuses.count(429) == 1

    guess_links(client, "first")
    connection = db.session.get_bind()  # the test's transaction: the second app must use it too
    second = create_app(app_config(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                                   MAIL_OUTBOX=str(tmp_path / "outbox2"),
                                   AUDIT_KEY_FILE=app.config["AUDIT_KEY_FILE"],
                                   AUDIT_CHECKPOINT_FILE=app.config["AUDIT_CHECKPOINT_FILE"]))
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    guess_links(second.test_client(), "second")
    today = refused_counts(1)
    assert (today[1][1], today[1][2]) == (429, 2)
    rows = db.session.scalars(select(RefusedCount)).all()  # one row per day and status, not per request
    assert [(row.status, row.count) for row in rows] == [(429, 2)]
    shown = runner.invoke(args=["audit", "refused", "--days", "1"])
    assert shown.exit_code == 0 and "\t429\t2" in shown.output
