"""Phone numbers as `tel:` links (RFC 3966): what a phone dials when the number is tapped."""

from __future__ import annotations

import re

from flask import Flask

_KEEP = re.compile(r"[^0-9+*#]")


def tel_uri_number(number: str | None) -> str:
    """The dialable part of a `tel:` URI: digits, a leading +, * and # (spaces, dots, dashes and
    brackets dropped, and the "(0)" trunk prefix written in international numbers):
    "+33 (0)1 23 45 67 89" -> "+33123456789", "01 23-45" -> "012345"."""
    text = (number or "").strip().replace("(0)", "")
    digits = _KEEP.sub("", text)
    return ("+" + digits.replace("+", "")) if digits.startswith("+") else digits.replace("+", "")


def init_app(app: Flask) -> None:
    """The `tel` template filter: `<a href="tel:{{ phone|tel }}">`."""
    app.add_template_filter(tel_uri_number, "tel")
