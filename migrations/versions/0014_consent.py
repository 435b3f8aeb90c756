"""consent: a study's consent texts by version (English and French), each patient's consent records
(how, local date, version; a patient's own acceptance on their phone), and the study settings
"consent required" and "patients accept consent on their phone" (both off for existing studies)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_required", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column("consent_on_phone", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.create_table(
        "consent_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("text_fr", sa.Text(), nullable=False),
        sa.Column("requires_reconsent", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"], name=op.f("fk_consent_version_study_id_study"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_version")),
        sa.UniqueConstraint("study_id", "version", name=op.f("uq_consent_version_study_id_version")),
    )
    with op.batch_alter_table("consent_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_version_study_id"), ["study_id"], unique=False)
    op.create_table(
        "consent_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("consented_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=300), nullable=False),
        sa.Column("recorded_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("method IN ('paper', 'verbal', 'electronic', 'patient_device')",
                           name=op.f("ck_consent_record_method")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_consent_record_patient_id_patient"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["version_id"], ["consent_version.id"],
                                name=op.f("fk_consent_record_version_id_consent_version"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
        sa.UniqueConstraint("patient_id", "version_id", name=op.f("uq_consent_record_patient_id_version_id")),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_record_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_record_patient_id"))
    op.drop_table("consent_record")
    with op.batch_alter_table("consent_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_version_study_id"))
    op.drop_table("consent_version")
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("consent_on_phone")
        batch_op.drop_column("consent_required")
