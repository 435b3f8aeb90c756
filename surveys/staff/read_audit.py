"""Who saw what: every successful staff read of a study's pages lands in the audit trail, and every
refused request (403, 429) is counted.

One hook for every page, so a new page cannot be forgotten: a GET by a logged-in staff member that
answers 200 on a route with a study `code` (patient lists, a patient's pages, the worklist, the alert
queue, dashboards and their data, export pages, the audit trail) records a `read` event naming the
page, the study, the patient and the alert when the address names them, and the filters. Pages that
show no health data (the protocol timeline, settings) and pages that record their own, more precise
event (the patient record: `patient.view`; downloads: `export`) are left out.

Refused requests are counted per UTC day and status rather than written to the trail (someone
hammering the app must not be able to flood it), and the count is shared by every worker and server:
in Redis when the rate limiter uses it (`RATELIMIT_STORAGE_URI=redis://...`), otherwise in the
database (`refused_count`, one row per day and status, counted up in place). The limiter's default
in-memory storage is per process, so it is never used for these counts. `flask --app app audit
refused` prints them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import Flask, current_app, request
from flask_login import current_user
from limits.storage import MemoryStorage
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from surveys.domain.accounts import actor
from surveys.domain.audit import record
from surveys.domain.models import RefusedCount, Study
from surveys.infra.db import db
from surveys.infra.security import limiter

# Study pages without health data, and pages that record a more precise event of their own.
NOT_AUDITED = frozenset({"staff.timeline", "staff.study_settings", "staff.study_protocol_page",
                         "reports.patient", "exports.download"})
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


def _shared_limiter_storage() -> bool:
    """True when the rate limiter counts in a storage every worker shares (Redis, Memcached...)."""
    return not isinstance(limiter.storage, MemoryStorage)


def _count_refused(status: int) -> None:
    """Count one refused request; never fails the response (a failure is logged)."""
    if not limiter.enabled:
        return
    day = datetime.now(UTC).date()
    try:
        if _shared_limiter_storage():
            limiter.storage.incr(_counter_key(day.isoformat(), status), COUNTER_DAYS * 86400)
            return
        # The request was refused: whatever it left unsaved is dropped (its teardown would drop it
        # too), so that committing the count commits nothing else.
        db.session.rollback()
        upsert = _insert_for(db.session.get_bind().dialect.name)(RefusedCount).values(day=day, status=status,
                                                                                       count=1)
        db.session.execute(upsert.on_conflict_do_update(index_elements=["day", "status"],
                                                        set_={"count": RefusedCount.count + 1}))
        db.session.commit()
    except Exception:
        db.session.rollback()
        current_app.logger.warning("refused request not counted", exc_info=True)


def _insert_for(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def refused_counts(days: int = 7) -> list[tuple[str, int, int]]:
    """(UTC day, status, count) of refused requests over the last `days` days, oldest first, from
    wherever they are counted (Redis, else the database): every worker's and server's together."""
    today = datetime.now(UTC).date()
    wanted = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    if _shared_limiter_storage():
        return [(day.isoformat(), status,
                 int(limiter.storage.get(_counter_key(day.isoformat(), status)) or 0))
                for day in wanted for status in REFUSED]
    rows = db.session.execute(select(RefusedCount.day, RefusedCount.status, RefusedCount.count)
                              .where(RefusedCount.day >= wanted[0]))
    stored = {(day, status): count for day, status, count in rows}
    return [(day.isoformat(), status, stored.get((day, status), 0)) for day in wanted for status in REFUSED]


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
