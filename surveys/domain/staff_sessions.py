"""Staff sessions kept on the server: opened at login, checked on every request, ended for good.

The browser's cookie holds a random session key; the database holds only its SHA-256 with the
session's times, address and browser. A request is served only while that row is open, younger
than the absolute lifetime and seen within the idle limit, so ending the row ends every copy of
the cookie at once (logout, "log out everywhere", a password change, a deactivation).

Services (take a session, flush, never commit). Times are aware UTC datetimes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from surveys.domain.models import StaffSession, StaffUser
from surveys.infra.db import utcnow

KEY_BYTES = 32
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most once a minute per session


def hash_session_key(key: str) -> str:
    """SHA-256 hex of a session key: the only form stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def open_session(session: Session, user: StaffUser, *, address: str, user_agent: str,
                 now: datetime | None = None) -> tuple[StaffSession, str]:
    """Start a session for a user who just proved who they are; returns the row and the key for
    the cookie (shown nowhere else, stored only as a hash)."""
    now = now or utcnow()
    key = secrets.token_urlsafe(KEY_BYTES)
    row = StaffSession(user_id=user.id, key_hash=hash_session_key(key), created_at=now, last_seen_at=now,
                       authenticated_at=now, address=(address or "")[:45],
                       user_agent=(user_agent or "")[:300])
    session.add(row)
    session.flush()
    return row, key


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """The outcome of checking a cookie's session: the open row, or why there is none.

    `reason` is None when the row is live; otherwise one of "unknown" (no such key, or another
    user's), "idle", "expired" (the absolute lifetime), or the reason it was ended earlier.
    `changed` says whether the row was written (the caller commits).
    """

    row: StaffSession | None
    reason: str | None
    changed: bool = False


def check_session(session: Session, key: str, user_id: int, *, idle: timedelta, lifetime: timedelta,
                  now: datetime | None = None) -> SessionCheck:
    """Find the open session for a cookie's key and user id; end it if it went idle or grew too old.

    A live session's `last_seen_at` moves forward (at most once a minute, so the idle limit is
    exact to a minute). A deactivated account's sessions are refused too.
    """
    now = now or utcnow()
    row = session.scalar(select(StaffSession).options(joinedload(StaffSession.user))
                         .where(StaffSession.key_hash == hash_session_key(key)))  # one statement
    if row is None or row.user_id != user_id:
        return SessionCheck(None, "unknown")
    if row.ended_at is not None:
        return SessionCheck(None, row.end_reason or "ended")
    if not row.user.active:
        end_session(row, "deactivated", now)
        return SessionCheck(None, "deactivated", changed=True)
    if now - row.created_at > lifetime:
        end_session(row, "expired", now)
        return SessionCheck(None, "expired", changed=True)
    if now - row.last_seen_at > idle:
        end_session(row, "idle", now)
        return SessionCheck(None, "idle", changed=True)
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        return SessionCheck(row, None, changed=True)
    return SessionCheck(row, None)


def end_session(row: StaffSession, reason: str, now: datetime | None = None) -> None:
    """End one session (ending it twice keeps the first reason)."""
    if row.ended_at is None:
        row.ended_at = now or utcnow()
        row.end_reason = reason


def end_user_sessions(session: Session, user: StaffUser, reason: str, *, keep: StaffSession | None = None,
                      now: datetime | None = None) -> int:
    """End every open session of a user (but `keep`, if given); returns how many were ended."""
    statement = (update(StaffSession)
                 .where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))
                 .values(ended_at=now or utcnow(), end_reason=reason)
                 .execution_options(synchronize_session="fetch"))
    if keep is not None:
        statement = statement.where(StaffSession.id != keep.id)
    result = session.execute(statement)
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_sessions(session: Session, user: StaffUser, *, idle: timedelta, lifetime: timedelta,
                  now: datetime | None = None) -> list[StaffSession]:
    """A user's sessions still usable now, most recently seen first."""
    now = now or utcnow()
    rows = session.scalars(
        select(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None),
               StaffSession.created_at > now - lifetime, StaffSession.last_seen_at > now - idle)
        .order_by(StaffSession.last_seen_at.desc(), StaffSession.id.desc()))
    return list(rows)


def confirm_identity(row: StaffSession, now: datetime | None = None) -> None:
    """Note that the person proved who they are again in this session (password or one-time code)."""
    row.authenticated_at = now or utcnow()


def recently_authenticated(row: StaffSession | None, window: timedelta, now: datetime | None = None) -> bool:
    """True when the session's owner proved who they are within `window` (e.g. 5 minutes)."""
    return row is not None and (now or utcnow()) - row.authenticated_at <= window
