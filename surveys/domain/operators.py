"""Who a command-line action is attributed to in the audit trail: the staff account named with
`--as EMAIL` ("staff:ID"), or, said explicitly, the operating-system user running the command
("os-user:NAME"); never an anonymous "cli". Every command that writes to the trail takes `as_option`
and resolves it with `cli_operator` before changing anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from surveys.domain.accounts import AccountError, find_user, may, operator_actor
from surveys.infra.db import db

F = TypeVar("F", bound=Callable[..., object])


def as_option(command: F) -> F:
    """The `--as EMAIL` option (parameter `as_email`) of a command that writes to the audit trail."""
    return click.option("--as", "as_email", metavar="EMAIL",
                        help="The staff account doing this (named in the audit trail); without it, the "
                             "operating-system user is named.")(command)


def cli_operator(as_email: str | None, roles: tuple[str, ...] | None = None) -> str:
    """The audit actor of this command: "staff:ID" for `--as EMAIL` (an active account), else
    "os-user:NAME".

    `roles`, when given, are the roles the web asks for the same action (administrators always
    pass; `()`: administrators only): an account named with `--as` must hold one, so the command
    line lets no account do what the web refuses it. Raises click.ClickException (exit 1, nothing
    done) for an unknown or deactivated account, or one without such a role.
    """
    try:
        who = operator_actor(db.session, as_email)
        user = find_user(db.session, as_email) if as_email and roles is not None else None
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if user is not None and roles is not None and not may(user, roles):
        allowed = " or ".join((*(f"a {role}" for role in roles), "an administrator"))
        raise click.ClickException(f"The account {user.email} is a {user.role}: only {allowed} may do this. "
                                   "Nothing was changed.")
    return who
