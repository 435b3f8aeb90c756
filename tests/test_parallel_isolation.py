"""`make test` runs the suite in pytest-xdist workers: each must test on a PostgreSQL database of its
own, since every test module may drop and re-create schema `public` (`fresh_database_url`)."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import postgresql_server, postgresql_url

needs_postgresql = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                      reason="TEST_DATABASE_URL is not set")


@needs_postgresql
def test_a_worker_gets_its_own_database_beside_the_given_one_made_when_missing(monkeypatch) -> None:
    given = make_url(os.environ["TEST_DATABASE_URL"])
    worker = f"gwcheck{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    url = postgresql_url.__wrapped__()
    own = make_url(url)
    assert own.database == f"{given.database}_{worker}"
    assert own.set(database=given.database) == given  # same server, role and options
    assert postgresql_url.__wrapped__() == url  # a second call finds it made
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT current_database()")) == own.database
        engine.dispose()
    finally:
        with postgresql_server(given) as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{own.database}"'))


@needs_postgresql
def test_without_workers_the_given_database_is_used(monkeypatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert make_url(postgresql_url.__wrapped__()) == make_url(os.environ["TEST_DATABASE_URL"])
