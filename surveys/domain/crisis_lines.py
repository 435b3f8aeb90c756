"""Crisis lines by country: what a patient is shown at once when an answer signals suicide risk.

The line follows the study's `emergency_country` setting (ISO 3166 alpha-2, default FR), never the
text of an item, so one definition serves every clinic. The emergency number shown beside it is the
study's own `emergency_number`. A country without an entry here shows the emergency number alone.
To confirm by the clinic's medical lead for their country; add a country here (a code change,
reviewed) rather than in a questionnaire.
"""

from __future__ import annotations

#: country -> the national suicide-prevention / crisis line (free, 24 h a day where stated).
CRISIS_LINES: dict[str, str] = {
    "FR": "3114",  # numéro national de prévention du suicide, 24 h/24, gratuit (since 2021)
    "BE": "0800 32 123",  # Centre de Prévention du Suicide
    "CH": "143",  # La Main Tendue
    "CA": "988",  # 9-8-8 Suicide Crisis Helpline
    "US": "988",  # 988 Suicide & Crisis Lifeline
    "GB": "116 123",  # Samaritans
}


def crisis_line(country: str | None) -> str | None:
    """The crisis line of a country (ISO alpha-2, any case), or None when none is known."""
    return CRISIS_LINES.get((country or "").strip().upper())
