"""Safety alerts on the staff side: notifying the on-call address, the queue, acknowledgement."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.db import utcnow
from surveys.mail import MailError, send_mail
from surveys.models import Alert, Study

LEVEL_NAMES = {3: "EMERGENCY", 2: "same-day review", 1: "next visit"}


def notify_pending_alerts(session: Session, base_url: str) -> int:
    """E-mail the study's on-call address for each level 2-3 alert not yet notified.

    Call after the commit that stored the alerts; commits the `notified_at` marks itself so a
    crash between two e-mails never re-sends the ones already out. No health data in the mail:
    the level, the study and a link to the queue.
    """
    pending = session.execute(
        select(Alert, Study)
        .join(Study, Study.id == Alert.study_id)
        .where(Alert.level >= 2, Alert.notified_at.is_(None), Study.oncall_email.is_not(None))
        .order_by(Alert.id)
    ).all()
    sent = 0
    for alert, study in pending:
        try:
            send_mail(
                study.oncall_email,
                f"[{study.code}] {LEVEL_NAMES[alert.level]} alert #{alert.id}",
                f"A level {alert.level} safety alert ({LEVEL_NAMES[alert.level]}) was raised in study "
                f"{study.code}.\nOpen the alert queue: {base_url.rstrip('/')}/studies/{study.code}/alerts\n",
            )
        except MailError:
            continue  # left un-notified; the next call tries again
        alert.notified_at = utcnow()
        session.commit()
        sent += 1
    return sent
