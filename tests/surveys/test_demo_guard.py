"""The demo, whose logins are published, never lands in a real database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.demo import load_demo
from surveys.demo.loader import DemoRefused
from surveys.domain.models import StaffUser, Study
from surveys.infra.db import db


def run(library: Any) -> str:
    return load_demo(db.session, n_patients=0, seed=1, secret="s", base_url="http://x", library=library)


def test_the_demo_refuses_a_database_with_a_real_study(make_study, library) -> None:
    make_study("CLINIC1")
    with pytest.raises(DemoRefused, match="study CLINIC1"):
        run(library)
    assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 0


def test_the_demo_refuses_a_database_with_a_real_account(make_user, library) -> None:
    make_user("admin", email="head@clinic.example")
    with pytest.raises(DemoRefused, match=r"account head@clinic\.example"):
        run(library)
    assert db.session.scalar(select(Study.id).where(Study.code == "DEMO")) is None


def test_the_demo_command_refuses_and_says_why(runner, make_study) -> None:
    make_study("CLINIC2")
    # --allow-postgresql so that, on the PostgreSQL run, the study check is the one that refuses
    result = runner.invoke(args=["demo", "--patients", "0", "--allow-postgresql"])
    assert result.exit_code == 1 and "not a demo database" in result.output


def test_the_demo_still_loads_again_into_its_own_database(library) -> None:
    run(library)
    run(library)  # idempotent: the demo's own study and logins are not "foreign"
    assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 3


def test_the_demo_command_refuses_postgresql_unless_asked(app, runner) -> None:
    app.config["DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = runner.invoke(args=["demo", "--patients", "0"])
    assert result.exit_code == 1 and "--allow-postgresql" in result.output
