"""Migration 0005 keeps existing data: withdrawn patients keep their status, responses survive the
recreated patient table; and the downgrade keeps rows.

On SQLite a batch migration recreates the table: with foreign keys on, dropping the old `patient`
table deleted every response ON DELETE CASCADE. This test caught it (see migrations/env.py)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import Connection, text

from surveys.infra import migrate
from surveys.infra.db import make_engine


def _old_study_and_patient(conn: Connection, code: str, status: str) -> None:
    """Study 1 'OLD' and its patient 1, as rows written before the newer migrations."""
    conn.execute(text(
        "INSERT INTO study (id, code, name, protocol_id, protocol_version, protocol, contact,"
        " emergency_number, show_scores_to_patients, created_at)"
        " VALUES (1, 'OLD', 'Old', 'p', '3.2', '{}', '', '112', 1, '2026-01-01 00:00:00')"))
    conn.execute(text(
        "INSERT INTO patient (id, study_id, code, prior_treatments, language, status, enrolled_at,"
        " created_at) VALUES (1, 1, :code, '[]', 'en', :status, '2026-01-02 00:00:00',"
        " '2026-01-02 00:00:00')"), {"code": code, "status": status})


def test_lifecycle_migrations_keep_existing_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate.upgrade(url, "0004")
    engine = make_engine(url)
    with engine.begin() as conn:
        _old_study_and_patient(conn, "W", "withdrawn")
        conn.execute(text(
            "INSERT INTO response (id, patient_id, timepoint, instrument_id, instrument_version, language,"
            " status, started_at, flags)"
            " VALUES (1, 1, 'T0', 'who5', '1.0', 'en', 'submitted', '2026-01-03 00:00:00', '[]')"))
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status, status_on, withdrawal_reason FROM patient")).one() == (
            "withdrawn", None, None)
        assert conn.execute(text("SELECT count(*) FROM response")).scalar_one() == 1
    engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0004")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM response")).scalar_one() == 1
        assert conn.execute(text("SELECT status FROM patient")).scalar_one() == "withdrawn"
    engine.dispose()


def test_the_consent_migration_keeps_studies_and_patients_and_gates_nothing(tmp_path: Path) -> None:
    """0014 adds the consent tables and settings; existing studies stay ungated, rows stay."""
    url = f"sqlite:///{tmp_path / 'before_consent.sqlite3'}"
    migrate.upgrade(url, "0013")
    engine = make_engine(url)
    with engine.begin() as conn:
        _old_study_and_patient(conn, "P", "active")
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT consent_required, consent_on_phone FROM study")).one() == (0, 0)
        conn.execute(text(
            "INSERT INTO consent_version (id, study_id, version, text_en, text_fr, requires_reconsent,"
            " created_by, created_at) VALUES (1, 1, '1', 'en', 'fr', 0, 'test', '2026-01-03 00:00:00')"))
        conn.execute(text(
            "INSERT INTO consent_record (patient_id, version_id, method, consented_on, recorded_by,"
            " recorded_at) VALUES (1, 1, 'paper', '2026-01-03', 'test', '2026-01-03 00:00:00')"))
    engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0013")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM study")).scalar_one() == "OLD"
        assert conn.execute(text("SELECT code FROM patient")).scalar_one() == "P"
    engine.dispose()
