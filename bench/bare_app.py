"""The baseline the patient benchmark measures itself against: a bare Flask app, one insert.

`GET /page` returns a small form; `POST /answer` upserts one answer row and redirects (303)
back to `/page`, so one answer costs the same two requests as on the patient screens. No CSRF,
no session, no validation, no schedule: the floor of what Flask + SQLAlchemy + the database
cost on this machine. Served by gunicorn: `gunicorn "bench.bare_app:create_app()"`, with the
database in BENCH_DATABASE_URL.
"""

from __future__ import annotations

import os

from flask import Flask, redirect, request
from sqlalchemy import text

from surveys.infra.db import make_engine

PAGE = (
    "<!doctype html><html lang=en><title>Bare</title><form method=post action=/answer>"
    "<input type=hidden name=item value=q1><label><input type=radio name=answer value=1>One</label>"
    "<button>Next</button></form></html>"
)
TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_answer (patient TEXT NOT NULL, item_id TEXT NOT NULL, code INTEGER,"
    " answered_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (patient, item_id))"
)
UPSERT = (
    "INSERT INTO bench_answer (patient, item_id, code) VALUES (:patient, :item, :code)"
    " ON CONFLICT (patient, item_id) DO UPDATE SET code = excluded.code"
)


def create_table(url: str) -> None:
    """Create the baseline's one table (before the workers start)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(TABLE))
    engine.dispose()


def create_app() -> Flask:
    """The bare app, its engine made like the real app's (same SQLite pragmas, same pool)."""
    app = Flask(__name__)
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])

    @app.get("/page")
    def page() -> str:
        return PAGE

    @app.post("/answer")
    def answer():  # type: ignore[no-untyped-def]
        with engine.begin() as conn:
            conn.execute(text(UPSERT), {"patient": request.form.get("patient", ""),
                                        "item": request.form.get("item", ""),
                                        "code": int(request.form.get("answer", "0"))})
        return redirect("/page", 303)

    return app
