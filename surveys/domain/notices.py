"""Notices to the on-call address about safety alerts: an outbox, delivered exactly once.

A notice is *owed* in the transaction that makes it due (`owe_notice`: the answer that raised an
alert or its level, or `alerts escalate` finding an alert nobody has called), as an `alert_notice`
row whose unique key (alert, kind, level, step) makes it owed once whoever writes it. It is
*delivered* after that commit (`deliver_notices`): a sender claims rows with one conditional
UPDATE (a lease; on PostgreSQL the candidates are also locked with FOR UPDATE SKIP LOCKED),
commits the claim, hands the e-mail over, then marks the row sent. Two senders never send the
same row; a sender that dies after its claim leaves the row to whoever runs once the lease is over
(`flask --app app alerts notify`, from cron every minute). Mail that fails is logged, released and
retried by the next run; it never fails the patient's request.

The residual window is the one every outbox has: a process killed after the SMTP server accepted
the message and before the row was marked sent makes the next run send it again. Each notice
carries a stable Message-ID (`<alert-notice-ID@...>`) so that mail systems can fold the copies.
No health data in the e-mail: the study, the alert number, its level, and a link to the queue.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from surveys.domain.alert_models import Alert, AlertNotice
from surveys.domain.models import Study
from surveys.infra.db import utcnow
from surveys.infra.mail import MailError, send_mail

log = logging.getLogger(__name__)

#: Where `owe_notice` notes the ids it wrote in this session, for the caller to deliver after commit.
OWED_KEY = "owed_alert_notices"
#: Seconds a claim lasts: longer than an SMTP hand-over (its time-out is 10 s).
DEFAULT_LEASE_SECONDS = 60
_NOTICES = AlertNotice.__table__


@dataclass
class Delivery:
    """What one delivery run did: notices sent, notices whose e-mail failed (retried later)."""

    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def owe_notice(session: Session, alert: Alert, kind: str, level: int, step: str = "") -> int | None:
    """Write that a notice about `alert` is owed (flushed, committed by the caller).

    kind: "raised", "escalation" or "reminder"; step: "" for the first two, the reminder step
    otherwise. Returns the new notice's id, or None when that notice was already owed (or sent).
    The id is also noted in `session.info[OWED_KEY]` so that the request can deliver it after its
    commit.
    """
    if alert.id is None:
        session.flush()
    values = {
        "alert_id": alert.id,
        "kind": kind,
        "level": level,
        "step": step,
        "created_at": utcnow(),
        "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_NOTICES).values(values).on_conflict_do_nothing().returning(_NOTICES.c.id)
    notice_id = session.execute(statement).scalar()
    if notice_id is not None:
        session.info.setdefault(OWED_KEY, []).append(notice_id)
    return notice_id


def take_owed(session: Session) -> list[int]:
    """The notice ids `owe_notice` wrote through this session since the last call (then forgotten)."""
    return session.info.pop(OWED_KEY, [])


def deliver_notices(
    session: Session,
    base_url: str,
    notice_ids: Iterable[int] | None = None,
    *,
    now: datetime | None = None,
    batch: int = 50,
) -> Delivery:
    """Send the owed notices (all of them, or only `notice_ids`), each once; commits as it goes.

    Call after the commit that owed them. Never raises for mail problems: a failed e-mail is logged,
    its claim released, and the next run (`alerts notify`) tries again. `now` (UTC) is for tests.
    A notice whose study has no on-call or backup address stays owed (and is reported as failed).
    """
    report = Delivery()
    wanted = None if notice_ids is None else sorted(set(notice_ids))
    if wanted == []:
        return report
    session.commit()  # end any read transaction: a claim must start with a write (SQLite)
    tried: set[int] = set()  # each notice once per run: one that fails waits for the next run
    while True:
        claimed = _claim(session, wanted, now or utcnow(), batch, skip=tried)
        if not claimed:
            return report
        for notice_id, token in claimed:
            tried.add(notice_id)
            _deliver_one(session, notice_id, token, base_url, report, now)
        if wanted is not None:
            return report


def deliver_owed(session: Session, base_url: str, notice_ids: Iterable[int]) -> None:
    """Deliver the notices a committed request owed (`take_owed`); never raises.

    For pages, run after their reply (`surveys.infra.after_reply`): whatever goes wrong is logged,
    the session rolled back, and the outbox keeps the notices for `alerts notify`.
    """
    ids = list(notice_ids)
    if not ids:
        return
    try:
        deliver_notices(session, base_url, ids)
    except Exception:  # committed before; the outbox keeps what is owed
        session.rollback()
        log.exception("alert notices %s left for `alerts notify`", ids)


def _claim(
    session: Session,
    wanted: list[int] | None,
    now: datetime,
    batch: int,
    skip: set[int] | frozenset[int] = frozenset(),
) -> list[tuple[int, str]]:
    """Claim up to `batch` unsent, unclaimed (or lease-expired) notices in one statement; committed."""
    seconds = current_app.config.get("ALERT_NOTICE_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
    lease = timedelta(seconds=int(seconds))
    token = secrets.token_hex(8)
    candidates = (
        select(_NOTICES.c.id)
        .where(
            _NOTICES.c.sent_at.is_(None),
            or_(_NOTICES.c.claimed_until.is_(None), _NOTICES.c.claimed_until < now),
        )
        .order_by(_NOTICES.c.id)
        .limit(batch)
    )
    if wanted is not None:
        candidates = candidates.where(_NOTICES.c.id.in_(wanted))
    if skip:
        candidates = candidates.where(_NOTICES.c.id.not_in(sorted(skip)))
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(_NOTICES)
        .where(
            _NOTICES.c.id.in_(candidates.scalar_subquery()),
            _NOTICES.c.sent_at.is_(None),
            or_(_NOTICES.c.claimed_until.is_(None), _NOTICES.c.claimed_until < now),
        )
        .values(claimed_until=now + lease, claim_token=token, attempts=_NOTICES.c.attempts + 1)
        .returning(_NOTICES.c.id)
    )
    ids = sorted(session.execute(statement).scalars())
    session.commit()
    return [(notice_id, token) for notice_id in ids]


def _deliver_one(
    session: Session, notice_id: int, token: str, base_url: str, report: Delivery, now: datetime | None
) -> None:
    row = session.execute(
        select(AlertNotice, Alert, Study)
        .join(Alert, Alert.id == AlertNotice.alert_id)
        .join(Study, Study.id == Alert.study_id)
        .where(AlertNotice.id == notice_id)
    ).one()
    notice, alert, study = row
    recipients = notice_recipients(study, notice.kind)
    subject, body = _message(notice, alert, study, base_url)
    session.commit()  # no transaction stays open while the mail server is slow
    mine = (_NOTICES.c.id == notice_id) & (_NOTICES.c.claim_token == token)
    if not recipients:
        error = f"study {study.code} has no on-call address"
    else:
        try:
            send_mail(", ".join(recipients), subject, body, message_id=f"alert-notice-{notice_id}")
        except MailError as exc:
            error = str(exc)
        else:
            session.execute(
                update(_NOTICES)
                .where(mine)
                .values(
                    sent_at=now or utcnow(),
                    recipients=", ".join(recipients),
                    claimed_until=None,
                    last_error=None,
                )
            )
            session.commit()
            report.sent += 1
            return
    log.warning("alert notice %s (alert %s) not sent, will retry: %s", notice_id, alert.id, error)
    session.execute(update(_NOTICES).where(mine).values(claimed_until=None, last_error=error[:2000]))
    session.commit()
    report.failed += 1
    report.errors.append(f"notice {notice_id}: {error}")


def notice_recipients(study: Study, kind: str) -> list[str]:
    """Who gets a notice: the on-call address; a reminder also goes to the backup address."""
    addresses = [study.oncall_email]
    if kind == "reminder":
        addresses.append(study.backup_oncall_email)
    return [a for a in dict.fromkeys(addresses) if a]


def _message(notice: AlertNotice, alert: Alert, study: Study, base_url: str) -> tuple[str, str]:
    """Subject and body of a notice, in the study's default language; no health data."""
    queue = f"{base_url.rstrip('/')}/studies/{study.code}/alerts#alert-{alert.id}"
    with force_locale(study.default_language):
        names = {3: _("EMERGENCY"), 2: _("same-day review"), 1: _("next visit")}
        level = names[notice.level]
        values = {"study": study.code, "id": alert.id, "level": notice.level, "name": level}
        if notice.kind == "escalation":
            subject = _("[%(study)s] ESCALATED to level %(level)s (%(name)s): alert #%(id)s", **values)
            lead = _(
                "Safety alert #%(id)s in study %(study)s rose to level %(level)s (%(name)s): "
                "the patient reported something worse since the last notice.",
                **values,
            )
        elif notice.kind == "reminder":
            subject = _(
                "[%(study)s] REMINDER: level %(level)s alert #%(id)s has no contact attempt", **values
            )
            lead = _(
                "Safety alert #%(id)s in study %(study)s (level %(level)s, %(name)s) is still open "
                "and nobody has recorded an attempt to contact the patient.",
                **values,
            )
        else:
            subject = _("[%(study)s] %(name)s alert #%(id)s", **values)
            lead = _("A level %(level)s safety alert (%(name)s) was raised in study %(study)s.", **values)
        body = f"{lead}\n{_('Open the alert queue:')} {queue}\n"
    return subject, body


def pending_notices(session: Session) -> int:
    """How many notices are owed and not yet sent."""
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(_NOTICES).where(_NOTICES.c.sent_at.is_(None))) or 0
