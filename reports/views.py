"""Clinician dashboards and coordinator export pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import login_required

from surveys.staff import study_or_404

bp = Blueprint("reports", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/reports")


@bp.get("/studies/<code>/dashboard")
@login_required
def dashboard(code: str) -> Any:
    """The study dashboard."""
    study = study_or_404(code)
    return render_template("reports/dashboard.html", study=study)
