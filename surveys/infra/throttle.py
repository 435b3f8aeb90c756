"""Throttles that slow guessing without ever locking the right person out.

Both keep their counters in the rate limiter's storage (`RATELIMIT_STORAGE_URI`: memory on one
server, Redis when several servers share the work), keyed on the real client address (see
`security.init_app`: behind `TRUSTED_PROXIES` proxies, the address they report).

- `LoginThrottle`: per account *and* address, after a few failures each further failure makes the
  next attempt from that address wait longer (1, 2, 4 ... seconds, at most 5 minutes). Another
  address, the right person's, is never slowed by someone else's guesses.
- `note_link_miss`: failed patient-link look-ups per address; over the limit a wrong link gets a 429
  while a valid link is always served (the 128-bit token, not the throttle, keeps links secret).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from flask import current_app, request
from limits import parse_many
from limits.storage import Storage

from surveys.infra.security import limiter

FREE_FAILURES = 3  # failures before any delay: typos are free
MAX_DELAY_SECONDS = 300
FAILURE_MEMORY_SECONDS = 3600  # failures are counted over an hour from the first one
LINK_MISS_LIMIT = "10 per minute;50 per day"


def client_address() -> str:
    """The client's address as the app sees it (the real client behind trusted proxies)."""
    return request.remote_addr or "-"


def _storage() -> Storage | None:
    if not current_app.config.get("RATELIMIT_ENABLED", True) or not limiter.enabled:
        return None
    return limiter.storage


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{current_app.config.get('RATELIMIT_KEY_PREFIX', '')}throttle:{digest}"


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """Growing delays between failed logins to one account from one address."""

    account: str
    address: str

    @classmethod
    def for_request(cls, account: str) -> LoginThrottle:
        """The throttle of this account (e-mail, lower-cased) from this request's client."""
        return cls(account.strip().lower()[:254], client_address())

    def wait_seconds(self) -> int:
        """Seconds before another attempt is heard (0: go ahead)."""
        storage = _storage()
        if storage is None or not storage.get(_key("login-wait", self.account, self.address)):
            return 0
        remaining = storage.get_expiry(_key("login-wait", self.account, self.address)) - time.time()
        return max(1, int(remaining + 0.999))

    def failed(self) -> int:
        """Count one failure; returns the delay (seconds) now imposed on the next attempt."""
        storage = _storage()
        if storage is None:
            return 0
        failures = storage.incr(_key("login-fail", self.account, self.address), FAILURE_MEMORY_SECONDS)
        if failures <= FREE_FAILURES:
            return 0
        delay = min(MAX_DELAY_SECONDS, 2 ** (failures - FREE_FAILURES - 1))
        storage.incr(_key("login-wait", self.account, self.address), delay)
        return delay

    def succeeded(self) -> None:
        """The right password: forget the failures of this account from this address."""
        storage = _storage()
        if storage is not None:
            storage.clear(_key("login-fail", self.account, self.address))
            storage.clear(_key("login-wait", self.account, self.address))


def note_link_miss() -> bool:
    """Count one failed patient-link look-up from this client; False when it is over the limit."""
    if _storage() is None:
        return True
    allowed = True
    for item in parse_many(LINK_MISS_LIMIT):
        prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
        if not limiter.limiter.hit(item, f"{prefix}patient-link-miss", client_address()):
            allowed = False
    return allowed
