"""One Alembic chain: a single head, upgrades from empty, agrees with the models, downgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from surveys.infra import migrate
from surveys.infra.db import Base, make_engine


def test_the_chain_has_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_from_empty_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    assert "response" in inspect(engine).get_table_names()
    engine.dispose()


def _insert(conn: Any, table: str, **values: Any) -> None:
    from sqlalchemy import text

    names = ", ".join(values)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in values)})"), values)


def test_the_alert_lifecycle_migration_keeps_acknowledgements_notices_and_answers(tmp_path: Path) -> None:
    """0009: an acknowledged alert becomes resolved with its note; e-mails sent become sent notices;
    an open level-2 alert never e-mailed owes one; answers stay as they are. And back."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'data.sqlite3'}"
    migrate.upgrade(url, "0008")
    engine = make_engine(url)
    at = "2026-03-01 10:00:00"
    with engine.begin() as conn:
        _insert(conn, "staff_user", id=1, email="c@x.test", password_hash="h", role="clinician", active=1,
                created_at=at)
        _insert(conn, "study", id=1, code="S", name="S", protocol_id="p", protocol_version="1", protocol="{}",
                contact="", emergency_number="112", show_scores_to_patients=1, created_at=at)
        _insert(conn, "patient", id=1, study_id=1, code="P", prior_treatments="[]", language="en",
                status="active", enrolled_at=at, created_at=at)
        for rid in (1, 2):
            _insert(conn, "response", id=rid, patient_id=1, timepoint=f"S{rid}", instrument_id="pirc",
                    instrument_version="1", language="en", status="submitted", started_at=at, flags="[]")
            _insert(conn, "answer", response_id=rid, item_id="rf_fever", code=1, answered_at=at)
        common = {"study_id": 1, "patient_id": 1, "level": 2, "reasons": '["rf_fever"]', "created_at": at}
        _insert(conn, "alert", id=1, response_id=1, notified_at=at, acknowledged_at="2026-03-01 12:00:00",
                acknowledged_by_id=1, action_taken="Called; fine.", **common)
        _insert(conn, "alert", id=2, response_id=2, **common)
    migrate.upgrade(url)
    with engine.connect() as conn:
        alerts = conn.execute(text("SELECT id, state, resolved_at FROM alert ORDER BY id")).all()
        assert [(a.id, a.state, a.resolved_at is not None) for a in alerts] == [
            (1, "resolved", True), (2, "open", False)]
        resolution = conn.execute(text(
            "SELECT alert_id, resolved_by_id, note, outcome FROM alert_resolution"
        ))
        resolution = resolution.one()
        assert tuple(resolution) == (1, 1, "Called; fine.", None)
        notices = conn.execute(text("SELECT alert_id, kind, level, sent_at FROM alert_notice ORDER BY id"))
        assert [(n.alert_id, n.kind, n.level, n.sent_at is not None) for n in notices] == [
            (1, "raised", 2, True), (2, "raised", 2, False)]
        assert conn.execute(text("SELECT COUNT(*) FROM answer_version")).scalar() == 0  # none known yet
    engine.dispose()
    migrate.downgrade(url, "0008")
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, acknowledged_by_id, action_taken, notified_at FROM alert"))
        assert [(r.id, r.acknowledged_by_id, r.action_taken, r.notified_at is not None) for r in rows] == [
            (1, 1, "Called; fine.", True), (2, None, None, False)]
    engine.dispose()
