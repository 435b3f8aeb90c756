"""Shared fixtures: an app per database backend, each test inside a rolled-back transaction."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import OperationalError

from surveys.infra import migrate
from surveys.infra.db import db, make_engine
from tests.today import local_today

pytest_plugins = ["tests.smtp_sink"]  # the `smtp` and `inbox` fixtures

# Property tests check what code does, never how fast: wall-clock limits (the per-example deadline,
# the "generation is slow" health check) fail on a loaded machine (a 3 s stall of one draw on CI's
# 2 cores failed test_phq9). Speed is the benchmarks' business (bench/).
settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("project")
TEST_PASSWORD = "correct horse battery staple"


def backends() -> list[str]:
    """SQLite always; PostgreSQL too when TEST_DATABASE_URL names one."""
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (`make test`): one worker per core this process may use, at most 4 (each worker
    migrates its own SQLite and PostgreSQL databases and may start its own chromium: past 4 that
    fixed cost outweighs the gain on a suite of this size). PYTEST_XDIST_AUTO_NUM_WORKERS, when set,
    is obeyed (None hands the choice back to pytest-xdist, which reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 4))


@cache
def postgresql_url() -> str:
    """The PostgreSQL database this process tests on: TEST_DATABASE_URL itself, or under pytest-xdist
    this worker's own database beside it (`<name>_gw0`, `<name>_gw1`, ...; created when missing), so
    that workers never drop each other's schema. Raises KeyError when TEST_DATABASE_URL is not set."""
    url = make_url(os.environ["TEST_DATABASE_URL"])
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url.render_as_string(hide_password=False)
    own = url.set(database=f"{url.database}_{worker}")
    with postgresql_server(url) as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database})
        if found is None:
            conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    return own.render_as_string(hide_password=False)


@contextmanager
def postgresql_server(url: URL) -> Iterator[Connection]:
    """An autocommit connection (for CREATE and DROP DATABASE) to the server of `url`, through its
    maintenance database `postgres`, or through `url`'s own database when the role may not connect
    there. Raises OperationalError when neither answers."""
    for via in (url.set(database="postgres"), url):
        engine = create_engine(via, isolation_level="AUTOCOMMIT")
        try:
            conn = engine.connect()
        except OperationalError:
            engine.dispose()
            if via is url:
                raise
            continue
        try:
            yield conn
        finally:
            conn.close()
            engine.dispose()
        return


def fresh_database_url(backend: str, directory: Path) -> str:
    """An empty database of a backend, migrated to head (PostgreSQL: this process's database, see
    `postgresql_url`, its schema `public` dropped and made again)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'test.sqlite3'}"
    else:
        url = postgresql_url()
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)
    return url


def server_files_env(directory: Path) -> dict[str, str]:
    """Environment for an app started in a subprocess (gunicorn, `flask ...`): its audit key and
    checkpoint file in `directory`. Without them the app would use the checkout's instance/ folder,
    the developer's own key, shared by every test server (and every pytest-xdist worker) at once."""
    return {"AUDIT_KEY_FILE": str(directory / "audit_key.pem"),
            "AUDIT_CHECKPOINT_FILE": str(directory / "audit_checkpoints.jsonl")}


