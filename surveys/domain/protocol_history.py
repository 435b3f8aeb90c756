"""Every version of a study's protocol, for readers of answers given under any of them.

A protocol amendment may remove a timepoint or an instrument that patients already answered; those
answers stay attached to the version they were answered under (`Response.protocol_version`). Pages
and exports that label or order timepoints read them here, through the response's own version,
never only through the current protocol (which no longer knows them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol as TypingProtocol

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from surveys.domain.models import Response, Study, StudyProtocol
from surveys.domain.protocol import Protocol, ProtocolError, Timepoint, parse_protocol_text, session_number


class StudyLike(TypingProtocol):
    """What the history needs of a study: a `Study` row or the patient pages' `LinkedStudy`."""

    @property
    def id(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def protocol(self) -> dict[str, Any]: ...


class ProtocolHistory:
    """A study's protocol versions, oldest first, the current one last.

    `versions`: version label -> parsed `Protocol`, in the order they were applied.
    """

    def __init__(self, versions: Mapping[str, Protocol], current: str) -> None:
        self.versions = dict(versions)
        self.current = self.versions[current]
        self._merged: list[Timepoint] | None = None

    def protocol(self, version: str | None) -> Protocol:
        """The protocol of a version label; the current one for None or a version the study never had."""
        return self.versions.get(version or "", self.current)

    def timepoint(self, timepoint_id: str, version: str | None = None) -> Timepoint | None:
        """The definition of a timepoint (`S3` -> the per-session `S`): in `version` first (the version a
        response was answered under), else the current protocol, else the newest older version that had
        it; None when no version ever had it."""
        for protocol in (self.protocol(version), self.current, *reversed(self.versions.values())):
            found = _find(protocol, timepoint_id)
            if found is not None:
                return found
        return None

    def label(self, timepoint_id: str, lang: str, version: str | None = None) -> str:
        """A timepoint's label in a language, from its own version (the id itself if no version knows it)."""
        found = self.timepoint(timepoint_id, version)
        if found is None:
            return timepoint_id
        return found.label_for(lang, session_number(timepoint_id, found.id) if found.anchor == "each_session"
                               else None)

    def timepoints(self) -> list[Timepoint]:
        """Every timepoint any version defined, once each (the newest definition of an id): the current
        protocol's in its order, each removed one placed after the timepoint that preceded it in its own
        version, past later ones of the same anchor that open earlier (W8 before a removed W12)."""
        merged: list[Timepoint] = list(self.current.timepoints)
        for protocol in reversed(list(self.versions.values())):
            for index, tp in enumerate(protocol.timepoints):
                if any(known.id == tp.id for known in merged):
                    continue
                merged.insert(_position(merged, protocol.timepoints[:index], tp), tp)
        return merged

    def sort_key(self, timepoint_id: str) -> tuple[int, int]:
        """Where a timepoint's answers sort: its definition's place in `timepoints()`, then the session
        number of a per-session window (S2 after S1); unknown ids last."""
        order = self._order()
        for index, tp in enumerate(order):
            if tp.id == timepoint_id:
                return index, 0
            number = session_number(timepoint_id, tp.id) if tp.anchor == "each_session" else None
            if number is not None:
                return index, number
        return len(order), 0

    def _order(self) -> list[Timepoint]:
        if self._merged is None:
            self._merged = self.timepoints()
        return self._merged

    def removed(self) -> list[Timepoint]:
        """The timepoints of earlier versions that the current protocol no longer has."""
        current = {tp.id for tp in self.current.timepoints}
        return [tp for tp in self.timepoints() if tp.id not in current]

    def asked_at(self, instrument_id: str) -> list[Timepoint]:
        """The timepoints (merged order) at which any version asked an instrument: answers given under an
        older version stay at their timepoint even when an amendment stopped asking it there."""
        asked = {tp.id for protocol in self.versions.values() for tp in protocol.timepoints
                 if any(entry.instrument == instrument_id for entry in tp.instruments)}
        return [tp for tp in self._order() if tp.id in asked]

    def instrument_ids(self) -> list[str]:
        """Every instrument id any version asks, the current protocol's first, in protocol order."""
        seen: list[str] = []
        for protocol in (self.current, *reversed(self.versions.values())):
            for tp in protocol.timepoints:
                for entry in tp.instruments:
                    if entry.instrument not in seen:
                        seen.append(entry.instrument)
        return seen


@dataclass(frozen=True, slots=True)
class EarlierAnswer:
    """A response at a timepoint, or of an instrument at that timepoint, that the current protocol no
    longer asks (removed by an amendment): shown apart from the current windows, never dropped."""

    timepoint: str
    label: str  # the timepoint's label in the version answered under
    instrument_id: str
    protocol_version: str
    status: str
    submitted_at: datetime | None


def earlier_answers(session: Session, history: ProtocolHistory, patient_id: int,
                    lang: str) -> list[EarlierAnswer]:
    """A patient's responses that the current protocol no longer asks at their timepoint, in the merged
    timepoint order (one SELECT on the patient's responses)."""
    rows = session.execute(
        select(Response.timepoint, Response.instrument_id, Response.protocol_version, Response.status,
               Response.submitted_at)
        .where(Response.patient_id == patient_id).order_by(Response.started_at, Response.id)
    ).all()
    found = []
    for timepoint, instrument_id, version, status, submitted in rows:
        current = _find(history.current, timepoint)
        if current is not None and any(e.instrument == instrument_id for e in current.instruments):
            continue
        found.append(EarlierAnswer(timepoint, history.label(timepoint, lang, version), instrument_id, version,
                                   status, submitted))
    return sorted(found, key=lambda a: history.sort_key(a.timepoint))


def _find(protocol: Protocol, timepoint_id: str) -> Timepoint | None:
    try:
        return protocol.timepoint(timepoint_id)
    except KeyError:
        return None


def _position(merged: Sequence[Timepoint], before: Sequence[Timepoint], tp: Timepoint) -> int:
    """Where a removed timepoint goes in the merged order (see `ProtocolHistory.timepoints`)."""
    ids = [known.id for known in merged]
    position = 0
    for previous in reversed(before):
        if previous.id in ids:
            position = ids.index(previous.id) + 1
            break
    while (position < len(merged) and merged[position].anchor == tp.anchor
           and merged[position].opens < tp.opens):
        position += 1
    return position


def _parse(data: Mapping[str, Any], study_code: str, version: str) -> Protocol:
    source = f"study {study_code} protocol {version}"
    return parse_protocol_text(json.dumps(data, sort_keys=True), source=source)


def protocol_versions(session: Session, study: StudyLike) -> ProtocolHistory:
    """Every protocol version of a study (one SELECT on `study_protocol`), parsed once per distinct text.

    `study`: the `Study` row or any object with its `id`, `code` and `protocol` (the patient pages'
    `LinkedStudy`). The study's own snapshot is the current version, even if its `study_protocol` row is
    missing.
    """
    rows = session.execute(
        select(StudyProtocol.version, StudyProtocol.protocol)
        .where(StudyProtocol.study_id == study.id).order_by(StudyProtocol.applied_at, StudyProtocol.id)
    ).all()
    current = _parse(study.protocol, study.code, "current")
    label = getattr(study, "protocol_version", None) or current.version
    versions: dict[str, Protocol] = {}
    for version, data in rows:
        if version == label:
            continue
        try:
            versions[version] = _parse(data, study.code, version)
        except ProtocolError:
            continue  # a stored version that no longer parses: its answers read with their ids alone
    versions[label] = current
    return ProtocolHistory(versions, label)


def protocol_versions_of(study: Study) -> ProtocolHistory:
    """`protocol_versions` through the session the study was loaded in (for callers given only the study);
    the current version alone for a study outside any session."""
    session = object_session(study)
    if session is None:
        current = _parse(study.protocol, study.code, study.protocol_version)
        return ProtocolHistory({study.protocol_version: current}, study.protocol_version)
    return protocol_versions(session, study)
