"""Red flags answered in the same second against a live gunicorn with two workers.

The fault reported: four patients answering a red flag at once got 503 "Nothing was saved" pages
although their answers and alerts were stored, never saw the advice, and on-call got the same
alert's e-mail several times. The cause: after the answer's commit, every request e-mailed *every*
un-notified alert of every study, then marked them in a transaction that had begun with a read, so
on SQLite the mark failed with "database is locked" (a stale snapshot cannot be upgraded to a
write: the busy time-out does not apply) and the request answered 503; on any database two workers
sent the same alerts. Now each request delivers only the notices its own answer owed, claimed with
one conditional UPDATE, and a failure after the commit is logged, never a 5xx.

Also here: the server killed while it hands a notice to the mail server; `alerts notify` delivers
it once afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.models import Alert, AlertNotice, Answer, Study
from surveys.domain.patients import enroll_patient, record_session
from surveys.domain.studies import create_study
from surveys.infra.db import make_engine, utcnow
from surveys.infra.library import init_library
from tests.conftest import backends, fresh_database_url, server_files_env
from tests.smtp_sink import Sink, free_port

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PATIENTS_PER_ROUND = 4
ROUNDS = 20
pytestmark = pytest.mark.slow


def start_server(url: str, port: int, tmp: Path, **env: str) -> subprocess.Popen:
    """gunicorn with two workers on a free port; returns once it accepts connections."""
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "race-test-key",
        "BASE_URL": f"http://127.0.0.1:{port}",
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_FROM": "alerts@prom.test",
        "MAIL_USE_TLS": "false",  # the SMTP sink speaks plain SMTP (TLS is on by default since issue 15)
        **server_files_env(tmp),
        **env,
    }
    log = (tmp / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--threads",
            "4",
            "--pid",
            str(tmp / "gunicorn.pid"),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise AssertionError(f"server did not start: {(tmp / 'server.log').read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGKILL the server's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def seed(url: str, patients: int, oncall: str | None = "oncall@clinic.test") -> list[str]:
    """A study with an on-call address and patients whose first session was yesterday; their tokens."""
    engine = make_engine(url)
    tokens = []
    with Session(engine) as session:
        study = create_study(
            session,
            "RACE",
            "Race test",
            init_library({}),
            actor="test",
            oncall_email=oncall,
            emergency_number="15",
        )
        for n in range(patients):
            patient, token = enroll_patient(
                session, study, f"R{n:03d}", actor="test", enrolled_at=datetime.now(UTC) - timedelta(days=5)
            )
            record_session(
                session, patient, actor="test", number=1, day=(datetime.now(UTC) - timedelta(days=1)).date()
            )
            tokens.append(token)
        session.commit()
    engine.dispose()
    return tokens


class Phone:
    """One patient's browser without JavaScript: cookies, the form token, redirects followed."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token, self.cookies = base, token, {}
        self.path = f"/p/{token}/q/S1/pirc"

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str, str]:
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=urlencode(body) if body else None, headers=headers)
            reply = conn.getresponse()
            text = reply.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for header, value in reply.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return reply.status, reply.getheader("Location") or "", text

    def form_token(self) -> str:
        status, _location, page = self.request("GET", self.path)
        assert status == 200, (status, page[:300])
        return unescape(CSRF.search(page).group(1))

    def answer(self, token: str, item: str, code: str) -> tuple[int, str]:
        """POST one answer, follow the redirect: (status of the POST, the page shown next)."""
        status, location, page = self.request(
            "POST", self.path, {"csrf_token": token, "item": item, "answer": code}
        )
        if status == 303:
            _status, _location, page = self.request("GET", urlsplit(location).path)
        return status, page


