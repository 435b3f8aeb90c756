"""Kill the server with SIGKILL while patients answer; restart it; nothing acknowledged is lost.

Every answer that got a success reply must be stored exactly once with the code sent; no response
is half-stored (a submitted response has its scores, an unsubmitted one has none); stored scores
match a fresh scoring of the stored answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from instruments import score
from surveys.domain.models import Answer, Patient, Response, Score
from surveys.domain.patients import enroll_patient
from surveys.domain.protocol import load_protocol
from surveys.domain.studies import create_study
from surveys.infra.db import make_engine
from surveys.infra.library import init_library
from tests.conftest import backends, fresh_database_url, server_files_env
from tests.faults.patient_client import PatientClient

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 10
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "fault-test-key",
        "BASE_URL": f"http://127.0.0.1:{port}",
        "RATELIMIT_STORAGE_URI": "memory://",
        **server_files_env(log.parent),
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


def seed(url: str) -> list[str]:
    from sqlalchemy.orm import Session

    library = init_library({})
    engine = make_engine(url)
    tokens = []
    with Session(engine) as session:
        study = create_study(session, "FAULT", "Fault test", library, actor="test")
        for n in range(PATIENTS):
            _patient, token = enroll_patient(
                session, study, f"F{n:03d}", actor="test", enrolled_at=datetime.now(UTC) - timedelta(days=2)
            )
            tokens.append(token)
        session.commit()
    engine.dispose()
    return tokens


@pytest.mark.parametrize("backend", backends())
def test_answers_acknowledged_before_a_sigkill_are_stored_exactly_once(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, tmp_path)
    tokens = seed(url)
    port = free_port()
    log = tmp_path / "server.log"
    server = start_server(url, port, log)
    clients = [PatientClient(f"http://127.0.0.1:{port}", token) for token in tokens]
    deadline = time.monotonic() + 90
    threads = [threading.Thread(target=c.run, args=(deadline,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    try:
        while sum(len(c.acknowledged) for c in clients) < PATIENTS * 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGKILL)  # mid-flight: requests are in progress
        server.wait(timeout=10)
        killed_after = sum(len(c.acknowledged) for c in clients)
        time.sleep(0.5)
        server = start_server(url, port, log)
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)

    assert killed_after >= PATIENTS * 4
    assert all(c.finished for c in clients), [(c.token[:6], len(c.acknowledged), c.errors) for c in clients]
    assert sum(c.errors for c in clients) > 0, "the kill did not interrupt any client"

    library = init_library({})
    protocol, _raw = load_protocol()
    sections = {e.instrument: e.section for e in protocol.timepoint("T0").instruments}
    engine = make_engine(url)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        codes = {p.id: p.code for p in session.scalars(select(Patient))}
        token_of = {f"F{n:03d}": clients[n] for n in range(PATIENTS)}
        for response in session.scalars(select(Response)):
            client = token_of[codes[response.patient_id]]
            answers = {
                a.item_id: a.code
                for a in session.scalars(select(Answer).where(Answer.response_id == response.id))
            }
            acked = {
                item: code
                for (inst, item), code in client.acknowledged.items()
                if inst == response.instrument_id
            }
            for item, code in acked.items():
                assert answers.get(item) == code, (codes[response.patient_id], response.instrument_id, item)
            stored = {
                s.scale: s.value
                for s in session.scalars(select(Score).where(Score.response_id == response.id))
            }
            if response.status == "submitted":
                result = score(
                    library[response.instrument_id], answers, section=sections[response.instrument_id]
                )
                assert response.score_status == result.status
                assert stored == {k: (None if v is None else float(v)) for k, v in result.scores.items()}
            else:
                assert stored == {}
        submitted = session.scalar(select(Response.id).where(Response.status != "submitted"))
        assert submitted is None, "every patient finished, so no response may stay in progress"
    engine.dispose()
