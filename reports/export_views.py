"""Coordinator export pages and the read-only export API."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exports", __name__, template_folder="templates")
