"""safety alerts: notice outbox, lifecycle (contact attempts, resolutions, reopening), answer history

An acknowledged alert becomes resolved, with a resolution carrying its acknowledgement's time, author
and "what was done" as the note (no outcome or grade: they were not recorded then). An alert whose
on-call e-mail went out gets a sent `raised` notice; an open level 2-3 alert never notified owes one.
The answer history starts empty (earlier values were overwritten before it existed). The downgrade
brings the acknowledgements back from the resolutions in force (answer history and contact attempts
are lost).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveys.infra.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("answered_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("superseded_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["response.id"],
            name=op.f("fk_answer_version_response_id_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_version")),
    )
    with op.batch_alter_table("answer_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answer_version_response_item", ["response_id", "item_id", "id"], unique=False
        )

    op.create_table(
        "alert_contact_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "channel IN ('phone', 'sms', 'email', 'in_person', 'other')",
            name=op.f("ck_alert_contact_attempt_channel"),
        ),
        sa.CheckConstraint(
            "result IN ('reached', 'not_reached', 'message_left')",
            name=op.f("ck_alert_contact_attempt_result"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_alert_contact_attempt_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_user.id"],
            name=op.f("fk_alert_contact_attempt_recorded_by_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_contact_attempt")),
    )
    with op.batch_alter_table("alert_contact_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_alert_contact_attempt_alert_id", ["alert_id"], unique=False)

    op.create_table(
        "alert_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), server_default="", nullable=False),
        sa.Column("created_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", surveys.infra.db.UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", surveys.infra.db.UTCDateTime(), nullable=True),
        sa.Column("recipients", sa.String(length=600), nullable=True),
        sa.CheckConstraint("kind IN ('raised', 'escalation', 'reminder')", name=op.f("ck_alert_notice_kind")),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_alert_notice_level")),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_notice_alert_id_alert"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notice")),
        sa.UniqueConstraint(
            "alert_id", "kind", "level", "step", name=op.f("uq_alert_notice_alert_id_kind_level_step")
        ),
    )
    with op.batch_alter_table("alert_notice", schema=None) as batch_op:
        batch_op.create_index("ix_alert_notice_pending", ["sent_at", "id"], unique=False)

    op.create_table(
        "alert_resolution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("resolved_at", surveys.infra.db.UTCDateTime(), nullable=False),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("ctcae_grade", sa.Integer(), nullable=True),
        sa.Column("relatedness", sa.String(length=12), nullable=True),
        sa.Column("serious", sa.Boolean(), nullable=True),
        sa.Column("reopened_at", surveys.infra.db.UTCDateTime(), nullable=True),
        sa.Column("reopened_by_id", sa.Integer(), nullable=True),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('advice_given', 'seen_in_clinic', 'emergency_care', 'no_action_needed')",
            name=op.f("ck_alert_resolution_outcome"),
        ),
        sa.CheckConstraint(
            "relatedness IS NULL OR relatedness IN ('not_related', 'unlikely', 'possible', 'probable', 'definite')",
            name=op.f("ck_alert_resolution_relatedness"),
        ),
        sa.CheckConstraint(
            "ctcae_grade IS NULL OR ctcae_grade BETWEEN 1 AND 5", name=op.f("ck_alert_resolution_ctcae_grade")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_resolution_alert_id_alert"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reopened_by_id"],
            ["staff_user.id"],
            name=op.f("fk_alert_resolution_reopened_by_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["staff_user.id"],
            name=op.f("fk_alert_resolution_resolved_by_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_resolution")),
    )
    with op.batch_alter_table("alert_resolution", schema=None) as batch_op:
        batch_op.create_index("ix_alert_resolution_alert_id", ["alert_id"], unique=False)

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=12), server_default="open", nullable=False))
        batch_op.add_column(sa.Column("first_contact_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("answers_when_raised", sa.JSON(), nullable=True))

    # Keep what was there: acknowledgements become resolutions, e-mails sent become sent notices.
    op.execute("UPDATE alert SET level_at = created_at, answers_when_raised = '{}'")
    op.execute(
        "INSERT INTO alert_resolution (alert_id, resolved_at, resolved_by_id, note)"
        " SELECT id, acknowledged_at, acknowledged_by_id, COALESCE(action_taken, '') FROM alert"
        " WHERE acknowledged_at IS NOT NULL ORDER BY id"
    )
    op.execute(
        "UPDATE alert SET state = 'resolved', resolved_at = acknowledged_at WHERE acknowledged_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO alert_notice (alert_id, kind, level, step, created_at, attempts, sent_at)"
        " SELECT id, 'raised', level, '', created_at, 1, notified_at FROM alert"
        " WHERE notified_at IS NOT NULL ORDER BY id"
    )
    op.execute(
        "INSERT INTO alert_notice (alert_id, kind, level, step, created_at, attempts)"
        " SELECT id, 'raised', level, '', created_at, 0 FROM alert"
        " WHERE notified_at IS NULL AND acknowledged_at IS NULL AND level >= 2 ORDER BY id"
    )

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.alter_column("level_at", existing_type=surveys.infra.db.UTCDateTime(), nullable=False)
        batch_op.alter_column("answers_when_raised", existing_type=sa.JSON(), nullable=False)
        batch_op.create_check_constraint("state", "state IN ('open', 'in_progress', 'resolved')")
        batch_op.drop_index("ix_alert_study_open")
        batch_op.create_index("ix_alert_study_state", ["study_id", "state"], unique=False)
        batch_op.drop_constraint("fk_alert_acknowledged_by_id_staff_user", type_="foreignkey")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("acknowledged_by_id")
        batch_op.drop_column("action_taken")
        batch_op.drop_column("notified_at")


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", surveys.infra.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("action_taken", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            "fk_alert_acknowledged_by_id_staff_user",
            "staff_user",
            ["acknowledged_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.execute(
        "UPDATE alert SET notified_at = (SELECT MIN(n.sent_at) FROM alert_notice n WHERE n.alert_id = alert.id)"
    )
    latest = "(SELECT MAX(r.id) FROM alert_resolution r WHERE r.alert_id = alert.id)"
    for column, source in (
        ("acknowledged_at", "resolved_at"),
        ("acknowledged_by_id", "resolved_by_id"),
        ("action_taken", "COALESCE(NULLIF(note, ''), outcome, 'resolved')"),
    ):
        op.execute(
            f"UPDATE alert SET {column} = (SELECT {source} FROM alert_resolution WHERE id = {latest})"  # noqa: S608
            " WHERE state = 'resolved'"
        )

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_constraint("state", type_="check")
        batch_op.drop_index("ix_alert_study_state")
        batch_op.create_index("ix_alert_study_open", ["study_id", "acknowledged_at"], unique=False)
        batch_op.drop_column("answers_when_raised")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("first_contact_at")
        batch_op.drop_column("state")
        batch_op.drop_column("level_at")

    for table, index in (
        ("alert_resolution", "ix_alert_resolution_alert_id"),
        ("alert_notice", "ix_alert_notice_pending"),
        ("alert_contact_attempt", "ix_alert_contact_attempt_alert_id"),
        ("answer_version", "ix_answer_version_response_item"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
        op.drop_table(table)
