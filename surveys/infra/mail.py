"""Outgoing e-mail: SMTP when MAIL_SERVER is set, otherwise files in the instance outbox.

SMTP goes over verified TLS by default (STARTTLS, `MAIL_USE_TLS`, on unless set to false, e.g. for
a relay on the same machine); credentials are never sent without it.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from surveys.infra.files import open_private, private_dir


class MailError(RuntimeError):
    """An e-mail could not be handed over."""


def send_mail(to: str, subject: str, body: str, message_id: str | None = None) -> None:
    """Send one plain-text e-mail (call after the database commit, never before).

    `to`: one address or several joined by ", "; `message_id`: a stable local part for the
    Message-ID (so that a repeated hand-over can be recognised), else a random one. Raises MailError.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id or uuid.uuid4()}@{config['MAIL_FROM'].split('@')[-1]}>"
    message.set_content(body)
    if not config.get("MAIL_SERVER"):
        outbox = private_dir(Path(config["MAIL_OUTBOX"]))  # it holds live patient links: 0700 / 0600
        with open_private(outbox / f"{uuid.uuid4().hex}.eml") as handle:
            handle.write(bytes(message))
        return
    use_tls = bool(config.get("MAIL_USE_TLS", True))
    if config.get("MAIL_USERNAME") and not use_tls:
        raise MailError("refusing to send the SMTP password unencrypted: MAIL_USERNAME needs MAIL_USE_TLS")
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
            if use_tls:
                # Verified TLS: the server's certificate must chain to a trusted CA (the system's,
                # or MAIL_CA_FILE) and name MAIL_SERVER. A server without STARTTLS is refused.
                smtp.starttls(context=tls_context(config.get("MAIL_CA_FILE") or None))
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail via {config['MAIL_SERVER']}: {exc}") from exc


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The TLS settings for SMTP: certificate and host name verified (`ssl.create_default_context`),
    trusting the system's CAs or, when given, the CA certificates in `ca_file` (PEM)."""
    return ssl.create_default_context(cafile=ca_file)
