"""The audit trail: append-only events, each carrying the hash of the one before it.

Editing, deleting or reordering any stored event breaks the chain, which `verify_chain`
detects. On PostgreSQL an advisory lock serialises writers; the unique `hash` column makes a
forked chain impossible to store on any database, and a trigger refuses UPDATE, DELETE and
TRUNCATE on the table (migration 0007).

The chain alone cannot tell a trail cut short, emptied or recomputed from scratch, nor an event
appended by someone who computed its hash. So each event is signed (Ed25519, with a key kept
outside the database: `surveys.infra.signing`), and signed checkpoints of the head (how many events,
up to which, ending in which hash) are written to the database and to a file beside the key, by
`audit checkpoint` (cron, hourly) and on every `audit verify`. `verify_trail` checks all three.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import String, cast, func, literal, select, text, union_all
from sqlalchemy.orm import Session

from surveys.domain.models import (
    Alert,
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    ConsentVersion,
    Patient,
    Response,
    StaffSession,
    StaffUser,
    Study,
    TabletSession,
    TreatmentSession,
)
from surveys.infra.db import begin_writing, utcnow
from surveys.infra.files import PRIVATE_FILE
from surveys.infra.signing import sign, signature_ok, signing_key

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
    digest = _digest(prev_hash, at, actor, action, entity, eid, study_id, details)
    key = signing_key()
    event = AuditEvent(
        at=at, actor=actor, action=action, entity=entity, entity_id=eid, study_id=study_id,
        details=details, prev_hash=prev_hash, hash=digest,
        signature=sign(key, _event_message(digest)) if key is not None else None,
    )
    session.add(event)
    session.flush()
    return event


def record_after_reads(session: Session, actor: str, action: str, **event: Any) -> AuditEvent:
    """Audit an action that only read (an export, a data subject's access archive), once it has read.

    In: a session whose transaction read and wrote nothing (what it holds is committed as is); the
    event's fields as for `record`. Ends that read transaction and records the event in a transaction
    that starts by taking the write lock on SQLite: there a read snapshot cannot become a write once
    another connection has written since it began (SQLITE_BUSY_SNAPSHOT, "database is locked" at
    once, the busy time-out does not wait), which a read of a few seconds beside patients answering
    makes likely. The lock is waited for like any write (busy time-out). Flushed; the caller commits.
    """
    begin_writing(session)
    return record(session, actor, action, **event)


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Where the chain breaks and how."""

    event_id: int
    problem: str


def _event_message(digest: str) -> bytes:
    return f"hair-prom audit event {digest}".encode("ascii")


def verify_chain(session: Session, batch: int = 1000, public_key: Ed25519PublicKey | None = None,
                 after: AuditEvent | None = None, signed_after: int | None = None) -> list[ChainProblem]:
    """Walk the trail in order (all of it, or only the events after `after`); an empty list means
    it is intact. With `public_key`, every event from the first signed one on, and every event
    after event id `signed_after` (a checkpoint's: signing was on by then), must carry a valid
    signature; events from before signing existed stay unsigned."""
    problems: list[ChainProblem] = []
    expected_prev = after.hash if after is not None else GENESIS
    signed_from = None
    if public_key is not None:
        first_signed = select(func.min(AuditEvent.id)).where(AuditEvent.signature.is_not(None))
        candidates = [session.scalar(first_signed), None if signed_after is None else signed_after + 1]
        signed_from = min((c for c in candidates if c is not None), default=None)
    query = select(AuditEvent).order_by(AuditEvent.id)
    if after is not None:
        query = query.where(AuditEvent.id > after.id)
    rows: Iterator[AuditEvent] = session.scalars(query.execution_options(yield_per=batch))
    for event in rows:
        if public_key is not None and signed_from is not None and event.id >= signed_from \
                and not signature_ok(public_key, _event_message(event.hash), event.signature):
            problems.append(ChainProblem(event.id, "is not signed with the app's key (forged or rewritten)"))
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
class RecordKey:
    """What people call the record an event is about: a patient's code, a study's code, an e-mail...

    `key` is the record's own human key, or for a record that belongs to a patient (an alert, a
    response, a session) that patient's code; `number` is a treatment session's number.
    """

    entity: str
    key: str
    number: int | None = None


@dataclass(frozen=True, slots=True)
class TrailPage:
    """One page of a study's audit trail, newest first, with the human key of each record it names.

    `records` maps (entity, entity_id) to its `RecordKey`; a record since deleted is absent.
    """

    events: list[AuditEvent]
    page: int
    per_page: int
    total: int
    records: dict[tuple[str, str], RecordKey] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


def study_trail(session: Session, study_id: int, page: int = 1, per_page: int = 50,
                action: str | None = None) -> TrailPage:
    """The events of one study, newest first, one page of them."""
    query = select(AuditEvent).where(AuditEvent.study_id == study_id)
    if action:
        query = query.where(AuditEvent.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    events = list(session.scalars(query.order_by(AuditEvent.id.desc())
                                  .offset((page - 1) * per_page).limit(per_page)))
    return TrailPage(events, page, per_page, total, record_keys(session, events))


#: Each kind of record an event may name: its model, its human key, the join to reach that key
#: (a patient's code for what belongs to a patient) and a number shown beside it.
_RECORD_KEYS: dict[str, tuple[Any, Any, tuple[Any, ...], Any]] = {
    "patient": (Patient, Patient.code, (), None),
    "study": (Study, Study.code, (), None),
    "staff_user": (StaffUser, StaffUser.email, (), None),
    "alert": (Alert, Patient.code, (Patient, Patient.id == Alert.patient_id), None),
    "response": (Response, Patient.code, (Patient, Patient.id == Response.patient_id), None),
    "treatment_session": (TreatmentSession, Patient.code,
                          (Patient, Patient.id == TreatmentSession.patient_id), TreatmentSession.number),
    "tablet_session": (TabletSession, Patient.code, (Patient, Patient.id == TabletSession.patient_id), None),
    "staff_session": (StaffSession, StaffUser.email, (StaffUser, StaffUser.id == StaffSession.user_id), None),
    "api_token": (ApiToken, ApiToken.name, (), None),
    "consent_version": (ConsentVersion, ConsentVersion.version, (), None),
}


def _keyed(kind: str, ids: list[int]) -> Any:
    """The (entity, entity_id, key, number) rows of one kind of record, for `record_keys`' union."""
    model, key, join, number = _RECORD_KEYS[kind]
    query = select(literal(kind, String).label("entity"), cast(model.id, String).label("entity_id"),
                   cast(key, String).label("key"),
                   (literal(None, String) if number is None else cast(number, String)).label("number"))
    if join:
        query = query.select_from(model).join(*join)
    return query.where(model.id.in_(ids))


def record_keys(session: Session, events: list[AuditEvent]) -> dict[tuple[str, str], RecordKey]:
    """The human key of every record the events name, read in one query (not one per event).

    In: events as stored (`entity` kind, `entity_id` as text). Out: {(entity, entity_id): RecordKey};
    events naming no record, an unknown kind or a record since deleted have no entry. An erased
    patient keeps their code (the tombstone), so their events still name them.
    """
    wanted: dict[str, list[int]] = {}
    for event in events:
        if event.entity in _RECORD_KEYS and event.entity_id and event.entity_id.isdigit():
            wanted.setdefault(event.entity, []).append(int(event.entity_id))
    queries = [_keyed(kind, ids) for kind, ids in wanted.items()]
    if not queries:
        return {}
    rows = session.execute(union_all(*queries) if len(queries) > 1 else queries[0])
    return {(row.entity, row.entity_id): RecordKey(row.entity, row.key,
                                                   None if row.number is None else int(row.number))
            for row in rows}


def head(session: Session) -> AuditEvent | None:
    """The newest event of the trail (its hash vouches for everything before it)."""
    return session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))


