"""Staff accounts: password hashing, the login manager, roles and study access checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort
from flask_login import LoginManager, current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from surveys.db import db
from surveys.models import ROLES, StaffUser, Study

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.session_protection = "strong"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 12
F = TypeVar("F", bound=Callable[..., Any])


class AccountError(ValueError):
    """A staff account request that cannot be carried out, with the reason."""


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    user = db.session.get(StaffUser, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(user: StaffUser, password: str) -> bool:
    """True when the password matches; never raises on a bad hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a password is not acceptable, or None."""
    from surveys.passwords import is_common

    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must have at least {MIN_PASSWORD_LENGTH} characters."
    if is_common(password):
        return "This password is too common; choose another."
    return None


def create_user(
    session: Session, email: str, password: str, role: str, studies: Iterable[Study] = ()
) -> StaffUser:
    """Create a staff account after checking the e-mail, role and password."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"'{email}' is not an e-mail address.")
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)):
        raise AccountError(f"An account for {email} already exists.")
    user = StaffUser(email=email, password_hash=hash_password(password), role=role)
    user.studies = list(studies)
    session.add(user)
    session.flush()
    return user


def can_access(user: StaffUser, study: Study) -> bool:
    """Admins see every study; others only the studies they belong to."""
    return user.role == "admin" or any(s.id == study.id for s in user.studies)


def study_or_404(code: str) -> Study:
    """The study with this code if the current user may see it; a 404 otherwise (no leak)."""
    study = db.session.scalar(select(Study).where(Study.code == code))
    if study is None or not can_access(current_user, study):
        abort(404)
    return study


def roles_required(*roles: str) -> Callable[[F], F]:
    """Require a logged-in staff user with one of the roles (admins always pass)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
