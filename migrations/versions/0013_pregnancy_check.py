"""the pre-session pregnancy check stored with a 5-ARI session: three answers, who and when

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = (
    "(pregnant IS NULL AND breastfeeding IS NULL AND trying_to_conceive IS NULL"
    " AND pregnancy_checked_at IS NULL AND pregnancy_checked_by IS NULL)"
    " OR (pregnant = false AND breastfeeding = false AND trying_to_conceive = false"
    " AND pregnancy_checked_at IS NOT NULL AND pregnancy_checked_by IS NOT NULL)"
)


def upgrade() -> None:
    """Existing sessions keep no check (all five columns empty)."""
    with op.batch_alter_table("treatment_session") as batch:
        batch.add_column(sa.Column("pregnant", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("breastfeeding", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("trying_to_conceive", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("pregnancy_checked_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("pregnancy_checked_by", sa.String(length=300), nullable=True))
        batch.create_check_constraint(op.f("ck_treatment_session_pregnancy_check"), CHECK)


def downgrade() -> None:
    with op.batch_alter_table("treatment_session") as batch:
        batch.drop_constraint(op.f("ck_treatment_session_pregnancy_check"), type_="check")
        batch.drop_column("pregnancy_checked_by")
        batch.drop_column("pregnancy_checked_at")
        batch.drop_column("trying_to_conceive")
        batch.drop_column("breastfeeding")
        batch.drop_column("pregnant")