@pytest.fixture(scope="session", params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database_url(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def app_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    """The configuration tests run with."""
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": "",
        "MAIL_USE_TLS": False,  # the SMTP sink (tests/smtp_sink.py) speaks plain SMTP; TLS has its own tests
    }
    config.update(overrides)
    return config


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's configuration."""
    return {}


class ClosingClient(FlaskClient):
    """A test client that reads each reply whole and then closes it, as a WSGI server does: work a
    page leaves for after its reply (`Response.call_on_close`, e.g. alert notices) has run when the
    call returns."""

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> Any:
        return super().open(*args, buffered=buffered, **kwargs)


@pytest.fixture
def app(engine: Engine, database_url: str, app_overrides: dict[str, Any], tmp_path: Path) -> Iterator[Flask]:
    from app import create_app

    application = create_app(app_config(database_url, MAIL_OUTBOX=str(tmp_path / "outbox"),
                                        AUDIT_KEY_FILE=str(tmp_path / "audit_key.pem"),
                                        AUDIT_CHECKPOINT_FILE=str(tmp_path / "audit_checkpoints.jsonl"),
                                        **app_overrides))
    application.test_client_class = ClosingClient
    connection = engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    with application.app_context():
        yield application
    db.session.remove()
    outer.rollback()
    connection.close()
    db.session.configure(bind=db.engine, join_transaction_mode="conditional_savepoint")


def in_own_app_contexts(work: Callable[[], Any]) -> Any:
    """Run `work` (requests of a test client) where no app context is active, so that each request
    gets its own `g`, as in production: the `app` fixture keeps one app context, and with it one
    `g`, for a whole test, which hides what a request leaves in `g` (Flask-Login's user, say)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def library(app: Flask) -> dict[str, Any]:
    from surveys.infra.library import instruments

    return instruments()


@pytest.fixture
def make_study(app: Flask) -> Callable[..., Any]:
    from surveys.domain.studies import create_study
    from surveys.infra.library import instruments

    counter = iter(range(1, 10_000))

    def make(code: str | None = None, **kwargs: Any) -> Any:
        study = create_study(db.session, code or f"ST{next(counter)}", kwargs.pop("name", "Test study"),
                             instruments(), actor="test", **kwargs)
        return study

    return make


@pytest.fixture
def make_patient(app: Flask, make_study: Callable[..., Any]) -> Callable[..., Any]:
    """Enroll a patient; `sessions_days_ago=[30, 2]` records sessions that many days ago."""
    from surveys.domain.patients import enroll_patient, record_session

    counter = iter(range(1, 10_000))

    def make(study: Any = None, code: str | None = None, *, enrolled_days_ago: int = 30,
             sessions_days_ago: tuple[int, ...] = (), **kwargs: Any) -> Any:
        study = study or make_study()
        enrolled = datetime.now(UTC) - timedelta(days=enrolled_days_ago)
        patient, token = enroll_patient(db.session, study, code or f"P{next(counter):04d}", actor="test",
                                        enrolled_at=enrolled, **kwargs)
        for number, days in enumerate(sessions_days_ago, start=1):
            record_session(db.session, patient, actor="test", number=number,
                           day=local_today() - timedelta(days=days))
        patient.token = token  # handy in tests; not a column
        return patient

    return make


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """Create a staff user; admins get a TOTP secret (two-factor is required for them)."""
    from surveys.domain.accounts import create_user, new_totp_secret

    counter = iter(range(1, 10_000))

    def make(role: str = "coordinator", studies: tuple[Any, ...] = (), email: str | None = None,
             totp: bool | None = None) -> Any:
        email = email or f"user{next(counter)}@clinic.test"
        user = create_user(db.session, email, TEST_PASSWORD, role, studies)
        if totp if totp is not None else role == "admin":
            user.totp_secret = new_totp_secret()
        return user

    return make


@contextmanager
def statements_run(only_selects: bool = False) -> Iterator[list[str]]:
    """The SQL statements the app sends inside the block, in order (or only its SELECTs)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not only_selects or statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = db.session.get_bind().engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def totp_code(secret: str, offset_steps: int = 0) -> str:
    """The one-time code of a TOTP secret now (or some 30-second steps later)."""
    import time

    import pyotp

    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


@pytest.fixture
def login(client: FlaskClient) -> Callable[[Any], Any]:
    """Log a staff user in through the real login form (and the one-time code step when set up)."""

    def do(user: Any, password: str = TEST_PASSWORD) -> Any:
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        if response.headers["Location"].endswith("/login/2fa"):
            for offset in (0, 1):  # a code is accepted once: a second login in the same step uses the next
                response = client.post("/login/2fa", data={"code": totp_code(user.totp_secret, offset)})
                if response.status_code in (302, 303):
                    break
            assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    return do


def allow_audit_tampering() -> None:
    """Play the attacker who owns the database: on PostgreSQL, switch off (for this test's
    transaction only, rolled back with it) the trigger that refuses UPDATE and DELETE on the trail."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
