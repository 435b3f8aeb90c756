"""The audit trail is hash-chained: any edit, deletion or reordering is detected."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from surveys.domain.audit import GENESIS, record, verify_chain
from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from tests.conftest import allow_audit_tampering


def _three_events() -> list[AuditEvent]:
    return [record(db.session, "staff:1", "patient.view", entity="patient", entity_id=i, study_id=1,
                   details={"n": i}) for i in range(3)]


@pytest.fixture(autouse=True)
def _attacker_owns_the_database(app) -> None:
    allow_audit_tampering()


def test_an_untouched_chain_verifies(app) -> None:
    _three_events()
    assert verify_chain(db.session) == []


def test_each_event_carries_the_previous_hash(app) -> None:
    events = _three_events()
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    first = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id).limit(1))
    assert first.prev_hash == GENESIS


def test_an_edited_event_is_detected(app) -> None:
    events = _three_events()
    db.session.execute(update(AuditEvent).where(AuditEvent.id == events[1].id).values(actor="staff:2"))
    db.session.expire_all()
    problems = verify_chain(db.session)
    assert [p.event_id for p in problems] == [events[1].id]
    assert "edited" in problems[0].problem


def test_a_deleted_event_is_detected(app) -> None:
    events = _three_events()
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    db.session.expire_all()
    problems = verify_chain(db.session)
    assert [p.event_id for p in problems] == [events[2].id]
    assert "deleted or reordered" in problems[0].problem


def test_edited_details_are_detected(app) -> None:
    events = _three_events()
    db.session.execute(update(AuditEvent).where(AuditEvent.id == events[0].id).values(details={"n": 99}))
    db.session.expire_all()
    assert [p.event_id for p in verify_chain(db.session)] == [events[0].id]
