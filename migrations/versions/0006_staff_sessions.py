"""staff sessions kept on the server (so that they can be ended); API tokens expire

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:20:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

END_REASONS = ("logout", "logout_all", "ended", "password", "deactivated", "idle", "expired",
               "totp_reset", "role")


def upgrade() -> None:
    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("authenticated_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", surveys.infra.db.UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "end_reason IS NULL OR end_reason IN (" + ", ".join(f"'{r}'" for r in END_REASONS) + ")",
            name=op.f("ck_staff_session_end_reason"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"], name=op.f("fk_staff_session_user_id_staff_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_staff_session_key_hash")),
    )
    op.create_index("ix_staff_session_user_open", "staff_session", ["user_id", "ended_at"], unique=False)
    # Tokens made before expiry existed get the default lifetime from today, so no script stops at once.
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", surveys.infra.db.UTCDateTime(), nullable=True))
    token = sa.table("api_token", sa.column("expires_at", surveys.infra.db.UTCDateTime()))
    in_90_days = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)
    op.execute(token.update().values(expires_at=in_90_days))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=surveys.infra.db.UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    op.drop_index("ix_staff_session_user_open", table_name="staff_session")
    op.drop_table("staff_session")
