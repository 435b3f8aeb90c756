"""The patient-facing side: personal links, the home page and the one-item-per-screen flow."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("patient", __name__)
