"""Study protocols as data: load and validate a protocol file into frozen dataclasses.

Pure: no Flask, no database. A protocol names its timepoints, the anchor date each is counted
from, the window offsets and the instruments asked at each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

PROTOCOL_DIR = Path(__file__).parent / "protocols"
DEFAULT_PROTOCOL = PROTOCOL_DIR / "scalp_mesotherapy.json"
ANCHORS = ("enrollment", "first_session", "each_session", "last_session")
_OFFSET_KEYS = ("opens", "due", "overdue", "closes")
_TIMEPOINT_KEYS = {
    "id",
    "label",
    "anchor",
    "open_from_enrollment",
    "close_at_next_session",
    "instruments",
    *_OFFSET_KEYS,
}


class ProtocolError(ValueError):
    """A protocol file that cannot be used, with the place and the problem.

    `str()` is an English message for developers and command lines. For people, `problem` names the
    kind of refusal (see `PROTOCOL_PROBLEMS`), `timepoint` the timepoint id it concerns (None for the
    whole file) and `detail` its particulars (`key`, `keys`, `instrument`, `section`, `formulation`,
    `choices`), so a page can say the same thing in its reader's language
    (`surveys.domain.amendments.protocol_problem`). A bare message (no `problem`) is already fit to show.
    """

    def __init__(self, message: str, *, problem: str = "", timepoint: str | None = None,
                 **detail: str) -> None:
        super().__init__(message)
        self.problem, self.timepoint, self.detail = problem, timepoint, detail


#: The kinds of ProtocolError `parse_protocol` raises.
PROTOCOL_PROBLEMS = (
    "not_an_object", "missing_keys", "unknown_keys", "no_timepoints", "formulations_not_a_list",
    "bad_formulation", "repeated_formulation", "timepoint_not_an_object", "timepoint_unknown_keys",
    "bad_timepoint_id", "repeated_timepoint", "bad_anchor", "no_english_label", "offsets_out_of_order",
    "no_instruments", "bad_offset", "offset_not_whole", "bad_instrument", "bad_if_agents",
    "unknown_instrument", "unknown_section",
)


@dataclass(frozen=True, slots=True)
class ProtocolInstrument:
    """An instrument asked at a timepoint, optionally one section of it, for a limited time.

    `if_agents`: asked only of patients whose recorded sessions' formulation (the sessions' agents
    text) names one of these words as a whole word, case-insensitive, and not as "<word>-free"
    (e.g. ("dutasteride", "finasteride") for the PHQ-9 of patients on a 5-alpha-reductase
    inhibitor); empty: asked of everyone.
    """

    instrument: str
    section: str | None = None
    until_days_after_last_session: int | None = None
    if_agents: tuple[str, ...] = ()

    def applies_to(self, agents: str) -> bool:
        """Whether the entry is asked given the formulation text of the patient's sessions."""
        return not self.if_agents or any(
            re.search(rf"\b{re.escape(word)}\b(?![- ]free)", agents, re.IGNORECASE) for word in self.if_agents
        )


@dataclass(frozen=True, slots=True)
class Timepoint:
    """A questionnaire window defined by offsets from an anchor date."""

    id: str
    label: Mapping[str, str]
    anchor: str
    opens: timedelta
    due: timedelta
    overdue: timedelta
    closes: timedelta
    instruments: tuple[ProtocolInstrument, ...]
    open_from_enrollment: bool = False
    close_at_next_session: bool = False

    def label_for(self, lang: str, session_number: int | None = None) -> str:
        """The timepoint's label in a language, with the session number filled in; without a number (the
        per-session timepoint itself, on protocol pages) the placeholder reads "n" ("After session n"),
        never a raw "{n}"."""
        text = self.label.get(lang) or self.label["en"]
        return text.replace("{n}", str(session_number) if session_number else "n")


@dataclass(frozen=True, slots=True)
class Protocol:
    """A validated study protocol."""

    id: str
    version: str
    title: Mapping[str, str]
    timepoints: tuple[Timepoint, ...]
    planned_sessions: int
    session_interval_days: int

    def timepoint(self, timepoint_id: str) -> Timepoint:
        """The timepoint definition for an id; session windows `S3` map to the `S` definition."""
        for tp in self.timepoints:
            if tp.id == timepoint_id:
                return tp
            if tp.anchor == "each_session" and session_number(timepoint_id, tp.id) is not None:
                return tp
        raise KeyError(timepoint_id)


def session_number(timepoint_id: str, prefix: str = "S") -> int | None:
    """The session number of a per-session timepoint id like `S3`, or None."""
    rest = timepoint_id[len(prefix) :] if timepoint_id.startswith(prefix) else ""
    return int(rest) if rest.isdigit() and not rest.startswith("0") else None


