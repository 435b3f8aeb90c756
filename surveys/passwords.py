"""The common-password check of the staff password policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_LIST = Path(__file__).parent / "common_passwords.txt"


@cache
def _common() -> frozenset[str]:
    return frozenset(line.strip().lower() for line in _LIST.read_text().splitlines() if line.strip())


def is_common(password: str) -> bool:
    """True for a listed password, or a listed one padded with digits or punctuation."""
    lowered = password.lower()
    core = lowered.rstrip("0123456789!?.@#$%*_-")
    return lowered in _common() or core in _common() or len(set(lowered)) <= 3
