"""E-mails that tell a staff member about a change to their own account (after the commit).

Sent to the person concerned whoever made the change, so that a change they did not make does not
go unnoticed. Mail fails: the change stands, and the failure is logged (never the message body).
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from surveys.infra.mail import MailError, send_mail


def tell_account_holder(email: str, subject: str, body: str) -> bool:
    """Send one notice about the account to its holder; False (logged) when mail failed."""
    footer = _("If you did not expect this change, tell your study administrator at once.")
    try:
        send_mail(email, subject, f"{body}\n\n{footer}\n")
    except MailError as exc:
        current_app.logger.warning("account notice not sent: %s", exc)
        return False
    return True
