"""collection in the clinic and links that reach patients: planned sessions, window extensions,
tablet sessions, mode of administration on responses, the language of each answer, several links
per patient (kind, expiry)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODES = "mode IN ('own_device', 'tablet_in_clinic', 'staff_interview', 'paper_entry')"


def upgrade() -> None:
    # Existing rows keep their meaning: sessions were done, responses came from the patient's own
    # device, links were printed handouts without expiry; answers' language stays unknown (NULL).
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("planned", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("patient_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=12), server_default="handout", nullable=False))
        batch_op.add_column(sa.Column("expires_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.create_check_constraint("kind", "kind IN ('handout', 'code', 'email', 'reminder')")
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=16), server_default="own_device", nullable=False))
        batch_op.add_column(sa.Column("assisted_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("entered_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("window_extended", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_foreign_key(
            "fk_response_assisted_by_id_staff_user", "staff_user", ["assisted_by_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_check_constraint("mode", MODES)
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=True))
        batch_op.create_check_constraint("language", "language IS NULL OR language IN ('en', 'fr')")
    op.create_table(
        "window_extension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("timepoint", sa.String(length=32), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_window_extension_patient_id_patient"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_window_extension")),
        sa.UniqueConstraint("patient_id", "timepoint", name=op.f("uq_window_extension_patient_id_timepoint")),
    )
    op.create_table(
        "tablet_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("started_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", surveys.infra.db.UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=12), nullable=True),
        sa.CheckConstraint("end_reason IS NULL OR end_reason IN ('completed', 'idle', 'staff')",
                           name=op.f("ck_tablet_session_end_reason")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_tablet_session_patient_id_patient"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["started_by_id"], ["staff_user.id"],
                                name=op.f("fk_tablet_session_started_by_id_staff_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tablet_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tablet_session_token_hash")),
    )
    op.create_index("ix_tablet_session_patient_id", "tablet_session", ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tablet_session_patient_id", table_name="tablet_session")
    op.drop_table("tablet_session")
    op.drop_table("window_extension")
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_constraint("language", type_="check")
        batch_op.drop_column("language")
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_constraint("mode", type_="check")
        batch_op.drop_constraint("fk_response_assisted_by_id_staff_user", type_="foreignkey")
        for column in ("window_extended", "entered_at", "assisted_by_id", "mode"):
            batch_op.drop_column(column)
    with op.batch_alter_table("patient_link", schema=None) as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("kind")
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.drop_column("planned")
