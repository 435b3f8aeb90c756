"""Who saw what: every successful staff read of a study's pages lands in the audit trail, and every
refused request (403, 429) is counted.

One hook for every page, so a new page cannot be forgotten: a GET by a logged-in staff member that
answers 200 on a route with a study `code` (patient lists, a patient's pages, the worklist, the alert
queue, dashboards and their data, export pages, the audit trail) records a `read` event naming the
page, the study, the patient and the alert when the address names them, and the filters. Pages that
show no health data (the protocol timeline, settings) and pages that record their own, more precise
event (the patient record: `patient.view`; downloads: `export`) are left out.

Refused requests are counted per UTC day and status in the rate limiter's storage (shared through
Redis when configured) rather than written to the trail: someone hammering the app must not be able
to flood the trail. `flask --app app audit refused` prints the counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import Flask, current_app, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from surveys.domain.accounts import actor
from surveys.domain.audit import record
from surveys.domain.models import Study
from surveys.infra.db import db
from surveys.infra.security import limiter

# Study pages without health data, and pages that record a more precise event of their own.
NOT_AUDITED = frozenset({"staff.timeline", "staff.study_settings", "reports.patient", "exports.download"})
REFUSED = (403, 429)
COUNTER_DAYS = 40  # how long a day's refused-request counts are kept


def _after_request(response: Any) -> Any:
    if response.status_code in REFUSED:
        _count_refused(response.status_code)
        return response
    endpoint = request.endpoint or ""
    if (request.method != "GET" or response.status_code != 200 or endpoint in NOT_AUDITED
            or endpoint.endswith("static") or not (request.view_args or {}).get("code")
            or not current_user.is_authenticated):
        return response
    args = request.view_args or {}
    study_id = db.session.scalar(select(Study.id).where(Study.code == args["code"]))
    details: dict[str, Any] = {"page": endpoint}
    for name in ("patient_code", "alert_id", "response_id", "fmt"):
        if name in args:
            details[name] = args[name]
    filters = {key: request.args.getlist(key) for key in sorted(request.args)}
    if filters:
        details["filters"] = filters
    try:
        record(db.session, actor(current_user), "read", entity="study", entity_id=args["code"],
               study_id=study_id, details=details)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("the read of %s could not be audited", endpoint)
    return response


def _counter_key(day: str, status: int) -> str:
    return f"{current_app.config.get('RATELIMIT_KEY_PREFIX', '')}refused:{day}:{status}"


def _count_refused(status: int) -> None:
    if not limiter.enabled:
        return
    try:
        day = datetime.now(UTC).date().isoformat()
        limiter.storage.incr(_counter_key(day, status), COUNTER_DAYS * 86400)
    except Exception:
        current_app.logger.warning("refused request not counted", exc_info=True)


def refused_counts(days: int = 7) -> list[tuple[str, int, int]]:
    """(UTC day, status, count) of refused requests over the last `days` days, oldest first."""
    today = datetime.now(UTC).date()
    rows = []
    for back in range(days - 1, -1, -1):
        day = (today - timedelta(days=back)).isoformat()
        for status in REFUSED:
            rows.append((day, status, int(limiter.storage.get(_counter_key(day, status)) or 0)))
    return rows


@click.command("refused")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, COUNTER_DAYS))
def refused_command(days: int) -> None:
    """Print how many requests were refused (403 forbidden, 429 too many) per UTC day."""
    click.echo("day (UTC)\tstatus\tcount")
    for day, status, count in refused_counts(days):
        click.echo(f"{day}\t{status}\t{count}")


def init_app(app: Flask) -> None:
    """Install the hook on the app (every blueprint's pages)."""
    app.after_request(_after_request)
