"""Migration 0005 keeps existing data: withdrawn patients keep their status, responses survive the
recreated patient table; and the downgrade keeps rows.

On SQLite a batch migration recreates the table: with foreign keys on, dropping the old `patient`
table deleted every response ON DELETE CASCADE. This test caught it (see migrations/env.py)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from surveys.infra import migrate
from surveys.infra.db import make_engine


def test_lifecycle_migrations_keep_existing_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate.upgrade(url, "0004")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO study (id, code, name, protocol_id, protocol_version, protocol, contact,"
            " emergency_number, show_scores_to_patients, created_at)"
            " VALUES (1, 'OLD', 'Old', 'p', '3.2', '{}', '', '112', 1, '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO patient (id, study_id, code, prior_treatments, language, status, enrolled_at,"
            " created_at) VALUES (1, 1, 'W', '[]', 'en', 'withdrawn', '2026-01-02 00:00:00',"
            " '2026-01-02 00:00:00')"))
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