def contains_hash(session: Session, digest: str) -> bool:
    """True when an event with this hash is still in the trail (a recorded head was not cut off)."""
    return session.scalar(select(AuditEvent.id).where(AuditEvent.hash == digest)) is not None


# --- signed checkpoints of the head -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: `event_count` events, the newest `event_id` with hash `head_hash`."""

    at: str  # ISO 8601 UTC
    event_id: int
    event_count: int
    head_hash: str
    signature: str

    def message(self) -> bytes:
        """The bytes the signature covers."""
        return _checkpoint_message(self.at, self.event_id, self.event_count, self.head_hash)


def _checkpoint_message(at: str, event_id: int, count: int, head_hash: str) -> bytes:
    return json.dumps(["hair-prom audit checkpoint", at, event_id, count, head_hash],
                      separators=(",", ":")).encode("ascii")


def write_checkpoint(session: Session, key: Ed25519PrivateKey, file: Path) -> Checkpoint:
    """Sign the trail's head as it is now; store it (flushed) and append it to `file` (0600).

    Call on an intact trail (after `verify_trail` or `check_since_checkpoint`)."""
    last = head(session)
    count = session.scalar(select(func.count(AuditEvent.id))) or 0
    at = utcnow().isoformat(timespec="seconds")
    event_id, head_hash = (last.id, last.hash) if last is not None else (0, GENESIS)
    signature = sign(key, _checkpoint_message(at, event_id, count, head_hash))
    checkpoint = Checkpoint(at, event_id, count, head_hash, signature)
    session.add(AuditCheckpoint(at=datetime.fromisoformat(at), event_id=event_id, event_count=count,
                                head_hash=head_hash, signature=signature))
    session.flush()
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(json.dumps(asdict(checkpoint), separators=(",", ":")) + "\n")
    return checkpoint


