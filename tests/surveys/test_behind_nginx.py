"""The README's production shape, for real: nginx in front of two gunicorn app servers that share
their rate-limit counters through Redis, with TRUSTED_PROXIES=1.

Each client connects to nginx from its own loopback address (127.0.0.2, 127.0.0.3, ...: all of
127/8 is local on Linux), so nginx sees different clients exactly as it would on a network. The
test proves the limits key on the real client: one guesser is refused while its neighbours are
not, whichever server answers, and a forged X-Forwarded-For does not help the guesser.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.accounts import create_user
from surveys.domain.models import AuditEvent
from surveys.domain.patients import enroll_patient
from surveys.domain.studies import create_study
from surveys.infra.db import make_engine
from surveys.infra.library import init_library
from tests.conftest import TEST_PASSWORD, fresh_database_url, server_files_env
from tests.surveys.test_ratelimit_redis import redis_answers

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(port: int, process: subprocess.Popen, log: Path, path: str = "/healthz") -> None:
    """Wait for an HTTP 200 on `path`; fail with the log if the process died or never answered."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited early: {log.read_text()[-3000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise AssertionError(f"no answer on port {port}: {log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def seed(url: str) -> str:
    """A coordinator and one enrolled patient; returns the patient's link token."""
    engine = make_engine(url)
    with Session(engine) as session:
        study = create_study(session, "PROXY", "Proxy test", init_library({}), actor="test")
        create_user(session, "coord@clinic.test", TEST_PASSWORD, "coordinator", [study])
        _patient, token = enroll_patient(session, study, "P001", actor="test")
        session.commit()
    engine.dispose()
    return token


NGINX_CONF = """
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream prom {{ server 127.0.0.1:{first}; server 127.0.0.1:{second}; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://prom;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, object]]:
    if not Path(NGINX).exists() or not redis_answers():
        pytest.skip("needs nginx (Debian's nginx-light) and Redis on 127.0.0.1:6379")
    url = fresh_database_url("sqlite", tmp_path)
    token = seed(url)
    prefix = f"t15-nginx-{uuid.uuid4().hex}-"
    processes: list[subprocess.Popen] = []
    app_ports = [free_port(), free_port()]
    proxy_port = free_port()
    try:
        for n, port in enumerate(app_ports):
            log = tmp_path / f"gunicorn-{n}.log"
            env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "nginx-test-key",
                   "TRUSTED_PROXIES": "1",
                   "BASE_URL": f"http://127.0.0.1:{proxy_port}",
                   "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
                   "RATELIMIT_KEY_PREFIX": prefix, **server_files_env(tmp_path)}
            with log.open("ab") as output:
                process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "2", "--bind",
                     f"127.0.0.1:{port}", "--access-logfile", str(tmp_path / f"access-{n}.log"),
                     "--log-level", "warning", "app:create_app()"],
                    cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
            processes.append(process)
            wait_until_answering(port, process, log)
        conf = tmp_path / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp_path, first=app_ports[0], second=app_ports[1],
                                          port=proxy_port))
        nginx_log = tmp_path / "nginx-stderr.log"
        with nginx_log.open("ab") as output:
            nginx = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "nginx-error.log")],
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(nginx)
        wait_until_answering(proxy_port, nginx, nginx_log)
        yield {"port": proxy_port, "url": url, "token": token, "tmp": tmp_path}
    finally:
        for process in reversed(processes):
            stop(process)
        _clear_redis(prefix)


def _clear_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


class Browser:
    """A client on its own loopback address, with a cookie jar and the login form's CSRF token."""

    def __init__(self, port: int, address: str) -> None:
        self.port, self.address, self.cookies = port, address, {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                          source_address=(self.address, 0))
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=urlencode(form) if form is not None else None,
                         headers={**sent, **(headers or {})})
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
            return response.status, body
        finally:
            conn.close()

    def login(self, email: str, password: str, headers: dict[str, str] | None = None) -> int:
        """GET the login form (for its CSRF token), then POST it; the POST's status."""
        _status, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token, page[:500]
        form = {"csrf_token": token.group(1), "email": email, "password": password}
        return self.request("POST", "/login", form, headers)[0]


def test_limits_key_on_the_real_client_behind_nginx_and_two_app_servers(stack: dict[str, object]) -> None:
    port = int(stack["port"])  # type: ignore[arg-type]
    guesser, neighbour, patient = (Browser(port, ip) for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    assert [guesser.login(f"guess{n}@clinic.test", "wrong") for n in range(10)] == [401] * 10
    # The 11th from the guesser is refused, even with a forged X-Forwarded-For (nginx appends the
    # address it saw; the app believes only that one): the count is shared by both servers.
    assert guesser.login("g@clinic.test", "wrong", headers={"X-Forwarded-For": "192.0.2.1"}) == 429
    assert neighbour.login("coord@clinic.test", TEST_PASSWORD) == 302

    guesses = [guesser.request("GET", f"/p/guess-{n}")[0] for n in range(11)]
    assert guesses == [404] * 10 + [429]
    assert patient.request("GET", f"/p/{stack['token']}")[0] == 200
    assert guesser.request("GET", f"/p/{stack['token']}")[0] == 200  # a valid link is never refused

    tmp = Path(str(stack["tmp"]))
    served = [len((tmp / f"access-{n}.log").read_text().splitlines()) for n in range(2)]
    assert all(count >= 5 for count in served), served  # both servers answered a share of them
    engine = make_engine(str(stack["url"]))
    with Session(engine) as session:
        success = session.scalar(select(AuditEvent).where(AuditEvent.action == "login.success"))
        assert success is not None and success.details["address"] == neighbour.address
    engine.dispose()
