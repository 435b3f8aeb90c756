"""The staff side's command line: `flask --app app audit verify`, and the account verbs a clinic
locked out of the web needs (`users list|deactivate|reactivate|reset-password|reset-totp|set-role`,
beside `users create` in `surveys.cli`).

Every account change is audited, naming who made it (`--as EMAIL`, a staff account, or else the
operating-system user, said so explicitly), and e-mailed to the person concerned after the commit.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from surveys.domain.accounts import (
    AccountError,
    find_user,
    reset_totp,
    set_active,
    set_password,
    set_role,
)
from surveys.domain.audit import contains_hash, record, verify_trail, write_checkpoint
from surveys.domain.models import ROLES, StaffUser, Study
from surveys.domain.operators import as_option, cli_operator
from surveys.infra.db import db
from surveys.infra.mail import MailError, send_mail
from surveys.infra.signing import checkpoint_path, public_key_text, signing_key

audit_cli = AppGroup("audit", help="The tamper-evident audit trail.")


@audit_cli.command("verify")
@click.option("--head", "expected_head", metavar="HASH",
              help="A head hash recorded earlier (printed by a previous run); it must still be in "
                   "the trail. (Signed checkpoints do this without a hand-kept hash.)")
def audit_verify(expected_head: str | None) -> None:
    """Walk the whole trail: chain, event signatures and the newest signed checkpoint; exit 1 naming
    each problem (edited, deleted, reordered, forged, cut short, emptied, recomputed). An intact
    trail gets a new signed checkpoint."""
    key = signing_key()
    assert key is not None  # commands run inside the app
    problems = verify_trail(db.session, key.public_key(), checkpoint_path())
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
    checkpoint = write_checkpoint(db.session, key, checkpoint_path())
    db.session.commit()
    click.echo(f"The audit trail is intact: {checkpoint.event_count} events checked. Head "
               f"{checkpoint.head_hash}; signed checkpoint written. Public key "
               f"{public_key_text(key.public_key())} (keep a copy elsewhere).")


@audit_cli.command("checkpoint")
def audit_checkpoint() -> None:
    """Check the events since the newest signed checkpoint and sign the head again (run hourly
    from cron); exit 1, writing nothing, when something is wrong (then run `audit verify`)."""
    key = signing_key()
    assert key is not None
    problems = verify_trail(db.session, key.public_key(), checkpoint_path(), since_checkpoint=True)
    if problems:
        for problem in problems:
            click.echo(f"BROKEN: event {problem.event_id}: {problem.problem}", err=True)
        raise SystemExit(1)
    checkpoint = write_checkpoint(db.session, key, checkpoint_path())
    db.session.commit()
    click.echo(f"Checkpoint: {checkpoint.event_count} events, head {checkpoint.head_hash}.")


def _account(email: str) -> StaffUser:
    try:
        return find_user(db.session, email)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc


def _tell(user: StaffUser, subject: str, body: str) -> None:
    footer = "If you did not expect this change, tell your study administrator at once."
    try:
        send_mail(user.email, subject, f"{body}\n\n{footer}\n")
    except MailError as exc:
        click.echo(f"warning: the e-mail to {user.email} was not sent: {exc}", err=True)


@click.command("list")
def users_list() -> None:
    """Print every staff account: e-mail, role, state, two-factor, studies, last login (UTC)."""
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.email))
    click.echo("email\trole\tstate\ttwo-factor\tstudies\tlast login (UTC)")
    for user in users:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        click.echo("\t".join([user.email, user.role, "active" if user.active else "deactivated",
                              "on" if user.totp_secret else "off",
                              ",".join(sorted(s.code for s in user.studies)) or "-", last]))


def _set_active(email: str, as_email: str | None, active: bool) -> None:
    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    user = _account(email)
    if not set_active(db.session, user, active):
        click.echo(f"{user.email} is already {'active' if active else 'deactivated'}; nothing changed.")
        return
    record(db.session, who, "user.reactivate" if active else "user.deactivate", entity="staff_user",
           entity_id=user.id, details={"email": user.email, "via": "cli"})
    db.session.commit()
    if active:
        _tell(user, "Your account was reactivated", f"Your staff account {user.email} can log in again.")
    else:
        _tell(user, "Your account was deactivated",
              f"Your staff account {user.email} was deactivated: its sessions and API tokens "
              "stopped working.")
    click.echo(f"{user.email} {'reactivated' if active else 'deactivated (every session ended)'}.")


@click.command("deactivate")
@click.argument("email")
@as_option
def users_deactivate(email: str, as_email: str | None) -> None:
    """Deactivate an account: its sessions end at once and its API tokens stop working."""
    _set_active(email, as_email, False)


@click.command("reactivate")
@click.argument("email")
@as_option
def users_reactivate(email: str, as_email: str | None) -> None:
    """Let a deactivated account log in again."""
    _set_active(email, as_email, True)


@click.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@as_option
def users_reset_password(email: str, password_stdin: bool, as_email: str | None) -> None:
    """Give an account a new password (checked by the password policy); its sessions end."""
    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    user = _account(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        ended = set_password(db.session, user, password, reason="password")
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    record(db.session, who, "user.password_reset", entity="staff_user", entity_id=user.id,
           details={"email": user.email, "sessions_ended": ended, "via": "cli"})
    db.session.commit()
    _tell(user, "Your password was reset",
          f"The password of your staff account {user.email} was reset by an administrator; "
          "every session of the account was logged out.")
    click.echo(f"New password set for {user.email}; {ended} session(s) ended.")


@click.command("reset-totp")
@click.argument("email")
@as_option
def users_reset_totp(email: str, as_email: str | None) -> None:
    """Forget a lost authenticator: the account sets up a new one at its next login."""
    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    user = _account(email)
    reset_totp(db.session, user)
    record(db.session, who, "user.totp_reset", entity="staff_user", entity_id=user.id,
           details={"email": user.email, "via": "cli"})
    db.session.commit()
    _tell(user, "Your two-factor login was reset",
          f"The authenticator of your staff account {user.email} was forgotten; set up a new one "
          "after your next login.")
    click.echo(f"Two-factor login reset for {user.email}: a new authenticator is set up at the next login.")


@click.command("set-role")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--study", "studies", multiple=True,
              help="Study code (repeatable): the account's studies become exactly these. Without it, "
                   "memberships stay as they are.")
@as_option
def users_set_role(email: str, role: str, studies: tuple[str, ...], as_email: str | None) -> None:
    """Change an account's role (and, with --study, its study memberships)."""
    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    user = _account(email)
    found = {s.code: s for s in db.session.scalars(select(Study).where(Study.code.in_(studies)))}
    missing = [code for code in studies if code not in found]
    if missing:
        raise click.ClickException(f"No study with code {', '.join(missing)}.")
    changes = set_role(db.session, user, role, list(found.values()) if studies else None)
    if not changes:
        click.echo(f"{user.email} already has that role and those studies; nothing changed.")
        return
    record(db.session, who, "user.role_change", entity="staff_user", entity_id=user.id,
           details={"email": user.email, **changes, "via": "cli"})
    db.session.commit()
    lines = [f"{name}: {old} -> {new}" for name, (old, new) in changes.items()]
    _tell(user, "Your role or studies changed",
          f"The access of your staff account {user.email} changed:\n" + "\n".join(lines))
    click.echo("\n".join(f"{user.email} {line}" for line in lines))


USER_COMMANDS = (users_list, users_deactivate, users_reactivate, users_reset_password, users_reset_totp,
                 users_set_role)


def register(app: Flask) -> None:
    """Attach the staff-side commands to the app's CLI (the account verbs join the `users` group)."""
    from surveys.staff.read_audit import refused_command

    audit_cli.add_command(refused_command)
    app.cli.add_command(audit_cli)
    users = app.cli.commands["users"]
    for command in USER_COMMANDS:
        users.add_command(command)  # type: ignore[attr-defined]
