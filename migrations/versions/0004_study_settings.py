"""study settings: clinic phone, backup on-call, emergency country, time zone, default language,
reminder sending hours and alert re-notification delays

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing studies get the defaults a new study gets (server defaults), so nothing is lost.
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clinic_phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("backup_oncall_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("emergency_country", sa.String(length=2), server_default="FR", nullable=False))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), server_default="Europe/Paris", nullable=False))
        batch_op.add_column(sa.Column("default_language", sa.String(length=2), server_default="en", nullable=False))
        batch_op.add_column(sa.Column("reminder_start_hour", sa.Integer(), server_default="9", nullable=False))
        batch_op.add_column(sa.Column("reminder_end_hour", sa.Integer(), server_default="19", nullable=False))
        batch_op.add_column(sa.Column("renotify_level3_minutes", sa.Integer(), server_default="15", nullable=False))
        batch_op.add_column(sa.Column("clinic_day_end_hour", sa.Integer(), server_default="18", nullable=False))
        batch_op.create_check_constraint("default_language", "default_language IN ('en', 'fr')")
        batch_op.create_check_constraint(
            "reminder_hours",
            "reminder_start_hour >= 0 AND reminder_end_hour <= 24 AND reminder_start_hour < reminder_end_hour",
        )
        batch_op.create_check_constraint("renotify_level3_minutes", "renotify_level3_minutes > 0")
        batch_op.create_check_constraint("clinic_day_end_hour", "clinic_day_end_hour BETWEEN 1 AND 24")


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        for name in ("clinic_day_end_hour", "renotify_level3_minutes", "reminder_hours", "default_language"):
            batch_op.drop_constraint(name, type_="check")
        for column in ("clinic_day_end_hour", "renotify_level3_minutes", "reminder_end_hour", "reminder_start_hour",
                       "default_language", "timezone", "emergency_country", "backup_oncall_email", "clinic_phone"):
            batch_op.drop_column(column)
