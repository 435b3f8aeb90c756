"""An audited read (a data subject's access archive, an export) records its audit event after reading
for a while. On SQLite a read transaction cannot become a write once another connection has written
meanwhile: SQLite answers "database is locked" at once (SQLITE_BUSY_SNAPSHOT; the busy time-out does
not wait), and the admin got a 503 whenever a patient answered during the download.

These tests need connections of their own on one database file: the suite's usual fixtures run each
test in one outer transaction, which holds SQLite's write lock for the whole test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

import reports.exports.access as access_module
import reports.exports.files as files_module
from reports.exports.access import access_archive
from reports.exports.options import parse_options
from reports.exports.runs import open_export
from surveys.domain.audit import record, verify_chain
from surveys.domain.models import AuditEvent, Patient, Study
from surveys.domain.patients import enroll_patient
from surveys.domain.studies import create_study
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.conftest import app_config, fresh_database_url
from tests.reports.test_exports import answer


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[Flask]:
    """An app on a SQLite file of its own, its session on the engine (no outer test transaction)."""
    from app import create_app

    url = fresh_database_url("sqlite", tmp_path)
    application = create_app(app_config(url, MAIL_OUTBOX=str(tmp_path / "outbox"),
                                        AUDIT_KEY_FILE=str(tmp_path / "audit_key.pem"),
                                        AUDIT_CHECKPOINT_FILE=str(tmp_path / "audit_checkpoints.jsonl")))
    with application.app_context():
        db.session.remove()
        db.session.configure(bind=db.engine, join_transaction_mode="conditional_savepoint")
        study = create_study(db.session, "READS", "Audited reads", instruments(), actor="test")
        patient, _token = enroll_patient(db.session, study, "R-1", actor="test")
        db.session.commit()
        answer(patient, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)}, submitted_days_ago=1)
        db.session.commit()
        yield application
        db.session.remove()
        db.engine.dispose()


def someone_writes() -> None:
    """Another connection writes and commits: a patient answering, a staff step."""
    with Session(db.engine) as other:
        record(other, "staff:0", "test.write_meanwhile")
        other.commit()


def then_someone_writes(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, followed by another connection's write (its result returned as is)."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        someone_writes()
        return result

    return wrapped


def _last_actions(n: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(n)))


def test_sqlite_refuses_to_turn_a_read_into_a_write_after_another_connection_wrote(own_database) -> None:
    """The rule the audited reads work around (why the plain order failed)."""
    db.session.scalar(select(AuditEvent.id).limit(1))  # the read starts a snapshot
    someone_writes()
    with pytest.raises(OperationalError, match="database is locked"):
        record(db.session, "staff:0", "test.after_read")
    db.session.rollback()


def test_the_access_archive_is_audited_after_another_connection_wrote(own_database, monkeypatch) -> None:
    monkeypatch.setattr(access_module, "summary_html", then_someone_writes(access_module.summary_html))
    patient = db.session.scalar(select(Patient).where(Patient.code == "R-1"))
    data = access_archive(db.session, patient, instruments(), actor="staff:1", via="test")
    db.session.commit()
    assert data.startswith(b"PK")
    assert _last_actions(2) == ["patient.access", "test.write_meanwhile"]
    assert verify_chain(db.session) == []


def test_an_export_is_audited_after_another_connection_wrote(own_database, monkeypatch) -> None:
    rows = files_module.GENERATORS["scores.csv"]

    def scores_then_a_write(*args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        yield from rows(*args, **kwargs)
        someone_writes()

    monkeypatch.setitem(files_module.GENERATORS, "scores.csv", scores_then_a_write)
    study = db.session.scalar(select(Study).where(Study.code == "READS"))
    options = parse_options("scores", MultiDict(), study, instruments())
    download = open_export(db.session, study, options, instruments(), actor="staff:1", via="test")
    assert b"".join(download.chunks).count(b"\n") == 2  # the header and the one response
    assert _last_actions(2) == ["export", "test.write_meanwhile"]
    assert verify_chain(db.session) == []
