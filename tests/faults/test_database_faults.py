"""When the database fails mid-request the patient gets a clear 503, nothing is half-written,
and the failure is logged for staff (without health data), never swallowed."""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import create_app
from surveys.domain.models import Answer, Response
from surveys.domain.patients import enroll_patient
from surveys.domain.studies import create_study
from surveys.infra import migrate
from surveys.infra.db import db, make_engine
from surveys.infra.library import init_library

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ITEM = re.compile(r'name="item" value="([^"]+)"')


def first_screen(client, token: str) -> tuple[str, dict[str, str]]:
    page = client.get(f"/p/{token}/q/T0", follow_redirects=True)
    assert page.status_code == 200, page.get_data(as_text=True)[-800:]
    path = page.request.path
    html = page.get_data(as_text=True)
    data = {"item": ITEM.search(html).group(1), "answer": "3"}
    csrf = CSRF.search(html)
    if csrf:
        data["csrf_token"] = csrf.group(1)
    return path, data


def test_database_lost_mid_request_is_a_503_and_stores_nothing(client, make_patient, monkeypatch) -> None:
    patient = make_patient(enrolled_days_ago=2)
    path, data = first_screen(client, patient.token)

    def gone(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr("surveys.patient.saves.raise_alert", gone)
    response = client.post(path, data=data)
    assert response.status_code == 503
    assert "Nothing was saved" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


@pytest.fixture
def file_app(tmp_path: Path):
    """An app on its own SQLite file with one enrolled patient (committed, not rolled back)."""
    path = tmp_path / "faults.sqlite3"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        study = create_study(session, "FAULTS", "Faults", init_library({}), actor="test")
        _patient, token = enroll_patient(
            session, study, "F1", actor="test", enrolled_at=datetime.now(UTC) - timedelta(days=2)
        )
        session.commit()
    engine.dispose()
    return path, token


def make_app(url: str, tmp_path: Path):
    return create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "k",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "TESTING": False,
        },
        instance_path=str(tmp_path / "instance"),
    )


def answers_in(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM answer").fetchone()[0]


def assert_reported_and_nothing_stored(app, path: Path, token: str, caplog, cause: str) -> None:
    """Answer the first screen: a 503, the cause in the error log, no answer in the file."""
    client = app.test_client()
    url, data = first_screen(client, token)
    with caplog.at_level(logging.ERROR):
        response = client.post(url, data=data)
    assert response.status_code == 503
    assert any(cause in record.getMessage() for record in caplog.records)
    assert answers_in(path) == 0
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_full_disk_is_reported_not_swallowed(file_app, tmp_path: Path, caplog) -> None:
    path, token = file_app
    app = make_app(f"sqlite:///{path}", tmp_path)

    @event.listens_for(db.engine.dialect, "do_execute")
    def _disk_full(cursor, statement, parameters, _context):
        # What SQLite raises when the disk (or its quota) is full: SQLITE_FULL on the first write.
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        cursor.execute(statement, parameters)
        return True

    assert_reported_and_nothing_stored(app, path, token, caplog, "full")


def test_a_read_only_database_is_reported_not_swallowed(file_app, tmp_path: Path, caplog) -> None:
    path, token = file_app
    app = make_app(f"sqlite:///file:{path}?mode=ro&uri=true", tmp_path)
    assert_reported_and_nothing_stored(app, path, token, caplog, "readonly")


def test_no_response_row_is_left_behind_by_a_failed_first_answer(client, make_patient, monkeypatch) -> None:
    patient = make_patient(enrolled_days_ago=2)
    path, data = first_screen(client, patient.token)
    monkeypatch.setattr(
        "surveys.patient.saves.write_answers",
        lambda *a, **k: (_ for _ in ()).throw(OperationalError("x", {}, Exception("gone"))),
    )
    assert client.post(path, data=data).status_code == 503
    assert db.session.scalar(select(func.count()).select_from(Response)) == 0
