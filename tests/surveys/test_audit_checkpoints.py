"""An audit trail that cannot be quietly rewritten: signed events, signed checkpoints of the head
(in the database and in a file outside it), and on PostgreSQL a table that refuses changes."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError

from surveys.domain.audit import GENESIS, _digest, _event_message, record
from surveys.domain.models import AuditCheckpoint, AuditEvent
from surveys.infra.db import db, utcnow
from surveys.infra.signing import sign
from tests.conftest import allow_audit_tampering


def verify(runner: Any) -> Any:
    return runner.invoke(args=["audit", "verify"])


def events(n: int = 3) -> list[AuditEvent]:
    return [record(db.session, "staff:1", "patient.view", entity="patient", entity_id=i, study_id=1)
            for i in range(n)]


def forge(prev_hash: str, key: Ed25519PrivateKey | None = None, actor: str = "staff:1") -> AuditEvent:
    """An event appended by someone with write access to the database: a correct chain hash, and
    no signature, or one made with a key that is not the app's."""
    at = utcnow()
    digest = _digest(prev_hash, at, actor, "export", None, None, 1, {})
    event = AuditEvent(at=at, actor=actor, action="export", entity=None, entity_id=None, study_id=1,
                       details={}, prev_hash=prev_hash, hash=digest,
                       signature=sign(key, _event_message(digest)) if key else None)
    db.session.add(event)
    db.session.flush()
    return event


@pytest.fixture
def checkpointed(app: Any, runner: Any) -> list[AuditEvent]:
    """Three events and a verify run, which leaves a signed checkpoint."""
    allow_audit_tampering()
    made = events()
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "signed checkpoint written" in result.output
    return made


def test_every_event_is_signed_with_the_apps_key(app) -> None:
    assert all(event.signature for event in events())


def test_a_truncated_trail_is_detected_without_a_kept_head(runner, checkpointed) -> None:
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == checkpointed[-1].id))
    result = verify(runner)
    assert result.exit_code == 1 and "cut short, emptied or recomputed" in result.output


def test_an_emptied_trail_is_detected(runner, checkpointed) -> None:
    db.session.execute(delete(AuditEvent))
    db.session.execute(delete(AuditCheckpoint))  # the checkpoint file outside the database remains
    result = verify(runner)
    assert result.exit_code == 1 and "cut short, emptied or recomputed" in result.output


def test_a_recomputed_trail_is_detected(runner, checkpointed) -> None:
    db.session.execute(delete(AuditEvent))
    previous = GENESIS
    for _ in range(3):
        previous = forge(previous).hash
    result = verify(runner)
    assert result.exit_code == 1 and "cut short, emptied or recomputed" in result.output


@pytest.mark.parametrize("with_other_key", [False, True])
def test_a_forged_append_is_detected(runner, checkpointed, with_other_key: bool) -> None:
    forged = forge(checkpointed[-1].hash, Ed25519PrivateKey.generate() if with_other_key else None)
    result = verify(runner)
    assert result.exit_code == 1 and f"event {forged.id}: is not signed with the app's key" in result.output


def test_a_forged_append_is_refused_by_the_hourly_checkpoint_too(runner, checkpointed) -> None:
    forge(checkpointed[-1].hash)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 1 and "not signed" in result.output
    assert db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).event_id \
        == checkpointed[-1].id  # nothing new was signed


def test_the_hourly_checkpoint_signs_the_head_in_the_database_and_the_file(app, runner) -> None:
    events(2)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    row = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()))
    head = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert (row.event_id, row.head_hash) == (head.id, head.hash)
    file = Path(app.config["AUDIT_CHECKPOINT_FILE"])
    line = json.loads(file.read_text().splitlines()[-1])
    assert line["head_hash"] == head.hash and line["signature"] == row.signature
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(app.config["AUDIT_KEY_FILE"]).stat().st_mode) == 0o600


def test_a_forged_checkpoint_is_reported(runner, checkpointed) -> None:
    db.session.add(AuditCheckpoint(at=utcnow(), event_id=checkpointed[0].id, event_count=1,
                                   head_hash=checkpointed[0].hash, signature="AAAA"))
    db.session.flush()
    result = verify(runner)
    assert result.exit_code == 1 and "not signed with the app's key (forged)" in result.output


def test_new_events_after_a_checkpoint_verify(runner, checkpointed) -> None:
    events(2)
    assert verify(runner).exit_code == 0
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0


def test_on_postgresql_the_trail_refuses_update_and_delete(app) -> None:
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the trigger is PostgreSQL's; SQLite relies on the signatures and checkpoints")
    event = events(1)[0]
    for statement in ("UPDATE audit_event SET actor = 'staff:666' WHERE id = :id",
                      "DELETE FROM audit_event WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
            db.session.execute(text(statement), {"id": event.id})
    assert db.session.get(AuditEvent, event.id).actor == "staff:1"
