"""A minimal patient for fault tests: walks the one-item-per-screen flow over real HTTP.

Stdlib only (http.client + a cookie jar). It answers each screen with a code chosen from the
options on the page, remembers which answers the server acknowledged (a 303 after the POST),
and retries after connection errors and 5xx replies, as a phone on a bad network would.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import time
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlencode, urlsplit

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ITEM = re.compile(r'name="item" value="([^"]+)"')
OPTION = re.compile(r'name="answer" value="(-?\d+)"')
TEXTAREA = re.compile(r'<textarea[^>]*name="answer"')


class ServerDown(Exception):
    """The server did not answer (refused, reset, or a 5xx)."""


@dataclass
class PatientClient:
    """One simulated patient with a personal link."""

    base: str
    token: str
    timepoint: str = "T0"
    cookies: dict[str, str] = field(default_factory=dict)
    acknowledged: dict[tuple[str, str], int] = field(default_factory=dict)  # (instrument, item) -> code
    finished: bool = False
    errors: int = 0

    def _request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, dict, str]:
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=data, headers=headers)
            reply = conn.getresponse()
            text = reply.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            raise ServerDown(str(exc)) from exc
        finally:
            conn.close()
        for header, value in reply.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        if reply.status >= 500:
            raise ServerDown(f"{reply.status}")
        return reply.status, dict(reply.getheaders()), text

    def _get(self, path: str) -> tuple[str, str]:
        """GET following redirects; returns the final path and page."""
        for _ in range(5):
            status, headers, text = self._request("GET", path)
            if status in (301, 302, 303):
                path = urlsplit(headers.get("Location") or headers["location"]).path
                continue
            if status != 200:
                raise AssertionError(f"GET {path} gave {status}: {text[:300]}")
            return path, text
        raise AssertionError("too many redirects")

    def step(self) -> None:
        """Load the questionnaire, answer the screen on show, record the acknowledgement."""
        path, page = self._get(f"/p/{self.token}/q/{self.timepoint}")
        if 'name="answer"' not in page:
            self.finished = True
            return
        instrument = path.rstrip("/").rsplit("/", 1)[-1]
        item = unescape(ITEM.search(page).group(1))
        csrf = unescape(CSRF.search(page).group(1))
        codes = [int(c) for c in OPTION.findall(page)]
        if not codes:
            raise AssertionError(f"{instrument}/{item}: no options on the screen")
        digest = int(hashlib.sha256(f"{self.token}:{item}".encode()).hexdigest(), 16)
        code = codes[digest % len(codes)]
        status, _headers, _text = self._request(
            "POST", path, {"csrf_token": csrf, "item": item, "answer": str(code)}
        )
        if status == 303:
            self.acknowledged[(instrument, item)] = code

    def run(self, deadline: float) -> None:
        """Answer until the questionnaire is done or the deadline passes; ride out outages."""
        while not self.finished and time.monotonic() < deadline:
            try:
                self.step()
            except ServerDown:
                self.errors += 1
                time.sleep(0.2)
