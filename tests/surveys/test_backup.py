"""Backups of the SQLite database, taken while it is in use, restore to the same data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from surveys.infra import migrate
from surveys.infra.db import db

TABLES = (
    "study",
    "patient",
    "patient_link",
    "treatment_session",
    "response",
    "answer",
    "score",
    "alert",
    "audit_event",
    "staff_user",
)


def dump(app) -> dict[str, list]:
    with app.app_context():
        try:
            return {
                t: [tuple(r) for r in db.session.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
                for t in TABLES
            }
        finally:
            db.session.remove()


@pytest.fixture
def demo_app(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    migrate.upgrade(url)
    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "k", "TESTING": True}, instance_path=str(tmp_path / "i")
    )
    result = app.test_cli_runner().invoke(args=["demo", "--patients", "15"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()


def test_backup_then_restore_gives_back_the_same_data(demo_app, tmp_path: Path) -> None:
    before = dump(demo_app)
    runner = demo_app.test_cli_runner()
    result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite3")])
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output
    with demo_app.app_context():  # damage the live data after the backup
        db.session.execute(text("DELETE FROM answer"))
        db.session.execute(text("UPDATE patient SET email = 'changed@example.test'"))
        db.session.commit()
        db.session.remove()
    assert dump(demo_app) != before
    result = runner.invoke(args=["restore", str(tmp_path / "copy.sqlite3"), "--yes"])
    assert result.exit_code == 0, result.output
    assert dump(demo_app) == before


def test_backup_refuses_to_overwrite_a_file(demo_app, tmp_path: Path) -> None:
    target = tmp_path / "exists.sqlite3"
    target.write_text("keep me")
    result = demo_app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code != 0 and "exists already" in result.output
    assert target.read_text() == "keep me"


def test_restore_refuses_a_file_that_is_not_a_backup(demo_app, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    before = dump(demo_app)
    result = demo_app.test_cli_runner().invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code != 0
    assert dump(demo_app) == before


def test_restore_needs_confirmation(demo_app, tmp_path: Path) -> None:
    demo_app.test_cli_runner().invoke(args=["backup", str(tmp_path / "c.sqlite3")])
    result = demo_app.test_cli_runner().invoke(args=["restore", str(tmp_path / "c.sqlite3")])
    assert result.exit_code != 0 and "--yes" in result.output


def test_postgresql_backups_point_to_pg_dump() -> None:
    app = create_app({"DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/x", "SECRET_KEY": "k"})
    result = app.test_cli_runner().invoke(args=["backup", "/tmp/never-written.sqlite3"])
    assert result.exit_code != 0 and "pg_dump" in result.output
