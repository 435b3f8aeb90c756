"""the clinician's own hair-loss stage of a patient at a timepoint (Norwood-Hamilton or Sinclair)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinician_stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("timepoint", sa.String(length=32), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("instrument_version", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=300), nullable=False),
        sa.Column("recorded_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("code >= 1", name=op.f("ck_clinician_stage_code_positive")),
        sa.CheckConstraint("scale IN ('norwood', 'sinclair')", name=op.f("ck_clinician_stage_scale")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"],
                                name=op.f("fk_clinician_stage_patient_id_patient"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinician_stage")),
        sa.UniqueConstraint("patient_id", "timepoint", name=op.f("uq_clinician_stage_patient_id_timepoint")),
    )


def downgrade() -> None:
    op.drop_table("clinician_stage")
