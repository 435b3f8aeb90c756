"""The application factory: configuration, extensions, blueprints, CLI, errors, headers."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from surveys.infra import i18n, phone, security, static_files
from surveys.infra.db import db
from surveys.infra.files import make_private, open_private, private_dir
from surveys.infra.library import init_library
from surveys.staff.access import login_manager

ENV_KEYS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "BASE_URL",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "INSTRUMENT_DIRS",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_USE_TLS",
    "MAIL_CA_FILE",
    "MAIL_FROM",
    "TRUSTED_PROXIES",
    "AUDIT_KEY_FILE",
    "AUDIT_CHECKPOINT_FILE",
    "EXPORT_PSEUDONYM_KEY",  # de-identified exports with stable_ids (docs/EXPORTS.md)
    "DEFAULT_TIMEZONE",
    "ALERT_NOTICE_LEASE_SECONDS",
)


def _default_base_url(environ: Mapping[str, str]) -> str:
    """Where a laptop's server answers when BASE_URL is unset: HOST/PORT (as `make run` passes them,
    or FLASK_RUN_HOST/FLASK_RUN_PORT), else 127.0.0.1:5000; a wildcard host is shown as 127.0.0.1."""
    host = environ.get("HOST") or environ.get("FLASK_RUN_HOST") or "127.0.0.1"
    port = environ.get("PORT") or environ.get("FLASK_RUN_PORT") or "5000"
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a bind-all address named, not bound)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}" if port.isdigit() else "http://127.0.0.1:5000"


def _defaults(instance: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'prom.sqlite3'}",
        "BASE_URL": _default_base_url(os.environ),
        "RATELIMIT_STORAGE_URI": "memory://",
        "TRUSTED_PROXIES": 0,  # reverse proxies in front of the app whose X-Forwarded-* to believe
        "INSTRUMENT_DIRS": "",
        "MAIL_SERVER": "",  # empty: e-mails are written to instance/outbox instead of sent
        "MAIL_PORT": 25,
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": True,  # STARTTLS with a verified certificate; false only for a local relay
        "MAIL_CA_FILE": "",  # extra CA certificates (PEM) for a clinic's own mail server
        "MAIL_FROM": "no-reply@localhost",
        "MAIL_OUTBOX": str(instance / "outbox"),
        "ALERT_NOTICE_LEASE_SECONDS": 60,  # how long a sender's claim on an alert notice lasts
        "MAX_CONTENT_LENGTH": 256 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # a patient may leave a screen open for hours
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 30 * 60,
        "STAFF_IDLE_MINUTES": 30,
        "STAFF_SESSION_HOURS": 12,  # absolute lifetime of a staff session, however busy
        "STAFF_REAUTH_MINUTES": 5,  # how recent a password or code must be for sensitive actions
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": "surveys/infra/translations",
        "JSON_SORT_KEYS": False,
        "DEFAULT_TIMEZONE": "Europe/Paris",  # IANA zone new studies get (each study keeps its own)
    }


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {key: environ[key] for key in ENV_KEYS if environ.get(key)}
    if "TRUSTED_PROXIES" in values:
        values["TRUSTED_PROXIES"] = int(values["TRUSTED_PROXIES"])
    for key in ("MAIL_PORT", "ALERT_NOTICE_LEASE_SECONDS"):
        if key in values:
            values[key] = int(values[key])
    if "MAIL_USE_TLS" in values:
        values["MAIL_USE_TLS"] = values["MAIL_USE_TLS"].lower() in ("1", "true", "yes")
    return values


def _check_timezone(name: str) -> None:
    """Refuse to start with a DEFAULT_TIMEZONE that is not an IANA zone name a study may follow (a typo
    would shift every window; `localtime` would follow the server's clock)."""
    from surveys.infra.zones import is_zone_name

    if not is_zone_name(name):
        raise ValueError(f"DEFAULT_TIMEZONE={name!r} is not an IANA time zone (e.g. Europe/Paris)")


def _secret_key(instance: Path) -> str:
    """A per-installation secret kept in instance/ (never in the repo), made on first run."""
    path = instance / "secret_key"
    if not path.exists():
        with open_private(path) as handle:
            handle.write(secrets.token_hex(32).encode("ascii"))
    make_private(path)
    return path.read_text().strip()


def create_app(config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: defaults, then environment variables, then `config` (tests)."""
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        static_folder="surveys/infra/static",
        template_folder="surveys/infra/templates",
    )
    instance = private_dir(Path(app.instance_path))  # secrets, the database, backups, outbox: 0700
    app.config.update(_defaults(instance))
    app.config.update(_from_env(os.environ))
    app.config.update(config or {})
    _check_timezone(app.config["DEFAULT_TIMEZONE"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")

    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies < 0:
        raise ValueError("TRUSTED_PROXIES is the number of reverse proxies in front of the app (0 or more).")
    if proxies:
        # The client address and scheme as the nearest `proxies` proxies saw them: rate limits,
        # throttles and the audit trail then key on the real client, not on the proxy.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.extensions["instruments"] = init_library(app.config)  # refuse broken definitions now
    db.init_app(app)
    security.init_app(app)
    static_files.init_app(app)
    phone.init_app(app)
    i18n.init_app(app)
    login_manager.init_app(app)

    from reports.dashboards import views as dashboard_views
    from reports.exports import access_views as _access_pages  # noqa: F401  (routes on export_views.bp)
    from reports.exports import cli as export_cli
    from reports.exports import views as export_views
    from surveys import cli as survey_cli
    from surveys.patient import views as patient_views
    from surveys.staff import account_views as _staff_account_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import admin_views as _staff_admin_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import alert_views as _alert_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import blueprint as staff_pages
    from surveys.staff import clinic_views as _staff_clinic_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import labels as _staff_labels  # noqa: F401  (template words, on staff_pages.bp)
    from surveys.staff import participation_views as _staff_participation  # noqa: F401  (on staff_pages.bp)
    from surveys.staff import patient_views as _staff_patient_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import protocol_views as _protocol_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import read_audit
    from surveys.staff import study_views as _staff_study_pages  # noqa: F401  (routes on staff_pages.bp)
    from surveys.staff import views as _staff_pages  # noqa: F401  (routes on staff_pages.bp)

    for blueprint in (patient_views.bp, staff_pages.bp, dashboard_views.bp, export_views.bp):
        app.register_blueprint(blueprint)
    read_audit.init_app(app)  # who saw which study's pages; refused requests counted
    survey_cli.register(app)
    export_cli.register(app)

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return jsonify(status="error", database="unavailable"), 503
        return jsonify(status="ok", database="ok")

    return app
