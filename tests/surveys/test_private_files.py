"""Files with health data or secrets are for the app's user only; SMTP goes over verified TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from app import create_app
from surveys.infra.backup import backup_sqlite
from surveys.infra.db import make_engine
from surveys.infra.mail import MailError, send_mail, tls_context
from tests.conftest import app_config
from tests.smtp_sink import Sink, free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def everyday_umask() -> Iterator[None]:
    """The usual umask (022) that makes new files readable by every local user unless told not to."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_instance_folder_and_the_secret_key_are_private(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    create_app(app_config(f"sqlite:///{instance / 'db.sqlite3'}", SECRET_KEY=""), instance_path=str(instance))
    assert mode(instance) == 0o700
    assert mode(instance / "secret_key") == 0o600


def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "prom.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:  # an open reader keeps the WAL and shared-memory files around
        conn.execute(text("SELECT * FROM t")).all()
        companions = [p for p in (tmp_path / "prom.sqlite3-wal", tmp_path / "prom.sqlite3-shm") if p.exists()]
        assert companions, "WAL mode should have made its files"
        assert {p.name: mode(p) for p in [path, *companions]} == {p.name: 0o600 for p in [path, *companions]}
    engine.dispose()


def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


def test_backups_are_private(tmp_path: Path) -> None:
    source = tmp_path / "live.sqlite3"
    engine = make_engine(f"sqlite:///{source}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    backup_sqlite(f"sqlite:///{source}", tmp_path / "copies" / "backup.sqlite3")
    assert mode(tmp_path / "copies" / "backup.sqlite3") == 0o600


def test_command_line_exports_are_private(runner: Any, make_study: Any, tmp_path: Path) -> None:
    study = make_study()
    out = tmp_path / "long.csv"
    result = runner.invoke(args=["export", study.code, "--format", "long", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600


def test_the_mail_outbox_is_private(app: Any) -> None:
    send_mail("patient@example.test", "Your link", "https://prom.example/p/secret")
    outbox = Path(app.config["MAIL_OUTBOX"])
    assert mode(outbox) == 0o700
    assert [mode(p) for p in outbox.glob("*.eml")] == [0o600]


# --- SMTP over verified TLS ----------------------------------------------------------------------

def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sink, int, Path]]:
    """An SMTP sink that offers STARTTLS with a self-signed certificate."""
    import ssl

    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    yield sink, port, cert
    controller.stop()


def smtp_app(tmp_path: Path, **config: Any) -> Any:
    return create_app(app_config(f"sqlite:///{tmp_path / 'db.sqlite3'}", MAIL_SERVER="127.0.0.1", **config),
                      instance_path=str(tmp_path / "instance"))


def test_tls_is_on_by_default_and_verifies_the_certificate(tls_sink: Any, tmp_path: Path) -> None:
    sink, port, _cert = tls_sink
    config = app_config(f"sqlite:///{tmp_path / 'db.sqlite3'}", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    del config["MAIL_USE_TLS"]  # as in production: nothing said, the default applies
    application = create_app(config, instance_path=str(tmp_path / "instance"))
    with application.app_context(), pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        send_mail("someone@example.test", "Hello", "Body")
    assert sink.messages == []


def test_a_trusted_certificate_lets_the_mail_through(tls_sink: Any, tmp_path: Path) -> None:
    sink, port, cert = tls_sink
    application = smtp_app(tmp_path, MAIL_PORT=port, MAIL_USE_TLS=True, MAIL_CA_FILE=str(cert))
    sink.messages.clear()
    with application.app_context():
        send_mail("someone@example.test", "Hello", "Body")
    assert [m["Subject"] for m in sink.messages] == ["Hello"]


def test_a_server_without_starttls_is_refused(smtp: Any, tmp_path: Path) -> None:
    sink, port = smtp
    application = smtp_app(tmp_path, MAIL_PORT=port, MAIL_USE_TLS=True)
    sink.messages.clear()
    with application.app_context(), pytest.raises(MailError, match="STARTTLS"):
        send_mail("someone@example.test", "Hello", "Body")
    assert sink.messages == []


def test_credentials_are_never_sent_without_tls(smtp: Any, tmp_path: Path) -> None:
    _sink, port = smtp
    application = smtp_app(tmp_path, MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USERNAME="clinic",
                           MAIL_PASSWORD="secret")
    with application.app_context(), pytest.raises(MailError, match="unencrypted"):
        send_mail("someone@example.test", "Hello", "Body")


def test_the_tls_context_verifies_certificates_and_host_names() -> None:
    import ssl

    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
