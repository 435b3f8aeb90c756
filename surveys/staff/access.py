"""The staff side's web guard: Flask-Login's manager, the user loader, `roles_required` and the
study check every staff route with a study code goes through (also used by `reports` blueprints).

The rules themselves (roles, who may see which study) live in `surveys.domain.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user
from sqlalchemy import select

from surveys.domain.accounts import can_access, may
from surveys.domain.models import StaffSession, StaffUser, Study
from surveys.domain.staff_sessions import check_session, open_session, recently_authenticated
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

def idle_limit() -> timedelta:
    """How long a staff session may go without a request (STAFF_IDLE_MINUTES, default 30)."""
    return timedelta(minutes=float(current_app.config["STAFF_IDLE_MINUTES"]))


def session_lifetime() -> timedelta:
    """How long a staff session may last at most, however busy (STAFF_SESSION_HOURS, default 12)."""
    return timedelta(hours=float(current_app.config["STAFF_SESSION_HOURS"]))


def reauth_window() -> timedelta:
    """How recent a password or one-time code must be for sensitive actions (STAFF_REAUTH_MINUTES, 5)."""
    return timedelta(minutes=float(current_app.config["STAFF_REAUTH_MINUTES"]))


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    """The user of this request's server-side session, or None when that session is over.

    Why it is over ("idle", "expired", "logout", "password", ...) is left in `g.staff_session_end`
    for the request guard to explain; a session's idle clock is committed here, in its own short
    transaction, before any view runs.
    """
    key = session.get("sid")
    if not user_id.isdigit() or not isinstance(key, str):
        g.staff_session_end = "unknown"
        return None
    outcome = check_session(db.session, key, int(user_id), idle=idle_limit(), lifetime=session_lifetime())
    if outcome.changed:
        db.session.commit()
    if outcome.row is None:
        g.staff_session_end = outcome.reason
        return None
    g.staff_session = outcome.row
    return outcome.row.user


def client_details() -> dict[str, str]:
    """The client's address (the real one behind trusted proxies) and browser, for the audit trail."""
    return {"address": request.remote_addr or "", "user_agent": request.user_agent.string[:300]}


def start_session(user: StaffUser) -> None:
    """Log the user in with a fresh server-side session for this browser (a new key, so any
    earlier cookie of this browser is void); the caller commits."""
    client = client_details()
    session.clear()
    row, key = open_session(db.session, user, address=client["address"], user_agent=client["user_agent"])
    login_user(user)
    session.permanent = True
    session["sid"] = key
    g.staff_session = row


def current_staff_session() -> StaffSession | None:
    """The server-side session of the logged-in user making this request, if any."""
    if not current_user.is_authenticated:
        return None
    return g.get("staff_session")


def recent_auth_required(view: F) -> F:
    """Ask for the password (or a one-time code) again when the last proof is older than the
    re-authentication window; the person then comes back to the page they were on.

    A GET comes back to itself; a refused POST comes back to the page its form was on (the
    person sends it again: a form is never replayed on their behalf).
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        if recently_authenticated(current_staff_session(), reauth_window()):
            return view(*args, **kwargs)
        if request.method == "GET":
            target = request.full_path.rstrip("?")
        else:
            target = _same_site_path(request.referrer) or url_for("staff.home")
        flash(_("For your safety, please confirm it is you before you go on."), "info")
        return redirect(url_for("staff.confirm_identity", next=target))

    wrapped.needs_recent_auth = True  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]


def _same_site_path(url: str | None) -> str | None:
    """The path and query of a URL of this site (the Referer of a form), or None."""
    from urllib.parse import urlsplit

    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""), default=None)


def safe_next(target: str | None, default: str | None = "") -> str | None:
    """A local path to go to after a login or a confirmation, or `default` (the home page when "").

    Only a path on this site is followed: no scheme or host, no `//` or backslash, no control
    character anywhere (browsers drop tabs and newlines, so a tab between two slashes, sent as
    `/%09/evil.example`, becomes `//evil.example`), checked again after percent-decoding.
    """
    from urllib.parse import unquote, urlsplit

    fallback = url_for("staff.home") if default == "" else default
    if not target or len(target) > 2000:
        return fallback
    for candidate in (target, unquote(target)):
        if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
            return fallback
        if "\\" in candidate or any(ord(c) < 0x20 or c == "\x7f" for c in candidate):
            return fallback
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return fallback
    return target


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
