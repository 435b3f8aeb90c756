"""The audit trail: append-only events, each carrying the hash of the one before it.

Editing, deleting or reordering any stored event breaks the chain, which `verify_chain`
detects. On PostgreSQL an advisory lock serialises writers; the unique `hash` column makes a
forked chain impossible to store on any database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from surveys.domain.models import AuditEvent
from surveys.infra.db import utcnow

GENESIS = "0" * 64
_LOCK_KEY = 4_711_2026  # arbitrary, constant advisory-lock key for the audit chain


def _digest(prev_hash: str, at: datetime, actor: str, action: str, entity: str | None,
            entity_id: str | None, study_id: int | None, details: dict[str, Any]) -> str:
    payload = json.dumps(
        [prev_hash, at.isoformat(timespec="microseconds"), actor, action, entity, entity_id,
         study_id, details],
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str,
    )
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    entity: str | None = None,
    entity_id: object = None,
    study_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the trail (flushed, committed with the caller's transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = last or GENESIS
    at = utcnow()
    details = json.loads(json.dumps(details or {}, default=str))
    eid = None if entity_id is None else str(entity_id)
    event = AuditEvent(
        at=at, actor=actor, action=action, entity=entity, entity_id=eid, study_id=study_id,
        details=details, prev_hash=prev_hash,
        hash=_digest(prev_hash, at, actor, action, entity, eid, study_id, details),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Where the chain breaks and how."""

    event_id: int
    problem: str


def verify_chain(session: Session, batch: int = 1000) -> list[ChainProblem]:
    """Walk the whole trail in order; an empty list means it is intact."""
    problems: list[ChainProblem] = []
    expected_prev = GENESIS
    rows: Iterator[AuditEvent] = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
    )
    for event in rows:
        if event.prev_hash != expected_prev:
            problems.append(
                ChainProblem(event.id, "does not follow the previous event (deleted or reordered)")
            )
        digest = _digest(event.prev_hash, event.at, event.actor, event.action, event.entity,
                         event.entity_id, event.study_id, event.details)
        if digest != event.hash:
            problems.append(ChainProblem(event.id, "content does not match its hash (edited)"))
        expected_prev = event.hash
    return problems


@dataclass(frozen=True, slots=True)
class TrailPage:
    """One page of a study's audit trail, newest first."""

    events: list[AuditEvent]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


def study_trail(session: Session, study_id: int, page: int = 1, per_page: int = 50,
                action: str | None = None) -> TrailPage:
    """The events of one study, newest first, one page of them."""
    from sqlalchemy import func

    query = select(AuditEvent).where(AuditEvent.study_id == study_id)
    if action:
        query = query.where(AuditEvent.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    events = list(session.scalars(query.order_by(AuditEvent.id.desc())
                                  .offset((page - 1) * per_page).limit(per_page)))
    return TrailPage(events, page, per_page, total)


def head(session: Session) -> AuditEvent | None:
    """The newest event of the trail (its hash vouches for everything before it)."""
    return session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))


def contains_hash(session: Session, digest: str) -> bool:
    """True when an event with this hash is still in the trail (a recorded head was not cut off)."""
    return session.scalar(select(AuditEvent.id).where(AuditEvent.hash == digest)) is not None
