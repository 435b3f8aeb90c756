"""One-time links for staff accounts, sent by e-mail: an invitation (72 hours) to set a password and
enrol two-factor login, and a password reset (1 hour). Random 256-bit tokens, stored only as
SHA-256; each works once, until it expires; a new one of the same purpose voids the older ones.

Services (take a session, flush, never commit).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from surveys.domain.models import AccountToken, StaffUser
from surveys.infra.db import utcnow

LIFETIMES = {"invite": timedelta(hours=72), "reset": timedelta(hours=1)}


class AccountTokenError(ValueError):
    """The link is unknown, used or expired (one message for all: nothing to learn from it)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_account_token(session: Session, user: StaffUser, purpose: str, now: datetime | None = None) -> str:
    """A new one-time token for the user (older unused ones of the purpose are voided); the secret
    for the e-mailed link, shown nowhere else."""
    now = now or utcnow()
    session.execute(update(AccountToken)
                    .where(AccountToken.user_id == user.id, AccountToken.purpose == purpose,
                           AccountToken.used_at.is_(None))
                    .values(used_at=now).execution_options(synchronize_session=False))
    secret = secrets.token_urlsafe(32)
    session.add(AccountToken(user_id=user.id, purpose=purpose, token_hash=_hash(secret), created_at=now,
                             expires_at=now + LIFETIMES[purpose]))
    session.flush()
    return secret


def open_account_token(session: Session, secret: str, purpose: str,
                       now: datetime | None = None) -> AccountToken:
    """The live token for a link (not used, not expired, its account active); AccountTokenError otherwise."""
    now = now or utcnow()
    token = session.scalar(select(AccountToken).where(AccountToken.token_hash == _hash(secret[:200]),
                                                      AccountToken.purpose == purpose))
    if token is None or token.used_at is not None or token.expires_at <= now or not token.user.active:
        raise AccountTokenError("This link is not valid any more. Ask for a new one.")
    return token


def use_account_token(token: AccountToken, now: datetime | None = None) -> None:
    """Spend the token (a second use is refused by `open_account_token`)."""
    token.used_at = now or utcnow()
