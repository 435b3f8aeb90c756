"""Creating studies from protocol files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from instruments import Instrument
from surveys.domain.audit import record
from surveys.domain.models import DEFAULT_TIMEZONE, Study, StudyProtocol
from surveys.domain.protocol import DEFAULT_PROTOCOL, ProtocolError, instrument_sections, parse_protocol
from surveys.infra.zones import is_zone_name

STUDY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")


def valid_timezone(name: str) -> bool:
    """True for an IANA time zone name a study may follow (e.g. Europe/Paris, America/New_York); False
    for unknown names and for zone files that are no zone (`localtime`, `Factory`: `infra.zones`)."""
    return is_zone_name(name)


def default_timezone() -> str:
    """The zone new studies get: the app's DEFAULT_TIMEZONE (env), else Europe/Paris."""
    configured = current_app.config.get("DEFAULT_TIMEZONE") if has_app_context() else None
    return str(configured or DEFAULT_TIMEZONE)


def create_study(
    session: Session,
    code: str,
    name: str,
    library: dict[str, Instrument],
    *,
    actor: str,
    protocol_data: dict[str, Any] | None = None,
    contact: str = "",
    emergency_number: str = "112",
    oncall_email: str | None = None,
    timezone: str | None = None,
) -> Study:
    """Validate the protocol against the instrument library and create the study.

    `timezone` is the IANA zone whose local days count the study's windows; None takes the server's
    DEFAULT_TIMEZONE setting (Europe/Paris when unset). Raises ProtocolError for bad input.
    """
    code = code.strip().upper()
    if not STUDY_CODE.match(code):
        raise ProtocolError("The study code must be 2-32 capital letters, digits, '-' or '_'.")
    if not name.strip() or len(name) > 200:
        raise ProtocolError("The study needs a name of at most 200 characters.")
    if session.scalar(select(Study.id).where(Study.code == code)):
        raise ProtocolError(f"A study with code {code} already exists.")
    timezone = timezone or default_timezone()
    if not valid_timezone(timezone):
        raise ProtocolError(f"Unknown time zone '{timezone[:64]}': use an IANA name such as Europe/Paris.")
    if protocol_data is None:
        protocol_data = json.loads(Path(DEFAULT_PROTOCOL).read_text(encoding="utf-8"))
    protocol = parse_protocol(
        protocol_data, source="protocol", known_instruments=instrument_sections(library)
    )
    study = Study(
        code=code,
        name=name.strip(),
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        protocol=protocol_data,
        contact=contact,
        emergency_number=emergency_number,
        oncall_email=oncall_email,
        timezone=timezone,
    )
    session.add(study)
    session.flush()
    session.add(StudyProtocol(study_id=study.id, version=protocol.version, protocol=protocol_data,
                              applied_by=actor))
    record(
        session,
        actor,
        "study.create",
        entity="study",
        entity_id=study.id,
        study_id=study.id,
        details={"code": code, "protocol": f"{protocol.id} {protocol.version}"},
    )
    return study


def revise_current_protocol(session: Session, study: Study, data: dict[str, Any]) -> None:
    """Replace the study's protocol data within its current version (e.g. the list of formulations,
    which changes no timepoint or window), keeping the stored copy of that version in step.

    `data` must already be valid (same id and version); a change to the schedule is a protocol
    amendment instead (`surveys.domain.amendments`). Flushes; the caller audits and commits.
    """
    study.protocol = data
    current = (StudyProtocol.study_id == study.id) & (StudyProtocol.version == study.protocol_version)
    session.execute(update(StudyProtocol).where(current).values(protocol=data))
    session.flush()
