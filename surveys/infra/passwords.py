"""The staff password policy: length, a list of common passwords, and guessable shapes.

`common_passwords.txt` holds the ~10,000 most common passwords of the public leak corpus that
zxcvbn 4.5 (MIT licence) ships as its frequency list, plus the foundation's own entries and a
few words of this domain (clinic, mesotherapy, French keyboard walks).
"""

from __future__ import annotations

import re
from functools import cache
from itertools import pairwise
from pathlib import Path

_LIST = Path(__file__).parent / "common_passwords.txt"
MIN_LENGTH = 12
MAX_LENGTH = 1024
_PAD = "0123456789!?.@#$%*_-+=&~ "
_LEET = str.maketrans(
    {"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"}
)


@cache
def _common() -> frozenset[str]:
    return frozenset(line.strip().lower() for line in _LIST.read_text().splitlines() if line.strip())


def _repeats_a_short_unit(text: str) -> bool:
    """True for 'abcabcabcabc' or 'qwerqwerqwer': one unit of at most four characters, repeated."""
    return re.fullmatch(r"(.{1,4})\1+", text) is not None


def _is_run(text: str) -> bool:
    """True for ascending or descending runs such as 'abcdefghijkl' or '987654321098'."""
    steps = {(ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)
             for a, b in pairwise(text)}
    return steps in ({1}, {-1}, {9})


def is_common(password: str) -> bool:
    """True for a listed password, also padded with digits or punctuation, or in leetspeak."""
    lowered = password.lower()
    candidates = {lowered, lowered.rstrip(_PAD), lowered.lstrip(_PAD), lowered.strip(_PAD)}
    candidates |= {c.translate(_LEET) for c in candidates}
    candidates.discard("")
    if candidates & _common():
        return True
    squeezed = lowered.replace(" ", "")
    return len(set(lowered)) <= 3 or _repeats_a_short_unit(squeezed) or _is_run(squeezed)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a password is not acceptable for a staff account, or None when it is."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password must have at most {MAX_LENGTH} characters."
    if is_common(password):
        return "This password is too common or too easy to guess; choose another."
    if email:
        local = email.split("@")[0].lower()
        if len(local) >= 4 and local in password.lower():
            return "The password must not contain your e-mail address."
    return None