def _offset(where: str, raw: Any, tp_id: str | None, key: str) -> timedelta:
    if not isinstance(raw, dict) or not raw or set(raw) - {"days", "hours"}:
        raise ProtocolError(f"{where}: an offset is an object with 'days' and/or 'hours'",
                            problem="bad_offset", timepoint=tp_id, key=key)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in raw.values()):
        raise ProtocolError(f"{where}: offset values must be whole numbers", problem="offset_not_whole",
                            timepoint=tp_id, key=key)
    return timedelta(days=raw.get("days", 0), hours=raw.get("hours", 0))


def _instrument(where: str, raw: Any, known: Mapping[str, frozenset[str]] | None,
                tp_id: str | None = None) -> ProtocolInstrument:
    if isinstance(raw, str):
        raw = {"instrument": raw}
    if not isinstance(raw, dict) or set(raw) - {"instrument", "section", "until_days_after_last_session",
                                                "if_agents"}:
        raise ProtocolError(f"{where}: an instrument is an id or an object with 'instrument'",
                            problem="bad_instrument", timepoint=tp_id)
    agents = raw.get("if_agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, str) and a.strip() for a in agents):
        raise ProtocolError(f"{where}: 'if_agents' must be a list of words naming agents",
                            problem="bad_if_agents", timepoint=tp_id)
    entry = ProtocolInstrument(
        instrument=raw.get("instrument", ""),
        section=raw.get("section"),
        until_days_after_last_session=raw.get("until_days_after_last_session"),
        if_agents=tuple(a.strip() for a in agents),
    )
    if known is not None:
        if entry.instrument not in known:
            raise ProtocolError(f"{where}: unknown instrument '{entry.instrument}'",
                                problem="unknown_instrument",
                                timepoint=tp_id, instrument=str(entry.instrument))
        if entry.section is not None and entry.section not in known[entry.instrument]:
            raise ProtocolError(f"{where}: instrument '{entry.instrument}' has no section '{entry.section}'",
                                problem="unknown_section", timepoint=tp_id, instrument=entry.instrument,
                                section=str(entry.section))
    return entry


def check_formulations(formulations: Any, source: str = "protocol") -> None:
    """Check the study's list of formulations: [{"id", "label": {lang: text}, "aliases": [text]}].

    The list is what exports group treatment sessions by (what staff type is matched to it);
    raises ProtocolError for a malformed entry or a repeated id.
    """
    if not isinstance(formulations, list):
        raise ProtocolError(f"{source}: 'formulations' must be a list", problem="formulations_not_a_list")
    seen: set[str] = set()
    for entry in formulations:
        ok = (isinstance(entry, dict) and set(entry) <= {"id", "label", "aliases"}
              and isinstance(entry.get("id"), str) and re.fullmatch(r"[a-z0-9_]{1,32}", entry["id"])
              and isinstance(entry.get("label", {}), dict)
              and all(isinstance(v, str) for v in entry.get("label", {}).values())
              and isinstance(entry.get("aliases", []), list)
              and all(isinstance(v, str) for v in entry.get("aliases", [])))
        if not ok:
            raise ProtocolError(f"{source}: a formulation is {{'id': a-z0-9_, 'label': {{lang: text}}, "
                                "'aliases': [text]}", problem="bad_formulation")
        if entry["id"] in seen:
            raise ProtocolError(f"{source}: formulation '{entry['id']}' is listed twice",
                                problem="repeated_formulation", formulation=entry["id"])
        seen.add(entry["id"])


def parse_protocol(
    data: Any, *, source: str = "protocol", known_instruments: Mapping[str, frozenset[str]] | None = None
) -> Protocol:
    """Validate raw protocol data; `known_instruments` maps instrument ids to their sections.

    The timepoints come in the order they fall due (`when_due`), whatever their order in the file.
    Raises ProtocolError for data that cannot be used.
    """
    if not isinstance(data, dict):
        raise ProtocolError(f"{source}: the protocol must be a JSON object", problem="not_an_object")
    missing = {"id", "version", "title", "timepoints"} - set(data)
    if missing:
        raise ProtocolError(f"{source}: missing {', '.join(sorted(missing))}", problem="missing_keys",
                            keys=", ".join(sorted(missing)))
    unknown = set(data) - {
        "id",
        "version",
        "title",
        "timepoints",
        "planned_sessions",
        "session_interval_days",
        "formulations",
    }
    if unknown:
        raise ProtocolError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}", problem="unknown_keys",
                            keys=", ".join(sorted(unknown)))
    check_formulations(data.get("formulations", []), source)
    if not isinstance(data["timepoints"], list) or not data["timepoints"]:
        raise ProtocolError(f"{source}: 'timepoints' must be a non-empty list", problem="no_timepoints")
    timepoints: list[Timepoint] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["timepoints"]):
        named = str(raw.get("id", index + 1) if isinstance(raw, dict) else index + 1)[:32]  # as people count
        where = f"{source}: timepoint {raw.get('id', index) if isinstance(raw, dict) else index}"
        if not isinstance(raw, dict):
            raise ProtocolError(f"{where}: must be an object",
                                problem="timepoint_not_an_object", timepoint=named)
        if set(raw) - _TIMEPOINT_KEYS:
            keys = ", ".join(sorted(set(raw) - _TIMEPOINT_KEYS))
            raise ProtocolError(f"{where}: unknown key(s) {keys}", problem="timepoint_unknown_keys",
                                timepoint=named, keys=keys)
        tp_id = raw.get("id")
        if not isinstance(tp_id, str) or not tp_id.isalnum() or len(tp_id) > 16:
            raise ProtocolError(f"{where}: 'id' must be letters and digits, at most 16",
                                problem="bad_timepoint_id", timepoint=named)
        if tp_id in seen:
            raise ProtocolError(f"{where}: duplicate timepoint id",
                                problem="repeated_timepoint", timepoint=tp_id)
        seen.add(tp_id)
        if raw.get("anchor") not in ANCHORS:
            raise ProtocolError(f"{where}: 'anchor' must be one of {', '.join(ANCHORS)}",
                                problem="bad_anchor", timepoint=tp_id, choices=", ".join(ANCHORS))
        label = raw.get("label")
        if not isinstance(label, dict) or "en" not in label:
            raise ProtocolError(f"{where}: 'label' needs at least an English text",
                                problem="no_english_label", timepoint=tp_id)
        offsets = [_offset(f"{where} {key}", raw.get(key), tp_id, key) for key in _OFFSET_KEYS]
        if offsets != sorted(offsets):
            raise ProtocolError(f"{where}: offsets must run opens <= due <= overdue <= closes",
                                problem="offsets_out_of_order", timepoint=tp_id)
        instruments = raw.get("instruments")
        if not isinstance(instruments, list) or not instruments:
            raise ProtocolError(f"{where}: 'instruments' must be a non-empty list", problem="no_instruments",
                                timepoint=tp_id)
        timepoints.append(
            Timepoint(
                id=tp_id,
                label=dict(label),
                anchor=raw["anchor"],
                opens=offsets[0],
                due=offsets[1],
                overdue=offsets[2],
                closes=offsets[3],
                instruments=tuple(_instrument(where, i, known_instruments, tp_id) for i in instruments),
                open_from_enrollment=bool(raw.get("open_from_enrollment", False)),
                close_at_next_session=bool(raw.get("close_at_next_session", False)),
            )
        )
    planned = int(data.get("planned_sessions", 4))
    interval = int(data.get("session_interval_days", 28))
    return Protocol(
        id=str(data["id"]),
        version=str(data["version"]),
        title=dict(data["title"]),
        timepoints=tuple(sorted(timepoints, key=lambda tp: when_due(tp, planned, interval))),
        planned_sessions=planned,
        session_interval_days=interval,
    )


