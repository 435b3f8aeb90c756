"""De-identification for exports: per-export random patient ids, relative days, age bands.

What a de-identified export changes (the rest of the export modules ask these functions):
- patient codes become pseudonyms, one per patient for every file of the export (so the files
  join on them), random and new for every export (two exports cannot be joined), or, when the
  server holds EXPORT_PSEUDONYM_KEY and the export asks for `stable_ids`, a keyed hash that is the
  same in every export of the study (see `KeyedPseudonyms`); the mapping is never stored;
- calendar dates and timestamps are dropped; time is given as whole days since the patient's
  first treatment session (negative before it), which the identified exports also carry;
- birth year becomes a ten-year age band at enrollment;
- free text (answers to text items, prior treatments typed by staff) is left out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date

AGE_BANDS = ("<18", "18-29", "30-39", "40-49", "50-59", "60-69", "70+")


class Pseudonyms:
    """Random ids for the patients of one export, handed out on first sight."""

    def __init__(self, prefix: str = "R") -> None:
        self.prefix = prefix
        self._ids: dict[int, str] = {}
        self._used: set[str] = set()

    def __call__(self, patient_id: int) -> str:
        """The export-specific id of a patient (the same within one export)."""
        found = self._ids.get(patient_id)
        if found is None:
            found = self._new()
            self._ids[patient_id] = found
        return found

    def _new(self) -> str:
        while True:  # 40 random bits: collisions are rare, and checked anyway
            candidate = f"{self.prefix}{secrets.token_hex(5)}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate


class KeyedPseudonyms:
    """Pseudonyms that stay the same in every export of one study: HMAC-SHA256 of the patient.

    The study secret is HMAC-SHA256(server key, "hair-prom export pseudonyms:" + study code), so
    one server key (EXPORT_PSEUDONYM_KEY, at least 32 characters, kept outside the database)
    gives each study its own secret, and a study's pseudonyms say nothing about another's. The
    pseudonym is "K" + the first 16 hex digits (64 bits) of HMAC-SHA256(study secret, patient's
    database id): without the key nobody can recompute it from a patient code or id.
    """

    def __init__(self, server_key: str, study_code: str) -> None:
        self._secret = hmac.new(server_key.encode("utf-8"),
                                f"hair-prom export pseudonyms:{study_code}".encode(), hashlib.sha256).digest()
        self._ids: dict[int, str] = {}

    def __call__(self, patient_id: int) -> str:
        """The study-wide pseudonym of a patient (a database id)."""
        found = self._ids.get(patient_id)
        if found is None:
            digest = hmac.new(self._secret, str(patient_id).encode(), hashlib.sha256).hexdigest()
            found = self._ids[patient_id] = f"K{digest[:16]}"
        return found


def age_band(birth_year: int | None, on: date | None) -> str | None:
    """The age band of someone born in `birth_year` on a date (the year difference), or None."""
    if birth_year is None or on is None:
        return None
    age = on.year - birth_year
    if age < 18:
        return AGE_BANDS[0]
    if age < 30:
        return AGE_BANDS[1]
    return AGE_BANDS[min(2 + (age - 30) // 10, len(AGE_BANDS) - 1)]


def days_between(start: date | None, end: date | None) -> int | None:
    """Whole days from `start` to `end` (negative when `end` is earlier), None when either is unknown."""
    if start is None or end is None:
        return None
    return (end - start).days
