"""refused requests counted in the database: one row per UTC day and status (403, 429), shared by
every worker when the rate limiter has no Redis

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refused_count",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN (403, 429)", name=op.f("ck_refused_count_status")),
        sa.PrimaryKeyConstraint("day", "status", name=op.f("pk_refused_count")),
    )


def downgrade() -> None:
    op.drop_table("refused_count")
