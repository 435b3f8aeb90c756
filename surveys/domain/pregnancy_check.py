"""The pre-session pregnancy check before a session with a 5-alpha-reductase inhibitor (5-ARI).

Dutasteride and finasteride are contraindicated in pregnancy and breastfeeding (they can feminise a
male foetus). Before staff record or plan a session whose formulation holds one, for a patient not
recorded as male (female, "other", or sex not recorded: fail safe), three questions are answered:
pregnant? breastfeeding? trying to conceive? Any "yes" refuses the session, with the reason; three
"no" are stored with the session (who and when) and go to the audit trail with it. The rule is the
same on every path that records a session (the staff form, `sessions record`, `sessions import`):
`patients.record_session` enforces it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from surveys.domain.formulations import folded, formulation_matcher

#: The 5-alpha-reductase inhibitors, as named in a session's agents or its formulation's names
#: (the same words as the protocol's `if_agents` for the 5-ARI block and the PHQ-9).
FIVE_ARI_AGENTS = ("dutasteride", "finasteride")
#: Whose sessions are spared the check: sex as recorded at enrollment. Fail safe: a patient recorded
#: as "other" or with no sex recorded may be able to become pregnant, so everyone else is asked.
EXEMPT_SEXES = ("male",)


@dataclass(frozen=True, slots=True)
class PregnancyCheck:
    """The answers of one pre-session check: True is "yes"."""

    pregnant: bool
    breastfeeding: bool
    trying_to_conceive: bool

    @property
    def any_yes(self) -> bool:
        """Whether any answer forbids a 5-ARI session."""
        return self.pregnant or self.breastfeeding or self.trying_to_conceive

    def as_dict(self) -> dict[str, bool]:
        """The answers by name (for the audit trail)."""
        return {"pregnant": self.pregnant, "breastfeeding": self.breastfeeding,
                "trying_to_conceive": self.trying_to_conceive}


def _names_5ari(text: str) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b(?![- ]free)", text, re.IGNORECASE)
               for word in FIVE_ARI_AGENTS)


def holds_5ari(agents: str, formulations: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Whether a session's agents text holds a 5-ARI.

    In: the agents text as typed, and the study's formulations (`formulations.study_formulations`).
    True when the text names dutasteride or finasteride as a whole word (not "...-free"), or when
    it is the name (id, label or alias, compared without case, accents or spaces) of a formulation
    whose names do.
    """
    if _names_5ari(agents):
        return True
    ident = formulation_matcher(formulations).get(folded(agents)) if agents.strip() else None
    entry = next((f for f in formulations if f["id"] == ident), None)
    if entry is None:
        return False
    names = (entry["id"].replace("_", " "), *entry.get("label", {}).values(), *entry.get("aliases", ()))
    return any(_names_5ari(name) for name in names)


def needs_check(sex: str | None, agents: str, formulations: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Whether recording a session with these agents for a patient of this sex needs the check."""
    return asks_check(sex) and holds_5ari(agents, formulations)


def asks_check(sex: str | None) -> bool:
    """Whether a patient of this recorded sex (None: not recorded) is asked the check before a 5-ARI
    session: everyone but a patient recorded as male."""
    return sex not in EXEMPT_SEXES


def parse_answer(text: str | None) -> bool | None:
    """A yes/no answer as typed on the command line or in a CSV cell (English or French); None when
    empty; raises ValueError for anything else."""
    value = (text or "").strip().lower()
    if value == "":
        return None
    if value in {"yes", "y", "oui", "o", "true", "1"}:
        return True
    if value in {"no", "n", "non", "false", "0"}:
        return False
    raise ValueError(_("%(value)s is not yes or no", value=repr(text)))


def check_from_answers(pregnant: bool | None, breastfeeding: bool | None,
                       trying_to_conceive: bool | None) -> PregnancyCheck | None:
    """The check when all three answers are given; None when none is; ValueError when only some are."""
    answers = (pregnant, breastfeeding, trying_to_conceive)
    if all(a is None for a in answers):
        return None
    if any(a is None for a in answers):
        raise ValueError(_("Answer all three questions of the pregnancy check (pregnant, breastfeeding, "
                           "trying to conceive)."))
    return PregnancyCheck(bool(pregnant), bool(breastfeeding), bool(trying_to_conceive))
