"""participation: withdrawal date and reason, completion date, erasure tombstone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITHDRAWAL = ("'consent_withdrawn_keep_data', 'consent_withdrawn_discard_data', 'lost_to_follow_up', "
              "'clinician_decision', 'other'")
ERASURE = "'data_subject_request', 'consent_withdrawn', 'enrolled_in_error', 'other'"


def upgrade() -> None:
    # Patients withdrawn before this revision keep their status; their date and reason stay
    # unknown (NULL) rather than invented.
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("withdrawal_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("erasure_reason", sa.String(length=32), nullable=True))
        batch_op.drop_constraint("status", type_="check")
        batch_op.create_check_constraint("status", "status IN ('active', 'withdrawn', 'completed', 'erased')")
        batch_op.create_check_constraint(
            "withdrawal_reason", f"withdrawal_reason IS NULL OR withdrawal_reason IN ({WITHDRAWAL})")
        batch_op.create_check_constraint("erasure_reason", f"erasure_reason IS NULL OR erasure_reason IN ({ERASURE})")


def downgrade() -> None:
    # An erased patient stays a tombstone, shown as withdrawn by the older schema.
    op.execute("UPDATE patient SET status = 'withdrawn' WHERE status = 'erased'")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_constraint("erasure_reason", type_="check")
        batch_op.drop_constraint("withdrawal_reason", type_="check")
        batch_op.drop_constraint("status", type_="check")
        batch_op.create_check_constraint("status", "status IN ('active', 'withdrawn', 'completed')")
        for column in ("erasure_reason", "status_note", "withdrawal_reason", "status_on"):
            batch_op.drop_column(column)