def run_together(jobs: list) -> list:
    """Run the callables at the same moment (a barrier), each in its own thread; their results."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = jobs[n]()
        except Exception as exc:  # reported in the assertion below
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def wait_until_sent(url: str, seconds: float = 60) -> None:
    """Return once no notice is owed any more (the servers send them after their replies), or after
    `seconds`; the assertions that follow say what was left."""
    engine = make_engine(url)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                if session.scalar(select(AlertNotice.id).where(AlertNotice.sent_at.is_(None))) is None:
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()


@pytest.fixture
def sink() -> tuple[Sink, int]:
    from aiosmtpd.controller import Controller

    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.mark.parametrize("backend", backends())
def test_four_patients_answering_red_flags_in_the_same_second_each_see_their_advice_and_on_call_gets_one_notice_per_level(  # noqa: E501
    backend: str, tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    url = fresh_database_url(backend, tmp_path)
    tokens = seed(url, PATIENTS_PER_ROUND * ROUNDS)
    port = free_port()
    server = start_server(url, port, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink[1]))
    base = f"http://127.0.0.1:{port}"
    try:
        for round_number in range(ROUNDS):
            phones = [
                Phone(base, t) for t in tokens[round_number * PATIENTS_PER_ROUND :][:PATIENTS_PER_ROUND]
            ]
            forms = [phone.form_token() for phone in phones]
            # Everyone: breathing difficulty since the session (level 2, same-day advice).
            replies = run_together(
                [
                    lambda p=p, f=f: p.answer(f, "rf_breathing", "1")
                    for p, f in zip(phones, forms, strict=True)
                ]
            )
            for reply in replies:
                assert not isinstance(reply, Exception), reply
                status, page = reply
                assert status == 303, (round_number, status, page[:300])
                assert "will contact you today" in page, (round_number, page[:500])
            # Half of them: happening right now (level 3: emergency advice, an escalation notice).
            replies = run_together(
                [
                    lambda p=p, f=f, n=n: p.answer(f, "rf_breathing_now", "1" if n % 2 else "0")
                    for n, (p, f) in enumerate(zip(phones, forms, strict=True))
                ]
            )
            for n, reply in enumerate(replies):
                assert not isinstance(reply, Exception), reply
                status, page = reply
                assert status == 303, (round_number, status, page[:300])
                assert ("Call 15 now" in page) == bool(n % 2), (round_number, n, page[:500])
        wait_until_sent(url)  # notices go once each reply is out: the last ones may still be on their way
    finally:
        stop(server)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]

    engine = make_engine(url)
    with Session(engine) as session:
        alerts = {a.id: a.level for a in session.scalars(select(Alert))}
        notices = list(session.scalars(select(AlertNotice)))
    engine.dispose()
    levels = Counter(alerts.values())
    assert levels == {2: PATIENTS_PER_ROUND * ROUNDS // 2, 3: PATIENTS_PER_ROUND * ROUNDS // 2}
    assert all(n.sent_at is not None for n in notices)
    sent = Counter(message["Message-ID"] for message in sink[0].messages)
    assert set(sent.values()) == {1}, [m for m, c in sent.items() if c > 1]  # no e-mail twice
    subjects = Counter(
        re.sub(r".*alert #(\d+).*", r"\1", m["Subject"]) + (":3" if "level 3" in m["Subject"] else ":2")
        for m in sink[0].messages
    )
    expected = Counter({f"{alert_id}:2": 1 for alert_id in alerts})
    expected.update({f"{alert_id}:3": 1 for alert_id, level in alerts.items() if level == 3})
    assert subjects == expected  # exactly one notice per alert and level reached


@pytest.mark.parametrize("backend", backends())
def test_a_server_killed_while_sending_leaves_the_notice_for_alerts_notify_which_sends_it_once(
    backend: str, tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    url = fresh_database_url(backend, tmp_path)
    (token,) = seed(url, 1)
    blackhole = socket.socket()  # accepts connections into its backlog and never answers: SMTP hangs
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(8)
    port = free_port()
    server = start_server(
        url,
        port,
        tmp_path,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(blackhole.getsockname()[1]),
        ALERT_NOTICE_LEASE_SECONDS="2",
    )
    phone = Phone(f"http://127.0.0.1:{port}", token)
    engine = make_engine(url)
    try:
        form = phone.form_token()
        poster = threading.Thread(
            target=lambda: _swallow(lambda: phone.answer(form, "rf_breathing", "1")), daemon=True
        )
        poster.start()
        deadline = time.monotonic() + 20
        claimed = None
        while (
            claimed is None and time.monotonic() < deadline
        ):  # committed, claimed, now in the SMTP hand-over
            with Session(engine) as session:
                claimed = session.scalar(select(AlertNotice).where(AlertNotice.claim_token.is_not(None)))
            time.sleep(0.02)
        assert claimed is not None and claimed.sent_at is None
    finally:
        stop(server)
        blackhole.close()
    with Session(engine) as session:
        assert session.scalar(select(Answer.code).where(Answer.item_id == "rf_breathing")) == 1
        assert session.scalar(select(Alert.level)) == 2
        assert session.scalar(select(Study.code)) == "RACE"

    def notify() -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "race-test-key",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink[1]),
            "MAIL_FROM": "alerts@prom.test",
            "MAIL_USE_TLS": "false",
            "BASE_URL": "http://127.0.0.1",
            **server_files_env(tmp_path),
        }
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "alerts", "notify"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # Before the dead sender's lease ends nobody sends it (test_alert_notices, without a clock race).

    while utcnow() < claimed.claimed_until:  # the lease of the killed server (2 s) runs out
        time.sleep(0.1)
    first = notify()
    assert first.returncode == 0 and first.stdout.startswith("1 sent"), first.stdout + first.stderr
    assert notify().stdout.startswith("0 sent")
    assert [m["Message-ID"] for m in sink[0].messages] == [f"<alert-notice-{claimed.id}@prom.test>"]
    engine.dispose()


def _swallow(work) -> None:
    """Run `work`, ignoring the connection error of a server killed under it."""
    with contextlib.suppress(OSError, http.client.HTTPException):
        work()


@pytest.mark.parametrize("backend", backends())
def test_a_mail_server_that_hangs_never_delays_the_advice_and_the_notice_goes_once_after_the_reply(
    backend: str, tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    """The fault: the request that saved a red flag sent its notice after the commit but before
    replying, so an SMTP server that accepts and then hangs held the patient's advice page for up
    to the SMTP time-out (10 s). Now the notice goes once the reply is out. The sink holds the
    message's DATA until the test has the reply (at most 8 s, below the SMTP time-out, so the old
    code's reply comes after "accepted"); the test asserts the order, not durations."""
    url = fresh_database_url(backend, tmp_path)
    (token,) = seed(url, 1)
    port = free_port()
    server = start_server(url, port, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink[1]))
    phone = Phone(f"http://127.0.0.1:{port}", token)
    events = sink[0].events  # the sink notes "data" and "accepted"; this test "reply" and "released"
    engine = make_engine(url)
    try:
        form = phone.form_token()
        sink[0].hang(at_most=8)
        status, location, _page = phone.request(
            "POST", phone.path, {"csrf_token": form, "item": "rf_breathing", "answer": "1"}
        )
        events.append("reply")
        assert status == 303, status
        _status, _location, advice = phone.request("GET", urlsplit(location).path)
        assert "will contact you today" in advice, advice[:500]
        deadline = time.monotonic() + 20
        while "data" not in events and time.monotonic() < deadline:  # the notice reaches the sink
            time.sleep(0.02)
        events.append("released")
        sink[0].release()
        sent = None
        while sent is None and time.monotonic() < deadline:
            with Session(engine) as session:
                sent = session.scalar(select(AlertNotice.sent_at).where(AlertNotice.sent_at.is_not(None)))
            time.sleep(0.05)
    finally:
        sink[0].release()
        stop(server)
    assert [e for e in events if e in ("reply", "released", "accepted")] == ["reply", "released", "accepted"]
    assert sent is not None  # marked sent by the server, after the reply
    with Session(engine) as session:
        notices = list(session.scalars(select(AlertNotice)))
    engine.dispose()
    assert [(n.kind, n.level, n.attempts) for n in notices] == [("raised", 2, 1)]
    assert [m["Message-ID"] for m in sink[0].messages] == [f"<alert-notice-{notices[0].id}@prom.test>"]
    assert "Traceback" not in (tmp_path / "server.log").read_text()
