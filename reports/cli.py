"""Command-line entry points of the read side (`flask --app app export ...`)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
