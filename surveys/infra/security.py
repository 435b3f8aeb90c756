"""Web security in one place: CSRF, rate limits, security headers and error pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
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
        abort(415, _("This address takes web forms, not JSON."))
    values = [request.path, *request.args.keys(), *request.args.values()]
    if writes and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, _("The request contained a NUL character, which cannot be stored. Nothing was saved."))


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


#: The title and text of each error page, in the reader's language (Werkzeug's own are English only).
ERROR_TEXTS = {
    400: (_l("Bad request"),
          _l("The request could not be understood. Nothing was saved; go back and try again.")),
    401: (_l("Login required"), _l("Log in to see this page.")),
    403: (_l("Not allowed"), _l("You are not allowed to see this page or do this.")),
    404: (_l("Page not found"), _l("There is no page at this address. Check the address, or go back.")),
    405: (_l("Not possible here"), _l("This page cannot be used this way. Go back and try again.")),
    409: (_l("Conflict"), _l("This cannot be done in the current state. Reload the page and try again.")),
    410: (_l("No longer available"), _l("This page or link is no longer available.")),
    413: (_l("Too much data"), _l("What was sent is too large. Nothing was saved.")),
    414: (_l("Address too long"), _l("The address is too long. Check it, or go back.")),
    415: (_l("Unsupported content"), _l("This kind of content cannot be sent here. Nothing was saved.")),
    429: (_l("Too many requests"),
          _l("Too many attempts in a short time. Please wait a little, then try again.")),
    500: (_l("Something went wrong"),
          _l("An error occurred on our side. Please try again in a moment.")),
    503: (_l("Service unavailable"),
          _l("The service is not available right now. Please try again in a moment.")),
}
#: Any other status Werkzeug knows (408, 411, 412, 416, 418, 422, 501, 502, 504 ...).
OTHER_CLIENT_ERROR = (_l("Request refused"), _l("This request cannot be served. Go back and try again."))
OTHER_SERVER_ERROR = (_l("Server error"),
                      _l("The server cannot answer right now. Please try again in a moment."))


def error_texts(error: HTTPException) -> tuple[str, str]:
    """The title and message of an error page, translated into the request's language.

    A description our code gave (`abort(409, _("..."))`, already translated) is kept; Werkzeug's
    defaults, a CSRF failure's and a rate limit's (which name the limit) are replaced by ours.
    """
    code = error.code or 500
    title, default = ERROR_TEXTS.get(code) or (OTHER_SERVER_ERROR if code >= 500 else OTHER_CLIENT_ERROR)
    if isinstance(error, CSRFError):
        return str(title), _("The form has expired or was already sent. Go back, reload the page and try "
                             "again.")
    own = error.description and error.description != type(error).description and code != 429
    return str(title), error.description if own else str(default)


def _http_error(error: HTTPException) -> Any:
    """Every HTTP error page (404, 405, 413, 429, 500 ...) through our template, in the reader's
    language: the patient's (once their link is open) or the staff member's, else the browser's."""
    refresh()  # the language is chosen for this request (a 404 may be answered before any view)
    code = error.code or 500
    title, message = error_texts(error)
    if wants_json():
        return jsonify(error=error.name, message=message), code
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return render_template("layouts/error.html", code=code, title=title, message=message), code, headers


def _database_unavailable(error: OperationalError) -> Any:
    from surveys.infra.db import db

    # The driver's own message only ("database or disk is full", "readonly database"): never the
    # statement or its parameters, which may hold answers (application logs carry no health data).
    original = getattr(error, "orig", None) or error
    current_app.logger.error("database unavailable: %s: %s", type(original).__name__, str(original)[:200])
    db.session.rollback()
    message = _("The database is not available right now. Nothing was saved; please try again.")
    if wants_json():
        return jsonify(error="Service Unavailable", message=message), 503
    return (
        render_template("layouts/error.html", code=503, title=_("Service unavailable"), message=message),
        503,
        {"Retry-After": "5"},
    )
