"""De-identification for exports: per-export random patient ids, relative days, age bands.

What a de-identified export changes (the rest of the export modules ask these functions):
- patient codes become random ids that are new for every export, so two exports cannot be
  joined on them, and the mapping is never stored;
- calendar dates and timestamps are dropped; time is given as whole days since the patient's
  first treatment session (negative before it), which the identified exports also carry;
- birth year becomes a ten-year age band at enrollment;
- free text (answers to text items, prior treatments typed by staff) is left out.
"""

from __future__ import annotations

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