def when_due(tp: Timepoint, planned_sessions: int, session_interval_days: int) -> tuple[timedelta, int]:
    """Where a timepoint sorts among a protocol's: by when it falls due on the planned calendar.

    The planned calendar counts from the first session (day 0): enrollment and the first session are
    day 0, per-session windows sort as the first session's, the last session is day
    (planned_sessions - 1) x session_interval_days. Returns (anchor's planned day + the `due` offset,
    the anchor's place in `ANCHORS`); equal keys keep the file's order (the sort is stable). So a
    timepoint an amendment appends at the end of the file (W6) is listed before W12, not after M12.
    """
    anchor_day = {"last_session": timedelta(days=max(planned_sessions - 1, 0) * session_interval_days)}
    return anchor_day.get(tp.anchor, timedelta(0)) + tp.due, ANCHORS.index(tp.anchor)


def parse_protocol_text(text: str, *, source: str = "protocol") -> Protocol:
    """Parse a protocol from its JSON text, cached by the text itself.

    Keyed by the whole text, so a protocol that changed in any way is parsed afresh: the cache can
    never hand back a stale protocol. Protocols are frozen; the same object is shared by callers.
    """
    return _parse_cached(text, source)


@lru_cache(maxsize=128)
def _parse_cached(text: str, source: str) -> Protocol:
    return parse_protocol(json.loads(text), source=source)


def load_protocol(
    path: str | Path = DEFAULT_PROTOCOL, known_instruments: Mapping[str, frozenset[str]] | None = None
) -> tuple[Protocol, dict[str, Any]]:
    """Read and validate a protocol file; returns the protocol and its raw data (for storage)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{path.name}: cannot read: {exc}") from exc
    return parse_protocol(data, source=path.name, known_instruments=known_instruments), data


def instrument_sections(library: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Map each instrument id of a library to the sections its items declare."""
    return {
        iid: frozenset(item.section for item in inst.items if item.section) for iid, inst in library.items()
    }
