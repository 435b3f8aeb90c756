"""The safety alerts' tables: the alert, the notices owed about it, contact attempts, resolutions.

Read by the staff pages, the dashboards' safety panel and the exports (#19). Every timestamp is
UTC. States, outcomes, grades and relatedness are closed vocabularies held by CHECK constraints;
their labels for people live in `surveys.domain.alerts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveys.infra.db import Base, utcnow

# The patient, response and staff tables live in `models`, which re-exports these classes: the
# relationships below name them as strings (typed Any) so that this module does not import `models`.

#: open -> in_progress (a contact attempt was recorded) -> resolved; a reopened alert is open again
#: (or in progress when it already has contact attempts). Only a resolution closes an alert.
ALERT_STATES = ("open", "in_progress", "resolved")
#: What a notice is about: the alert was raised, rose to a higher level, or still waits (reminder).
NOTICE_KINDS = ("raised", "escalation", "reminder")
CONTACT_CHANNELS = ("phone", "sms", "email", "in_person", "other")
CONTACT_RESULTS = ("reached", "not_reached", "message_left")
OUTCOMES = ("advice_given", "seen_in_clinic", "emergency_care", "no_action_needed")
#: Relatedness of an adverse event to the treatment (the usual five-point causality scale).
RELATEDNESS = ("not_related", "unlikely", "possible", "probable", "definite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Alert(Base):
    """A safety alert raised by a response's red-flag answers; it stays in the queue until resolved.

    Columns: `level` (1 next visit, 2 same-day review, 3 emergency; never lowered), `reasons` (the
    alert rule ids that fired), `created_at` (raised, UTC), `level_at` (when the current level was
    reached: a rise 2 -> 3 restarts the level-3 clock), `state` (open / in_progress / resolved),
    `first_contact_at` (the first contact attempt, UTC), `resolved_at` (the current resolution;
    NULL unless resolved), `answers_when_raised` (item id -> code or text as they were when each
    cited answer first raised the alert: the evidence, kept whatever the patient changes later).
    """

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("response_id"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint(_in("state", ALERT_STATES), name="state"),
        Index("ix_alert_study_state", "study_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    level: Mapped[int]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    level_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(12), default="open", server_default="open")
    first_contact_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    answers_when_raised: Mapped[dict[str, Any]] = mapped_column(default=dict)

    patient: Mapped[Any] = relationship("Patient")
    response: Mapped[Any] = relationship("Response")
    attempts: Mapped[list[AlertContactAttempt]] = relationship(
        back_populates="alert", order_by="AlertContactAttempt.id", cascade="all, delete-orphan")
    resolutions: Mapped[list[AlertResolution]] = relationship(
        back_populates="alert", order_by="AlertResolution.id", cascade="all, delete-orphan")
    notices: Mapped[list[AlertNotice]] = relationship(
        back_populates="alert", order_by="AlertNotice.id", cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        """Not resolved (open or in progress)."""
        return self.state != "resolved"

    @property
    def resolution(self) -> AlertResolution | None:
        """The resolution in force (None unless resolved)."""
        if self.state != "resolved" or not self.resolutions:
            return None
        return self.resolutions[-1]


class AlertNotice(Base):
    """A notice owed to the on-call address about an alert: the outbox row.

    Written in the same transaction as the answer that raised the alert (kind `raised`), or that
    raised its level (`escalation`, one per level reached), or by `alerts escalate` when the alert
    still waits (`reminder`, one per `step`: `level3:<n>` for the n-th delay without a contact
    attempt, `level2:<local date>` for a clinic day ending without one). The unique key makes
    every notice owed once, whoever writes it. A sender claims a row (`claimed_until`, a lease)
    with a conditional UPDATE, sends, then sets `sent_at`; `attempts` and `last_error` record
    failures, retried by `alerts notify`. `recipients` is filled when it is sent.
    """

    __tablename__ = "alert_notice"
    __table_args__ = (
        UniqueConstraint("alert_id", "kind", "level", "step"),
        CheckConstraint(_in("kind", NOTICE_KINDS), name="kind"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        Index("ix_alert_notice_pending", "sent_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    level: Mapped[int]
    step: Mapped[str] = mapped_column(String(32), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    recipients: Mapped[str | None] = mapped_column(String(600))

    alert: Mapped[Alert] = relationship(back_populates="notices")


class AlertContactAttempt(Base):
    """One attempt to reach the patient about an alert.

    Columns: `attempted_at` (UTC, when the call or message happened), `recorded_by_id` (staff),
    `channel` (phone, sms, email, in_person, other), `result` (reached, not_reached,
    message_left), `note` (free text), `recorded_at` (UTC).
    """

    __tablename__ = "alert_contact_attempt"
    __table_args__ = (
        CheckConstraint(_in("channel", CONTACT_CHANNELS), name="channel"),
        CheckConstraint(_in("result", CONTACT_RESULTS), name="result"),
        Index("ix_alert_contact_attempt_alert_id", "alert_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(12))
    result: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")

    alert: Mapped[Alert] = relationship(back_populates="attempts")
    recorded_by: Mapped[Any] = relationship("StaffUser")


class AlertResolution(Base):
    """A resolution of an alert, and its reopening if it was reopened (the latest one is in force).

    Columns: `resolved_at`, `resolved_by_id`, `outcome` (advice_given, seen_in_clinic,
    emergency_care, no_action_needed), `note`, the clinician's assessment of the adverse event:
    `ctcae_grade` (1-5, CTCAE-style, distinct from the patient's own severity words),
    `relatedness` (not_related, unlikely, possible, probable, definite), `serious` (yes/no); then
    `reopened_at`, `reopened_by_id`, `reopen_reason` when it was reopened. Rows carried over from
    the former "acknowledgement" (before migration 0009) have a note and no outcome or grade.
    """

    __tablename__ = "alert_resolution"
    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint("ctcae_grade IS NULL OR ctcae_grade BETWEEN 1 AND 5", name="ctcae_grade"),
        CheckConstraint(f"relatedness IS NULL OR {_in('relatedness', RELATEDNESS)}", name="relatedness"),
        Index("ix_alert_resolution_alert_id", "alert_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    resolved_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    ctcae_grade: Mapped[int | None]
    relatedness: Mapped[str | None] = mapped_column(String(12))
    serious: Mapped[bool | None]
    reopened_at: Mapped[datetime | None]
    reopened_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    reopen_reason: Mapped[str | None] = mapped_column(Text)

    alert: Mapped[Alert] = relationship(back_populates="resolutions")
    resolved_by: Mapped[Any] = relationship("StaffUser", foreign_keys=[resolved_by_id])
    reopened_by: Mapped[Any] = relationship("StaffUser", foreign_keys=[reopened_by_id])
