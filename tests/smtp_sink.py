"""A local SMTP sink (aiosmtpd on 127.0.0.1) and its fixtures, for tests that send e-mail.

Loaded as a plugin by tests/conftest.py, so `smtp` and `inbox` are there for every test; point
the app at the sink with an `app_overrides` fixture that uses `smtp[1]` as MAIL_PORT.
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class Sink:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
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
