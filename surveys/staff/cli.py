"""Command-line checks of the staff side: `flask --app app audit verify`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from surveys.domain.audit import contains_hash, head, verify_chain
from surveys.domain.models import AuditEvent
from surveys.infra.db import db

audit_cli = AppGroup("audit", help="The tamper-evident audit trail.")


@audit_cli.command("verify")
@click.option("--head", "expected_head", metavar="HASH",
              help="A head hash recorded earlier (printed by a previous run); it must still be in "
                   "the trail, which also catches events cut off the end.")
def audit_verify(expected_head: str | None) -> None:
    """Walk the whole trail; exit 1 naming each broken event (edited, deleted or reordered)."""
    problems = verify_chain(db.session)
    if expected_head and not contains_hash(db.session, expected_head.strip().lower()):
        click.echo(f"BROKEN: the recorded head {expected_head} is no longer in the trail "
                   "(events were removed or rewritten).", err=True)
        if not problems:
            raise SystemExit(1)
    if problems:
        for problem in problems:
            click.echo(f"BROKEN: event {problem.event_id}: {problem.problem}", err=True)
        click.echo(f"The audit trail is NOT intact: {len(problems)} problem(s).", err=True)
        raise SystemExit(1)
    last = head(db.session)
    if last is None:
        click.echo("The audit trail is empty.")
        return
    count = db.session.scalar(select(func.count(AuditEvent.id)))
    click.echo(f"The audit trail is intact: {count} events checked. Head {last.hash} "
               "(keep it to check later with --head).")


def register(app: Flask) -> None:
    """Attach the staff-side commands to the app's CLI."""
    app.cli.add_command(audit_cli)