def _stored_checkpoints(session: Session, file: Path) -> tuple[list[Checkpoint], list[str]]:
    """Checkpoints from the database and from the file; and lines of the file that are unreadable."""
    found: dict[str, Checkpoint] = {}
    unreadable: list[str] = []
    for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(50)):
        at = row.at.isoformat(timespec="seconds")
        found[row.signature] = Checkpoint(at, row.event_id, row.event_count, row.head_hash, row.signature)
    if file.exists():
        for number, line in enumerate(file.read_text(encoding="ascii", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                checkpoint = Checkpoint(**json.loads(line))
            except (ValueError, TypeError):
                unreadable.append(f"line {number}")
                continue
            found[checkpoint.signature] = checkpoint
    return list(found.values()), unreadable


def checkpoint_problems(session: Session, public_key: Ed25519PublicKey,
                        file: Path) -> list[ChainProblem]:
    """What the signed checkpoints say is wrong: a checkpoint whose signature does not verify
    (forged), or a trail that no longer holds what the newest valid checkpoint vouched for (cut
    short, emptied or recomputed). Problems name the checkpoint's event id."""
    checkpoints, unreadable = _stored_checkpoints(session, file)
    problems = [ChainProblem(0, f"checkpoint file {file.name}, {where}: unreadable")
                for where in unreadable]
    valid = []
    for checkpoint in checkpoints:
        if signature_ok(public_key, checkpoint.message(), checkpoint.signature):
            valid.append(checkpoint)
        else:
            problems.append(ChainProblem(checkpoint.event_id, f"the checkpoint of {checkpoint.at} is not "
                                         "signed with the app's key (forged)"))
    if not valid:
        return problems
    newest = max(valid, key=lambda c: (c.event_count, c.at))
    count = session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.id <= newest.event_id)) or 0
    digest = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == newest.event_id)) \
        if newest.event_id else GENESIS
    if count != newest.event_count or digest != newest.head_hash:
        problems.append(ChainProblem(
            newest.event_id,
            f"the checkpoint of {newest.at} vouched for {newest.event_count} events ending in "
            f"{newest.head_hash[:12]}…; "
            f"the trail now holds {count} up to that event, ending in {(digest or 'nothing')[:12]}… "
            "(cut short, emptied or recomputed)"))
    total = session.scalar(select(func.count(AuditEvent.id))) or 0
    if total < newest.event_count:
        problems.append(ChainProblem(newest.event_id, f"the trail holds {total} events, fewer than "
                                     f"the {newest.event_count} of the checkpoint of {newest.at}"))
    return problems


def newest_checkpointed_event(session: Session, public_key: Ed25519PublicKey,
                              file: Path) -> AuditEvent | None:
    """The event the newest valid checkpoint ends with, if it is still there."""
    checkpoints, _ = _stored_checkpoints(session, file)
    valid = [c for c in checkpoints if signature_ok(public_key, c.message(), c.signature)]
    if not valid:
        return None
    newest = max(valid, key=lambda c: (c.event_count, c.at))
    return session.get(AuditEvent, newest.event_id) if newest.event_id else None


def verify_trail(session: Session, public_key: Ed25519PublicKey, file: Path, *,
                 since_checkpoint: bool = False) -> list[ChainProblem]:
    """Check the trail: chain, event signatures and checkpoints. `since_checkpoint` walks only the
    events after the newest valid checkpoint (the hourly check); otherwise every event."""
    problems = checkpoint_problems(session, public_key, file)
    after = None
    if since_checkpoint and not problems:
        after = newest_checkpointed_event(session, public_key, file)
    checkpoints, _ = _stored_checkpoints(session, file)
    valid = [c.event_id for c in checkpoints if signature_ok(public_key, c.message(), c.signature)]
    return problems + verify_chain(session, public_key=public_key, after=after,
                                   signed_after=min(valid) if valid else None)
