"""The staff side's web guard: Flask-Login's manager, the user loader, `roles_required` and the
study check every staff route with a study code goes through (also used by `reports` blueprints).

The rules themselves (roles, who may see which study) live in `surveys.domain.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, session
from flask_login import LoginManager, current_user, login_required
from sqlalchemy import select

from surveys.domain.accounts import can_access, may
from surveys.domain.models import StaffUser, Study
from surveys.infra.db import db

F = TypeVar("F", bound=Callable[..., Any])


class StaffLoginManager(LoginManager):
    """Flask-Login, its "strong" session protection kept to sessions that hold a login.

    Flask-Login takes any non-empty session whose identifier (address and browser) it did not
    record for a stolen one. A session with no login in it (a patient's, or a login page's) holds
    only a form token: it was "cleared" on every request, which re-signed the session cookie and
    sent a remember-cookie deletion with every patient page. No login, nothing to protect.
    """

    def _session_protection_failed(self) -> bool:
        if "_user_id" not in session:
            return False
        return bool(super()._session_protection_failed())


login_manager = StaffLoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = "Please log in to see this page."
login_manager.session_protection = "strong"

@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    user = db.session.get(StaffUser, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def study_or_404(code: str) -> Study:
    """The study with this code if the current user may see it; a 404 otherwise (no leak)."""
    study = db.session.scalar(select(Study).where(Study.code == code))
    if study is None or not can_access(current_user, study):
        abort(404)
    return study


def roles_required(*roles: str) -> Callable[[F], F]:
    """Require a logged-in staff user with one of the roles (admins always pass).

    On routes with a study `code`, a user outside the study gets a 404 before any role check,
    so nobody learns what exists in a study they do not belong to. The roles are recorded on
    the view as `allowed_roles` for the access tests and the documentation.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if "code" in kwargs:
                study_or_404(kwargs["code"])
            if not may(current_user, roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = ("admin", *roles)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
