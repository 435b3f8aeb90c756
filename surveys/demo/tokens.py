"""Demo secrets derived from the installation's secret key: stable across runs, never published."""

from __future__ import annotations

import base64
import hashlib
import hmac


def demo_token(secret: str, code: str) -> str:
    """A demo patient's link token: stable across runs of one installation, secret-derived."""
    digest = hmac.new(secret.encode(), f"demo-link:{code}".encode(), hashlib.sha256).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def demo_totp_secret(secret: str) -> str:
    """The demo admin's two-factor key: stable across runs of one installation, secret-derived."""
    digest = hmac.new(secret.encode(), b"demo-totp:admin", hashlib.sha256).digest()[:20]
    return base64.b32encode(digest).decode()
