"""The staff blueprint, shared by the two modules that register its routes.

`views.py` holds login, two-factor, studies and the audit trail; `patient_views.py` the patients,
sessions, links, worklist and alert queue. Both import `bp` from here, so neither imports the other.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "staff", __name__, template_folder="templates", static_folder="static", static_url_path="/static/staff",
)
