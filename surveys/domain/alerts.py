"""Safety alerts on the staff side: notifying the on-call address, the queue, acknowledgement."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session, joinedload, selectinload

from instruments import Instrument
from instruments.alerts import UNEVALUATED_SUFFIX
from surveys.domain.audit import record
from surveys.domain.models import Alert, Response, StaffUser, Study
from surveys.infra.db import utcnow
from surveys.infra.mail import MailError, send_mail

LEVEL_NAMES = {3: "EMERGENCY", 2: "same-day review", 1: "next visit"}
MAX_ACTION_LENGTH = 2000


class AlertError(ValueError):
    """An acknowledgement that cannot be recorded, with the reason."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One answer shown beside an alert: the question, the answer, and whether a rule read it."""

    item_id: str
    question: str
    answer: str
    raised: bool
    free_text: bool = False


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


def alert_queue(session: Session, study: Study, *, include_acknowledged: bool = True,
                limit: int = 200) -> list[Alert]:
    """The study's alerts: open level 2-3 first (worst, then oldest), open level 1, then handled."""
    is_open = Alert.acknowledged_at.is_(None)
    rank = case((is_open & (Alert.level >= 2), 0), (is_open, 1), else_=2)
    query = (
        select(Alert)
        .where(Alert.study_id == study.id)
        .options(joinedload(Alert.patient), joinedload(Alert.acknowledged_by),
                 joinedload(Alert.response).selectinload(Response.answers))
        .order_by(rank, case((is_open, -Alert.level), else_=0), case((is_open, Alert.created_at)),
                  Alert.acknowledged_at.desc(), Alert.id)
        .limit(limit)
    )
    if not include_acknowledged:
        query = query.where(is_open)
    return list(session.scalars(query).unique())


def open_alert_count(session: Session, study: Study) -> dict[int, int]:
    """How many alerts of each level wait for acknowledgement."""
    rows = session.execute(
        select(Alert.level, Alert.id).where(Alert.study_id == study.id, Alert.acknowledged_at.is_(None))
    )
    counts = {1: 0, 2: 0, 3: 0}
    for level, _id in rows:
        counts[level] += 1
    return counts


def study_alert(session: Session, study: Study, alert_id: int) -> Alert | None:
    """An alert of this study (None for another study's alert: callers answer 404)."""
    return session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.study_id == study.id)
        .options(selectinload(Alert.response).selectinload(Response.answers))
    )


def _condition_items(condition: Any) -> Iterator[str]:
    """Every item id a rule condition reads, however deeply nested."""
    if isinstance(condition, Mapping):
        if isinstance(condition.get("item"), str):
            yield condition["item"]
        yield from (item for item in condition.get("same", ()) if isinstance(item, str))
        for key in ("all", "any"):
            for inner in condition.get(key, ()):
                yield from _condition_items(inner)
        if "not" in condition:
            yield from _condition_items(condition["not"])


def alert_evidence(alert: Alert, instrument: Instrument | None, lang: str = "en") -> list[Evidence]:
    """The answers behind an alert: every item its matched rules read, then the patient's own words."""
    answers = {a.item_id: a for a in alert.response.answers}
    if instrument is None:  # the definition is gone: show the raw codes rather than nothing
        return [Evidence(a.item_id, a.item_id, a.text if a.code is None else str(a.code), False)
                for a in sorted(answers.values(), key=lambda a: a.item_id)]
    rules = {rule["id"]: rule for rule in instrument.alert_rules}
    cited: list[str] = []
    for reason in alert.reasons:
        rule = rules.get(reason) or rules.get(reason.removesuffix(UNEVALUATED_SUFFIX), {})
        for item_id in _condition_items(rule.get("when")):
            if item_id not in cited and item_id in answers:
                cited.append(item_id)
    order = {item.id: n for n, item in enumerate(instrument.items_in_order(
        lang if lang in instrument.languages else instrument.languages[0]))}
    rows = []
    for item_id in sorted(cited, key=lambda i: order.get(i, 10_000)):
        rows.append(_evidence(instrument, answers[item_id], lang, raised=True))
    for answer in sorted(answers.values(), key=lambda a: order.get(a.item_id, 10_000)):
        if answer.text and answer.item_id not in cited and instrument.has_item(answer.item_id):
            rows.append(_evidence(instrument, answer, lang, raised=False))
    return rows


def _evidence(instrument: Instrument, answer: Any, lang: str, *, raised: bool) -> Evidence:
    item = instrument.item(answer.item_id)
    question = item.texts.get(lang) or next(iter(item.texts.values()))
    if answer.code is None:
        return Evidence(item.id, question, answer.text or "", raised, free_text=True)
    try:
        option = item.option(answer.code)
        label = option.labels.get(lang) or next(iter(option.labels.values()))
    except KeyError:
        label = f"code {answer.code}"
    return Evidence(item.id, question, label, raised)


def acknowledge_alert(session: Session, alert: Alert, user: StaffUser, action_taken: str) -> Alert:
    """Record who acknowledged an alert, when, and what was done (required); audited."""
    action = (action_taken or "").strip()
    if not action:
        raise AlertError("Say what was done (for example: called the patient, advised a visit).")
    if len(action) > MAX_ACTION_LENGTH:
        raise AlertError(f"What was done: at most {MAX_ACTION_LENGTH} characters.")
    if alert.acknowledged_at is not None:
        raise AlertError("This alert was already acknowledged.")
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by_id = user.id
    alert.action_taken = action
    session.flush()
    record(session, f"staff:{user.id}", "alert.acknowledge", entity="alert", entity_id=alert.id,
           study_id=alert.study_id,
           details={"patient_id": alert.patient_id, "level": alert.level,
                    "old": {"acknowledged": False},
                    # The digest, not the words: the trail is immutable and the text must stay erasable
                    # (right to erasure); the digest still proves what the row said.
                    "new": {"acknowledged": True,
                            "action_taken_sha256": hashlib.sha256(action.encode("utf-8")).hexdigest()}})
    return alert
