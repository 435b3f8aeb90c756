"""A local SMTP sink (aiosmtpd on 127.0.0.1) and its fixtures, for tests that send e-mail.

Loaded as a plugin by tests/conftest.py, so `smtp` and `inbox` are there for every test; point
the app at the sink with an `app_overrides` fixture that uses `smtp[1]` as MAIL_PORT.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class Sink:
    """An SMTP server on 127.0.0.1 that keeps what it receives.

    `hang()` makes it a server that accepts a message's DATA and then does not answer, until
    `release()` (or `at_most` seconds); `events` notes "data" when a message arrives and
    "accepted" when it is answered, so that tests can order them with their own events.
    """

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.events: list[str] = []
        self._answer = threading.Event()
        self._answer.set()
        self._at_most = 0.0

    def hang(self, at_most: float) -> None:
        """From now on, answer DATA only after `release()`, or after `at_most` seconds."""
        self._at_most = at_most
        self._answer.clear()

    def release(self) -> None:
        """Answer the DATA held by `hang()`, and every later one at once."""
        self._answer.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        self.events.append("data")
        deadline = time.monotonic() + self._at_most
        while not self._answer.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self.messages.append(email.message_from_bytes(envelope.content))
        self.events.append("accepted")
        return "250 OK"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Sink, int]]:
    """The running sink and its port, for the whole test module."""
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def inbox(smtp: tuple[Sink, int]) -> list[email.message.Message]:
    """The messages the sink received during this test."""
    smtp[0].messages.clear()
    return smtp[0].messages
