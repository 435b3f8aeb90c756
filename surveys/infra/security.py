"""Web security in one place: CSRF, rate limits, security headers and error pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app: Flask) -> None:
    """Bind CSRF and the limiter, and install headers and error handlers."""
    secure = app.config["BASE_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE=app.config.get("SESSION_COOKIE_SAMESITE") or "Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        SESSION_COOKIE_NAME="__Host-session" if secure else "session",
    )
    csrf.init_app(app)
    limiter.init_app(app)
    app.before_request(_refuse_unfit_requests)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)


def _refuse_unfit_requests() -> None:
    """Refuse a request before any view runs when no view could use it safely: a body too large
    (even where the view never reads it), JSON sent to an HTML form (Flask-WTF would read JSON
    values, objects included, into fields), or a NUL character, which PostgreSQL cannot store in
    text and no legitimate form or address contains."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    if writes and request.is_json and not request.path.startswith("/api/"):
        abort(415, "This address takes web forms, not JSON.")
    values = [request.path, *request.args.keys(), *request.args.values()]
    if writes and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, "The request contained a NUL character, which cannot be stored. Nothing was saved.")


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    # Served over HTTPS (directly, or behind a proxy when BASE_URL says https): browsers must stay on it.
    if request.is_secure or current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def wants_json() -> bool:
    """True when the client asked for JSON rather than a page."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.path.startswith("/api/")


def _http_error(error: HTTPException) -> Any:
    code = error.code or 500
    message = error.description or error.name
    if wants_json():
        return jsonify(error=error.name, message=message), code
    return render_template("layouts/error.html", code=code, title=error.name, message=message), code


def _database_unavailable(error: OperationalError) -> Any:
    from surveys.infra.db import db

    # The driver's own message only ("database or disk is full", "readonly database"): never the
    # statement or its parameters, which may hold answers (application logs carry no health data).
    original = getattr(error, "orig", None) or error
    current_app.logger.error("database unavailable: %s: %s", type(original).__name__, str(original)[:200])
    db.session.rollback()
    message = "The database is not available right now. Nothing was saved; please try again."
    if wants_json():
        return jsonify(error="Service Unavailable", message=message), 503
    return (
        render_template("layouts/error.html", code=503, title="Service unavailable", message=message),
        503,
        {"Retry-After": "5"},
    )
