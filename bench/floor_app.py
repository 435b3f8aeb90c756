"""The essentials floor: what any implementation of the patient issue pays per answer, and no more.

The bare baseline (`bench.bare_app`) measures Flask + one upsert. The patient issue itself asks
more of every answer than that, whatever the code around it: a CSRF-protected form (Flask-WTF,
which keeps its token in the signed session cookie), wrong links rate-limited (Flask-Limiter,
checked on every request to a link address), interface strings through Flask-Babel, and the
personal link looked up by the hash of its token. This app does exactly those, with the cheapest
means the stack offers (one Core SELECT, one precompiled Jinja template, one upsert), and nothing
of this project's own: no schedule, no definitions, no alert rules, no progress, no resume.

`GET /f/<token>` shows one question; `POST /f/<token>` checks the answer against its choices,
upserts it into the bare baseline's table and redirects (303) back: two requests per answer,
like the patient screens without JavaScript. Its answers/s, against the bare baseline measured
in the same run, is the ceiling of any ratio a real patient flow can show on this machine.
Served by gunicorn: `gunicorn "bench.floor_app:create_app()"`, database in BENCH_DATABASE_URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, redirect, render_template, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

from bench.bare_app import UPSERT
from surveys.domain.links import hash_token
from surveys.infra.db import make_engine
from surveys.patient.views import LINK_GUESS_LIMIT

LINK = "SELECT patient_id FROM patient_link WHERE token_hash = :token_hash AND revoked_at IS NULL"
#: One WHO-5-like question: six choices, codes 5..0.
CHOICES = (
    (5, "All of the time"), (4, "Most of the time"), (3, "More than half of the time"),
    (2, "Less than half of the time"), (1, "Some of the time"), (0, "At no time"),
)
CODES = frozenset(str(code) for code, _label in CHOICES)


def create_app() -> Flask:
    """The floor app: CSRF, session, rate limit, Babel, a hashed-token look-up, one upsert."""
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.config.update(SECRET_KEY=os.environ.get("SECRET_KEY", "bench-floor"), WTF_CSRF_TIME_LIMIT=None)
    CSRFProtect(app)
    Babel(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    app.extensions["floor_limiter"] = limiter  # Flask-Limiter keeps only a weak reference
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    link_limit = limiter.shared_limit(LINK_GUESS_LIMIT, scope="floor-link",
                                      deduct_when=lambda _response: bool(g.get("link_miss")))

    def patient_of(token: str) -> int:
        with engine.connect() as conn:
            found = conn.execute(text(LINK), {"token_hash": hash_token(token)}).first()
        if found is None:
            g.link_miss = True
            abort(404)
        return int(found[0])

    @app.get("/f/<token>")
    @link_limit
    def page(token: str) -> str:
        patient_of(token)
        return render_template("floor_screen.html", token=token, item="q1", choices=CHOICES)

    @app.post("/f/<token>")
    @link_limit
    def answer(token: str) -> Any:
        patient = patient_of(token)
        item, code = request.form.get("item", ""), request.form.get("answer", "")
        if not item or code not in CODES:
            abort(400)
        with engine.begin() as conn:
            conn.execute(text(UPSERT), {"patient": f"floor-{patient}", "item": item, "code": int(code)})
        return redirect(f"/f/{token}", 303)

    return app
