"""Who a command-line action is attributed to in the audit trail: the staff account named with
`--as EMAIL` ("staff:ID"), or, said explicitly, the operating-system user running the command
("os-user:NAME"); never an anonymous "cli". Every command that writes to the trail takes `as_option`
and resolves it with `cli_operator` before changing anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from surveys.domain.accounts import AccountError, operator_actor
from surveys.infra.db import db

F = TypeVar("F", bound=Callable[..., object])


def as_option(command: F) -> F:
    """The `--as EMAIL` option (parameter `as_email`) of a command that writes to the audit trail."""
    return click.option("--as", "as_email", metavar="EMAIL",
                        help="The staff account doing this (named in the audit trail); without it, the "
                             "operating-system user is named.")(command)


def cli_operator(as_email: str | None) -> str:
    """The audit actor of this command: "staff:ID" for `--as EMAIL` (an active account), else
    "os-user:NAME". Raises click.ClickException (exit 1, nothing done) for an unknown or
    deactivated account."""
    try:
        return operator_actor(db.session, as_email)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
