"""Staff accounts: password hashing, TOTP, roles and study access checks (no web code).

Who may do what (the single source; `roles_required` records it on each view, and the access
test walks every route to prove the behaviour matches):

- every staff member of a study: read its patients, worklist, timeline, alert queue and audit trail
- coordinator: enroll patients, edit their details, record sessions, re-issue/revoke links, export,
  create studies (and becomes a member of the studies they create)
- coordinator and clinician: record contact attempts about safety alerts
- clinician: resolve and reopen safety alerts (with the grade, relatedness and seriousness)
- admin: everything, in every study; must use two-factor login
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Iterable
from contextlib import suppress
from functools import cache
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from surveys.domain.models import ROLES, StaffUser, Study
from surveys.infra import passwords

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH
TOTP_ISSUER = "Hair PROM"

# Capabilities beyond reading a study; admins hold all of them.
ENROLL = ("coordinator",)
CONTACT = ("coordinator", "clinician")
RESOLVE = ("clinician",)
CREATE_STUDY = ("coordinator",)
EXPORT = ("coordinator",)


class AccountError(ValueError):
    """A staff account request that cannot be carried out, with the reason."""


def actor(user: StaffUser) -> str:
    """How a staff user is named in the audit trail."""
    return f"staff:{user.id}"


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(user: StaffUser, password: str) -> bool:
    """True when the password matches; never raises on a bad hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify(password: str) -> None:
    """Spend the time of one hash check, so an unknown e-mail answers as slowly as a known one."""
    with suppress(VerificationError, InvalidHashError):
        _hasher.verify(_dummy_hash(), password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not a real password, only a timing equaliser")


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a password is not acceptable, or None."""
    return passwords.password_problem(password, email)


def create_user(
    session: Session, email: str, password: str, role: str, studies: Iterable[Study] = ()
) -> StaffUser:
    """Create a staff account after checking the e-mail, role and password."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"'{email}' is not an e-mail address.")
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    problem = password_problem(password, email)
    if problem:
        raise AccountError(problem)
    if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)):
        raise AccountError(f"An account for {email} already exists.")
    user = StaffUser(email=email, password_hash=hash_password(password), role=role)
    user.studies = list(studies)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: StaffUser, password: str, *, reason: str = "password") -> int:
    """Give the account a new password (after the policy check) and end all its sessions, so any
    copied cookie stops working; returns how many sessions were ended. Raises AccountError."""
    from surveys.domain.staff_sessions import end_user_sessions

    problem = password_problem(password, user.email)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    return end_user_sessions(session, user, reason)


def find_user(session: Session, email: str) -> StaffUser:
    """The account with this e-mail (any case); AccountError when there is none."""
    email = email.strip().lower()
    user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    if user is None:
        raise AccountError(f"No staff account for {email}.")
    return user


def operator_actor(session: Session, as_email: str | None) -> str:
    """How a command-line action is named in the audit trail: the active staff account given with
    `--as EMAIL` ("staff:ID"), or, said explicitly, the operating-system user running the command
    ("os-user:NAME"). Raises AccountError for an unknown or deactivated account."""
    if as_email:
        user = find_user(session, as_email)
        if not user.active:
            raise AccountError(f"The account {user.email} is deactivated; it cannot act.")
        return actor(user)
    return f"os-user:{getpass.getuser()}"


def set_active(session: Session, user: StaffUser, active: bool) -> bool:
    """Deactivate (ending every session at once; API tokens stop with the account) or reactivate
    an account; returns whether anything changed."""
    from surveys.domain.staff_sessions import end_user_sessions

    if user.active == active:
        return False
    user.active = active
    if not active:
        end_user_sessions(session, user, "deactivated")
    session.flush()
    return True


def reset_totp(session: Session, user: StaffUser) -> None:
    """Forget a lost authenticator: the account sets up a new one at its next login (admins are sent
    there first); its sessions end, since they were opened with the lost one."""
    from surveys.domain.staff_sessions import end_user_sessions

    user.totp_secret = None
    user.totp_last_step = None
    end_user_sessions(session, user, "totp_reset")
    session.flush()


def set_role(session: Session, user: StaffUser, role: str,
             studies: Iterable[Study] | None = None) -> dict[str, Any]:
    """Change an account's role and, when `studies` is given, its study memberships; returns the
    changes as {"role": [old, new], "studies": [old codes, new codes]} (only what changed)."""
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    changes: dict[str, Any] = {}
    if user.role != role:
        changes["role"] = [user.role, role]
        user.role = role
    if studies is not None:
        chosen = list({s.id: s for s in studies}.values())
        old, new = sorted(s.code for s in user.studies), sorted(s.code for s in chosen)
        if old != new:
            changes["studies"] = [old, new]
            user.studies = chosen
    session.flush()
    return changes


def invite_user(session: Session, email: str, role: str, studies: Iterable[Study] = ()) -> StaffUser:
    """An account for someone invited by e-mail: no usable password until they accept the
    invitation (a random one nobody knows). Raises AccountError like `create_user`."""
    import secrets

    return create_user(session, email, secrets.token_urlsafe(32) + "-Invite", role, studies)


# --- two-factor login (TOTP, RFC 6238) ---------------------------------------------------------

def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def totp_uri(email: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def check_totp(user: StaffUser, code: str, secret: str | None = None, now: float | None = None) -> bool:
    """Accept a 6-digit code once (±30 s of clock drift); a replayed or older code is refused.

    On success the accepted time step is stored on the user (flushed by the caller's commit).
    """
    secret = secret or user.totp_secret
    code = "".join(code.split())
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // totp.interval)
    for step in (current - 1, current, current + 1):
        if pyotp.utils.strings_equal(totp.at(step * totp.interval), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


# --- roles and study access --------------------------------------------------------------------

def can_access(user: StaffUser, study: Study) -> bool:
    """Admins see every study; others only the studies they belong to."""
    return user.role == "admin" or any(s.id == study.id for s in user.studies)


def may(user: StaffUser, roles: Iterable[str]) -> bool:
    """True when the user holds one of the roles (admins hold every role)."""
    return user.is_authenticated and (user.role == "admin" or user.role in roles)
