"""protocol amendments: every version of a study's protocol, and the version each response was
answered under

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "study_protocol",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("protocol", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("applied_by", sa.String(length=300), nullable=False),
        sa.Column("applied_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"], name=op.f("fk_study_protocol_study_id_study"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_protocol")),
        sa.UniqueConstraint("study_id", "version", name=op.f("uq_study_protocol_study_id_version")),
    )
    with op.batch_alter_table("study_protocol", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_protocol_study_id"), ["study_id"], unique=False)
    # Every existing study's protocol is its first version, applied when the study was created.
    op.execute(
        "INSERT INTO study_protocol (study_id, version, protocol, reason, applied_by, applied_at)"
        " SELECT id, protocol_version, protocol, NULL, 'study creation', created_at FROM study"
    )
    # Existing responses were all answered under their study's only version.
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.add_column(sa.Column("protocol_version", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE response SET protocol_version = (SELECT s.protocol_version FROM study s"
        " JOIN patient p ON p.study_id = s.id WHERE p.id = response.patient_id)"
    )
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.alter_column("protocol_version", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_column("protocol_version")
    with op.batch_alter_table("study_protocol", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_protocol_study_id"))
    op.drop_table("study_protocol")
