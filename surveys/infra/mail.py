"""Outgoing e-mail: SMTP when MAIL_SERVER is set, otherwise files in the instance outbox."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path

from flask import current_app


class MailError(RuntimeError):
    """An e-mail could not be handed over."""


def send_mail(to: str, subject: str, body: str) -> None:
    """Send one plain-text e-mail (call after the database commit, never before)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@{config['MAIL_FROM'].split('@')[-1]}>"
    message.set_content(body)
    if not config.get("MAIL_SERVER"):
        outbox = Path(config["MAIL_OUTBOX"])
        outbox.mkdir(parents=True, exist_ok=True)
        (outbox / f"{uuid.uuid4().hex}.eml").write_bytes(bytes(message))
        return
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail via {config['MAIL_SERVER']}: {exc}") from exc
