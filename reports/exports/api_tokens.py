"""Personal API tokens for scripted exports: random, stored only as a hash, revocable, scoped.

A token acts for its owner and only on the studies it names that the owner may still see:
removing someone from a study, deactivating their account or revoking the token each shuts
it off at once. The token itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.accounts import can_access
from surveys.domain.audit import record
from surveys.domain.models import ApiToken, StaffUser, Study
from surveys.infra.db import utcnow

PREFIX = "hpx_"  # recognisable in logs and by secret scanners
TOKEN_BYTES = 32
DEFAULT_DAYS = 90  # a token's lifetime unless its owner chooses another
MAX_DAYS = 365  # never longer than a year: a forgotten token dies on its own


class TokenError(ValueError):
    """A token request that cannot be carried out, with the reason."""


def hash_api_token(secret: str) -> str:
    """SHA-256 hex of a token: the only form stored (256 random bits need no slow hash)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def may_export_identified(user: StaffUser) -> bool:
    """Coordinators and admins may export identified data; clinicians de-identified data only."""
    return user.role in ("admin", "coordinator")


def create_token(
    session: Session, user: StaffUser, name: str, studies: Iterable[Study], days: int = DEFAULT_DAYS
) -> tuple[ApiToken, str]:
    """Create a token for some of the user's studies, valid `days` days (1 to 365, default 90);
    returns it and its secret (shown once). Raises TokenError."""
    name = name.strip()
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"A token lives 1 to {MAX_DAYS} days.")
    chosen = list({s.id: s for s in studies}.values())
    if not 1 <= len(name) <= 100:
        raise TokenError(_("Give the token a name of 1 to 100 characters (e.g. 'R analysis laptop')."))
    if not chosen:
        raise TokenError(_("Choose at least one study for the token."))
    if any(not can_access(user, s) for s in chosen):
        raise TokenError(_("A token can only cover studies you belong to."))
    secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_api_token(secret),
                     expires_at=utcnow() + timedelta(days=days))
    token.studies = chosen
    session.add(token)
    session.flush()
    record(session, f"staff:{user.id}", "api_token.create", entity="api_token", entity_id=token.id,
           details={"name": name, "studies": sorted(s.code for s in chosen), "days": days})
    return token, secret


def user_tokens(session: Session, user: StaffUser) -> list[ApiToken]:
    """The user's tokens, newest first."""
    return list(session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: StaffUser, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (revoking twice changes nothing)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise TokenError(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(session, f"staff:{user.id}", "api_token.revoke", entity="api_token", entity_id=token.id,
               details={"name": token.name})
        session.flush()
    return token


def authenticate(session: Session, secret: str) -> ApiToken | None:
    """The live (unrevoked, unexpired) token with this secret whose owner is active, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    if token.expires_at <= utcnow():
        return None
    return token


def token_study(token: ApiToken, code: str) -> Study | None:
    """The study with this code if the token covers it and its owner may still see it."""
    for study in token.studies:
        if study.code == code and can_access(token.user, study):
            return study
    return None
