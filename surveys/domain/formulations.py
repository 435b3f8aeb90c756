"""A study's list of formulations: what exports group treatment sessions by.

The list lives in the study's protocol (`"formulations": [{"id", "label": {lang: text}, "aliases":
[text]}]`, checked by `protocol.check_formulations`). What staff type for a session's agents is
matched to it ignoring case, accents and spaces (`folded`), so spelling variants cannot split a
group. Coordinators and admins edit the list on a page (`surveys/staff/study_views.py`); every
change is validated as a whole (nothing half-stored) and audited with the old and the new list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from surveys.domain.audit import record
from surveys.domain.models import Study
from surveys.domain.protocol import check_formulations
from surveys.domain.studies import revise_current_protocol

MAX_FORMULATIONS = 50
MAX_ALIASES = 20
MAX_NAME_LENGTH = 200
_ID = re.compile(r"[a-z0-9_]{1,32}")


class FormulationError(ValueError):
    """A list of formulations that cannot be stored; `problems` holds one sentence per fault."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def folded(text: str) -> str:
    """Text compared without case, accents or spaces: 'Vitamines+HA ' ~ 'vitamines + ha'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", "", bare)


def formulation_matcher(formulations: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Folded id and names (labels in every language, aliases) of each formulation -> its id."""
    known: dict[str, str] = {}
    for entry in formulations:
        for name in (entry["id"], *entry.get("label", {}).values(), *entry.get("aliases", ())):
            known[folded(name)] = entry["id"]
    return known


def study_formulations(study: Study) -> list[dict[str, Any]]:
    """The study's list as stored (empty when it has none)."""
    return [dict(entry) for entry in study.protocol.get("formulations", [])]


def validate_formulations(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check a whole list and return it cleaned, or raise FormulationError naming every fault.

    In: entries {"id": text, "label": {"en": text, "fr": text}, "aliases": [text]} in order.
    Out: the same with stripped text, empty labels and aliases dropped. Rules: an id of 1-32
    characters a-z, 0-9 and _, used once; an English label; names of at most 200 characters; at
    most 20 aliases and 50 formulations; and no name (id, label or alias, compared without case,
    accents or spaces) that belongs to two formulations, which would make a session's group a
    matter of chance.
    """
    problems: list[str] = []
    clean: list[dict[str, Any]] = []
    if len(entries) > MAX_FORMULATIONS:
        problems.append(_("At most %(n)s formulations.", n=MAX_FORMULATIONS))
    owner: dict[str, tuple[int, str]] = {}
    ids: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        ident = str(entry.get("id") or "").strip()
        labels = {lang: str(text).strip() for lang, text in (entry.get("label") or {}).items()
                  if str(text or "").strip()}
        aliases = [str(a).strip() for a in entry.get("aliases") or () if str(a).strip()]
        where = ident or _("row %(n)s", n=number)
        if ident in ids:
            problems.append(_("%(where)s: this id is used twice.", where=where))
        ids.add(ident)
        if not _ID.fullmatch(ident):
            problems.append(_("%(where)s: the id must be 1 to 32 characters: lower-case letters a-z, digits "
                              "and _.", where=where))
        if not labels.get("en"):
            problems.append(_("%(where)s: the English name is required.", where=where))
        if any(len(name) > MAX_NAME_LENGTH for name in (*labels.values(), *aliases)):
            problems.append(_("%(where)s: a name must be at most %(n)s characters.", where=where,
                              n=MAX_NAME_LENGTH))
        if len(aliases) > MAX_ALIASES:
            problems.append(_("%(where)s: at most %(n)s other spellings.", where=where, n=MAX_ALIASES))
        for name in dict.fromkeys([ident, *labels.values(), *aliases]):
            key = folded(name)
            first = owner.setdefault(key, (number, where))
            if key and first[0] != number and first[1] != where:  # a repeated id is said above
                problems.append(_("'%(name)s' names both %(first)s and %(second)s: a session typed so could "
                                  "not be grouped.", name=name, first=first[1], second=where))
        item: dict[str, Any] = {"id": ident, "label": labels}
        if aliases:
            item["aliases"] = aliases
        clean.append(item)
    if problems:
        raise FormulationError(list(dict.fromkeys(problems)))
    check_formulations(clean, "formulations")  # the protocol's own rule, so the stored list always parses
    return clean


def update_formulations(session: Session, study: Study, entries: Sequence[Mapping[str, Any]], *,
                        actor: str) -> bool:
    """Validate and store a study's whole list; audit it as `study.formulations` (old and new list).

    Returns False (and records nothing) when the list is unchanged. Raises FormulationError and
    stores nothing when any entry is refused. Flushes; the caller commits. Exports read the list
    at each run, so the next export groups sessions by it.
    """
    new = validate_formulations(entries)
    old = study_formulations(study)
    if new == old:
        return False
    revise_current_protocol(session, study, {**study.protocol, "formulations": new})
    record(session, actor, "study.formulations", entity="study", entity_id=study.id, study_id=study.id,
           details={"old": old, "new": new})
    return True
