"""Instrument definitions as data, their loader, and pure scoring and alert rules.

Standard library only: importable by an analyst without Flask or a database, e.g.
``python -m instruments score who5 < answers.json``.
"""

from instruments.alerts import AlertContext, AlertResult, evaluate_alerts
from instruments.library import Library, resolve, version_key, versions_of
from instruments.loader import InstrumentError, default_library, load_instrument, load_library
from instruments.model import Instrument, Item, Option
from instruments.scoring import (
    AnswerError,
    ScoreResult,
    band_of,
    categorical_scores,
    meaningful_change,
    score,
    validate_answers,
    visible_items,
)

__all__ = [
    "AlertContext",
    "AlertResult",
    "AnswerError",
    "Instrument",
    "InstrumentError",
    "Item",
    "Library",
    "Option",
    "ScoreResult",
    "band_of",
    "categorical_scores",
    "default_library",
    "evaluate_alerts",
    "load_instrument",
    "load_library",
    "meaningful_change",
    "resolve",
    "score",
    "validate_answers",
    "version_key",
    "versions_of",
    "visible_items",
]
