"""Patient form tokens: valid for as long as the link (or tablet session) they were shown for.

Flask-WTF keeps its CSRF secret in the session cookie, and Flask refuses a session cookie older
than PERMANENT_SESSION_LIFETIME (the staff idle limit, 30 minutes): a patient who thought over a
screen for longer lost the answer. A patient page's credential is already in its address (the
personal link's token, or the clinic tablet's), so the form token is derived from it instead: an
HMAC under the app's secret key. A cross-site form cannot forge it without the credential, and it
lives exactly as long as the credential does, independent of any session.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

FORM_TOKEN_FIELD = "csrf_token"  # noqa: S105 (a form field's name, not a secret)


def form_token(credential: str) -> str:
    """The form token for pages opened with `credential` (a link or tablet token): 64 hex digits."""
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, b"patient-form\x00" + credential.encode("utf-8"), hashlib.sha256).hexdigest()


def form_token_valid(credential: str, sent: str | None) -> bool:
    """True when `sent` is the form token of `credential` (constant-time comparison)."""
    return bool(sent) and hmac.compare_digest(form_token(credential), str(sent))
