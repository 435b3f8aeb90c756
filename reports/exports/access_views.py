"""The admin's button for a patient's right of access: download the zip of everything held about them."""

from __future__ import annotations

from typing import Any

from flask import Response, abort
from flask_login import current_user
from sqlalchemy import select

from reports.exports.access import access_archive, archive_name
from reports.exports.views import bp
from surveys.domain.models import Patient
from surveys.infra.db import db
from surveys.infra.library import instruments
from surveys.staff.access import recent_auth_required, roles_required, study_or_404


@bp.get("/studies/<code>/patients/<patient_code>/access.zip")
@roles_required()  # administrators only
@recent_auth_required  # the most identifying file the app writes: a fresh proof, as identified exports
def patient_access(code: str, patient_code: str) -> Any:
    """Right of access (GDPR art. 15): the patient's summary, answers (CSV) and FHIR Bundle in one zip.

    Asks for the password (or a one-time code) again when the last proof is older than the
    re-authentication window, then comes back here.
    """
    study = study_or_404(code)
    patient = db.session.scalar(select(Patient).where(Patient.study_id == study.id,
                                                      Patient.code == patient_code))
    if patient is None:
        abort(404)
    data = access_archive(db.session, patient, instruments(), actor=f"staff:{current_user.id}", via="web")
    db.session.commit()
    disposition = f'attachment; filename="{archive_name(patient)}"'
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})
