"""The collection side's tables: studies, patients, sessions, links, responses, staff, audit.

The safety-alert tables live in `alert_models` and are re-exported here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveys.infra.db import Base, utcnow

ROLES = ("admin", "coordinator", "clinician")
SEXES = ("female", "male", "other")
#: A patient's participation: taking part, left the study, finished it, or erased (a tombstone).
PATIENT_STATUSES = ("active", "withdrawn", "completed", "erased")
#: Why a patient left the study (ICH E3 "disposition of patients"; GDPR art. 17(1)(b) for consent).
WITHDRAWAL_REASONS = (
    "consent_withdrawn_keep_data",
    "consent_withdrawn_discard_data",
    "lost_to_follow_up",
    "clinician_decision",
    "other",
)
#: Why a patient's data were erased (GDPR art. 17(1)).
ERASURE_REASONS = ("data_subject_request", "consent_withdrawn", "enrolled_in_error", "other")
#: How a patient's consent was obtained: recorded by staff (on paper, verbally, electronically), or
#: accepted by the patient on their own device (phone, clinic tablet) before their first questionnaire.
CONSENT_METHODS = ("paper", "verbal", "electronic", "patient_device")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)
#: How a response was collected (mode of administration): the patient's own device, a clinic
#: tablet in the waiting room, read out by staff (interview), or transcribed from paper by staff.
MODES = ("own_device", "tablet_in_clinic", "staff_interview", "paper_entry")
#: What a personal link is for: the printed handout's QR code, the short code printed beside it,
#: a link e-mailed by staff, a link carried by a reminder.
LINK_KINDS = ("handout", "code", "email", "reminder")

study_members = Table(
    "study_member",
    Base.metadata,
    Column("user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("study_id", ForeignKey("study.id", ondelete="CASCADE"), primary_key=True),
)

api_token_studies = Table(
    "api_token_study",
    Base.metadata,
    Column("token_id", ForeignKey("api_token.id", ondelete="CASCADE"), primary_key=True),
    Column("study_id", ForeignKey("study.id", ondelete="CASCADE"), primary_key=True),
)


#: The study settings a clinic edits over a study's life (defaults for a new study).
DEFAULT_TIMEZONE = "Europe/Paris"


class Study(Base):
    """A study run by a clinic, with its protocol stored as a validated snapshot, and its settings.

    Settings: the clinic's phone, on-call and backup on-call e-mails, the emergency number and the
    country it belongs to (ISO 3166-1 alpha-2), the study's time zone (an IANA name: windows are
    whole local days there), the default patient language, whether patients see their own scores,
    the reminder sending hours (local, [start, end)), and the alert re-notification delays (minutes
    for an open level-3 alert with no contact attempt; the local hour that ends the clinic's day for
    a level-2 alert).
    """

    __tablename__ = "study"
    __table_args__ = (
        CheckConstraint("default_language IN ('en', 'fr')", name="default_language"),
        CheckConstraint(
            "reminder_start_hour >= 0 AND reminder_end_hour <= 24"
            " AND reminder_start_hour < reminder_end_hour",
            name="reminder_hours",
        ),
        CheckConstraint("renotify_level3_minutes > 0", name="renotify_level3_minutes"),
        CheckConstraint("clinic_day_end_hour BETWEEN 1 AND 24", name="clinic_day_end_hour"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    protocol_id: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[str] = mapped_column(String(32))
    protocol: Mapped[dict[str, Any]]
    contact: Mapped[str] = mapped_column(Text, default="")
    emergency_number: Mapped[str] = mapped_column(String(32), default="112")
    oncall_email: Mapped[str | None] = mapped_column(String(254))
    show_scores_to_patients: Mapped[bool] = mapped_column(default=True)
    clinic_phone: Mapped[str | None] = mapped_column(String(32))
    backup_oncall_email: Mapped[str | None] = mapped_column(String(254))
    emergency_country: Mapped[str] = mapped_column(String(2), default="FR", server_default="FR")
    timezone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIMEZONE, server_default=DEFAULT_TIMEZONE
    )
    default_language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    reminder_start_hour: Mapped[int] = mapped_column(default=9, server_default="9")
    reminder_end_hour: Mapped[int] = mapped_column(default=19, server_default="19")
    renotify_level3_minutes: Mapped[int] = mapped_column(default=15, server_default="15")
    clinic_day_end_hour: Mapped[int] = mapped_column(default=18, server_default="18")
    # No questionnaire opens without a consent record for the current required version.
    consent_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Patients read and accept the consent text on their phone before their first questionnaire.
    consent_on_phone: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patients: Mapped[list[Patient]] = relationship(back_populates="study")


class StudyProtocol(Base):
    """One version of a study's protocol: the one it was created with, then each protocol amendment.

    `protocol` is the validated JSON snapshot of that version; `reason` why it was applied (None for
    the version the study was created with); `applied_by` the actor, `applied_at` UTC. The study's
    current version is the one in `Study.protocol_version` (the newest row); responses name the
    version they were answered under (`Response.protocol_version`).
    """

    __tablename__ = "study_protocol"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    protocol: Mapped[dict[str, Any]]
    reason: Mapped[str | None] = mapped_column(Text)
    applied_by: Mapped[str] = mapped_column(String(300))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentVersion(Base):
    """One version of a study's consent text, in English and French (audited when added).

    Versions are ordered by `id` (the newest is the current one). `requires_reconsent`: patients
    whose consent is for an earlier version must consent again before their next questionnaire.
    """

    __tablename__ = "consent_version"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    text_en: Mapped[str] = mapped_column(Text)
    text_fr: Mapped[str] = mapped_column(Text)
    requires_reconsent: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(Base):
    """A patient's consent to one version: how it was obtained, its local date, when it was stored.

    `consented_on` is a local day of the study's zone (never in the future); `recorded_at` is UTC
    (for a patient's acceptance on their phone, the moment they accepted). One record per patient
    and version: a repeated acceptance or form lands on it.
    """

    __tablename__ = "consent_record"
    __table_args__ = (
        UniqueConstraint("patient_id", "version_id"),
        CheckConstraint(f"method IN ({_in(CONSENT_METHODS)})", name="method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("consent_version.id", ondelete="RESTRICT"))
    method: Mapped[str] = mapped_column(String(16))
    consented_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(String(300))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    version: Mapped[ConsentVersion] = relationship()


class Patient(Base):
    """A pseudonymous participant: a code, background facts, no name.

    Participation: `status` with the local date it took effect (`status_on`: the withdrawal date, the
    close of the last window, or the erasure date), why a patient withdrew (`withdrawal_reason`, with
    `status_note` for "other") and why their data were erased (`erasure_reason`). An erased patient
    is a tombstone: code, enrollment date, erasure date and reason; nothing else.
    """

    __tablename__ = "patient"
    __table_args__ = (
        UniqueConstraint("study_id", "code"),
        CheckConstraint("sex IN ('female', 'male', 'other')", name="sex"),
        CheckConstraint("language IN ('en', 'fr')", name="language"),
        CheckConstraint(f"status IN ({_in(PATIENT_STATUSES)})", name="status"),
        CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year"),
        CheckConstraint(f"withdrawal_reason IS NULL OR withdrawal_reason IN ({_in(WITHDRAWAL_REASONS)})",
                        name="withdrawal_reason"),
        CheckConstraint(f"erasure_reason IS NULL OR erasure_reason IN ({_in(ERASURE_REASONS)})",
                        name="erasure_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    sex: Mapped[str | None] = mapped_column(String(8))
    birth_year: Mapped[int | None]
    diagnosis: Mapped[str | None] = mapped_column(String(64))
    prior_treatments: Mapped[list[Any]] = mapped_column(default=list)
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(2), default="en")
    status: Mapped[str] = mapped_column(String(12), default="active")
    status_on: Mapped[date | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(String(32))
    status_note: Mapped[str | None] = mapped_column(Text)
    erasure_reason: Mapped[str | None] = mapped_column(String(32))
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="patients")
    sessions: Mapped[list[TreatmentSession]] = relationship(
        back_populates="patient", order_by="TreatmentSession.number"
    )
    links: Mapped[list[PatientLink]] = relationship(back_populates="patient")
    window_extensions: Mapped[list[WindowExtension]] = relationship()


class TreatmentSession(Base):
    """One injection session: its date, number and formulation; an anchor of the schedule.

    A 5-ARI session of a patient not recorded as male carries the pre-session pregnancy check (three
    "no", who, when UTC).
    """

    __tablename__ = "treatment_session"
    __table_args__ = (
        UniqueConstraint("patient_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        # The pre-session pregnancy check: absent, or all three answered "no" with who and when (a
        # "yes" refuses a 5-ARI session, so it is never stored with one).
        CheckConstraint(
            "(pregnant IS NULL AND breastfeeding IS NULL AND trying_to_conceive IS NULL"
            " AND pregnancy_checked_at IS NULL AND pregnancy_checked_by IS NULL)"
            " OR (pregnant = false AND breastfeeding = false AND trying_to_conceive = false"
            " AND pregnancy_checked_at IS NOT NULL AND pregnancy_checked_by IS NOT NULL)",
            name="pregnancy_check",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    number: Mapped[int]
    date: Mapped[date]
    # Planned ahead (not yet done): anchors the windows before it, opens no post-session checklist.
    planned: Mapped[bool] = mapped_column(default=False, server_default=false())
    agents: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # The pre-session pregnancy check before a 5-ARI session (`surveys.domain.pregnancy_check`).
    pregnant: Mapped[bool | None]
    breastfeeding: Mapped[bool | None]
    trying_to_conceive: Mapped[bool | None]
    pregnancy_checked_at: Mapped[datetime | None]
    pregnancy_checked_by: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="sessions")


class PatientLink(Base):
    """A personal link; only the SHA-256 of its random token is stored.

    A patient may hold several live links (the printed handout and its short code, an e-mailed
    link, reminders' links), each with its own expiry (UTC; None: until revoked) and revocation.
    """

    __tablename__ = "patient_link"
    __table_args__ = (
        CheckConstraint("kind IN ('handout', 'code', 'email', 'reminder')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="handout", server_default="handout")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship(back_populates="links")


class WindowExtension(Base):
    """Staff reopened or extended one patient's questionnaire window, with a reason (audited).

    The window stays answerable to the end of `closes_on` (a local day in the study's zone); a
    response given after the window's own close is flagged `window_extended`.
    """

    __tablename__ = "window_extension"
    __table_args__ = (UniqueConstraint("patient_id", "timepoint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(String(32))
    closes_on: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClinicianStage(Base):
    """The clinician's own hair-loss stage of a patient at a timepoint (audited; one per timepoint).

    `scale` is an item of the self-rated stage instrument (`hair_stage`: "norwood" for
    Norwood-Hamilton, "sinclair" for Sinclair) and `code` one of its option codes, a category (never
    averaged), as defined by `instrument_version` of that instrument.
    """

    __tablename__ = "clinician_stage"
    __table_args__ = (
        UniqueConstraint("patient_id", "timepoint"),
        CheckConstraint("scale IN ('norwood', 'sinclair')", name="scale"),
        CheckConstraint("code >= 1", name="code_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(String(32))
    scale: Mapped[str] = mapped_column(String(16))
    code: Mapped[int]
    instrument_version: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[str] = mapped_column(String(300))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class TabletSession(Base):
    """A clinic tablet lent to one patient ("answer in clinic"); only its token's hash is stored.

    Ends on completion, after the idle limit, or by staff (`end_reason`).
    """

    __tablename__ = "tablet_session"
    __table_args__ = (
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('completed', 'idle', 'staff')", name="end_reason"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(12))


class Response(Base):
    """One patient's answers to one instrument at one timepoint (in progress, then submitted)."""

    __tablename__ = "response"
    __table_args__ = (
        # One response per patient, timepoint and instrument: resends and double taps land on it.
        UniqueConstraint("patient_id", "timepoint", "instrument_id"),
        CheckConstraint("status IN ('in_progress', 'submitted')", name="status"),
        CheckConstraint(
            "score_status IS NULL OR score_status IN ('complete', 'prorated', 'incomplete')",
            name="score_status",
        ),
        CheckConstraint("language IN ('en', 'fr')", name="language"),
        CheckConstraint(
            "mode IN ('own_device', 'tablet_in_clinic', 'staff_interview', 'paper_entry')", name="mode"
        ),
        # Covers the dashboard's cohort reads (no table look-ups for 300k responses at 10k patients).
        Index(
            "ix_response_patient_status", "patient_id", "status", "instrument_id", "timepoint",
            "score_status", "session_id", "submitted_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_session.id", ondelete="SET NULL"))
    timepoint: Mapped[str] = mapped_column(String(32))
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[str] = mapped_column(String(16))
    # The study's protocol version when the response was started (`StudyProtocol.version`): an
    # amendment later never moves answers already given to the new version.
    protocol_version: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12), default="in_progress")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    score_status: Mapped[str | None] = mapped_column(String(12))
    flags: Mapped[list[Any]] = mapped_column(default=list)
    # Mode of administration, and the staff member who assisted (tablet, interview, paper entry).
    mode: Mapped[str] = mapped_column(String(16), default="own_device", server_default="own_device")
    assisted_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    # When staff transcribed a paper questionnaire (submitted_at is when the patient filled it in).
    entered_at: Mapped[datetime | None]
    # Answered after the window's own close, in a window staff extended (see WindowExtension).
    window_extended: Mapped[bool] = mapped_column(default=False, server_default=false())

    patient: Mapped[Patient] = relationship()
    answers: Mapped[list[Answer]] = relationship(back_populates="response", cascade="all, delete-orphan")
    scores: Mapped[list[Score]] = relationship(back_populates="response", cascade="all, delete-orphan")


class Answer(Base):
    """One item's answer, stored long: a numeric code, or text for free-text items."""

    __tablename__ = "answer"
    __table_args__ = (
        UniqueConstraint("response_id", "item_id"),
        CheckConstraint("language IS NULL OR language IN ('en', 'fr')", name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The language the item was shown in when answered (a patient may switch halfway).
    language: Mapped[str | None] = mapped_column(String(2))

    response: Mapped[Response] = relationship(back_populates="answers")


class AnswerVersion(Base):
    """An earlier value of an item's answer: the answer history (the current value is the `answer` row).

    When a patient changes an answer, or a changed answer hides a follow-up item whose answer is
    then cleared, the value being replaced is copied here first, with the time it was given
    (`answered_at`) and the time it was replaced (`superseded_at`), both UTC. Columns: `response_id`,
    `item_id`, `code` (the option code; NULL for free text), `text` (free text, else NULL),
    `answered_at`, `superseded_at`. An item's full history is its rows here in `id` order, then its
    `answer` row if it still has one. First answers write nothing here: the common path stays one
    statement.
    """

    __tablename__ = "answer_version"
    __table_args__ = (Index("ix_answer_version_response_item", "response_id", "item_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime]
    superseded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Score(Base):
    """A derived score of one scale of a response, tagged with the scoring-rule version."""

    __tablename__ = "score"
    __table_args__ = (
        UniqueConstraint("response_id", "scale"),
        Index("ix_score_response_scale_value", "response_id", "scale", "value"),  # covering, for reports
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    scale: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None]
    band: Mapped[str | None] = mapped_column(String(64))
    scoring_version: Mapped[str] = mapped_column(String(64))

    response: Mapped[Response] = relationship(back_populates="scores")


class StaffUser(Base):
    """A clinician, coordinator or admin account."""

    __tablename__ = "staff_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'coordinator', 'clinician')", name="role"),
        CheckConstraint("language IS NULL OR language IN ('en', 'fr')", name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The last accepted TOTP time step: a code is accepted once, never replayed.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # The staff member's interface language; None follows the browser (Accept-Language).
    language: Mapped[str | None] = mapped_column(String(2))

    studies: Mapped[list[Study]] = relationship(secondary=study_members)

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


SESSION_END_REASONS = ("logout", "logout_all", "ended", "password", "deactivated", "idle", "expired",
                       "totp_reset", "role")


class StaffSession(Base):
    """One signed-in browser of a staff member, kept on the server so that it can be ended.

    The cookie carries a random session key; only its SHA-256 is stored. A request is served only
    while its row is open, younger than the absolute lifetime and active within the idle limit, so
    logging out, changing the password or being deactivated ends every copy of the cookie at once.
    """

    __tablename__ = "staff_session"
    __table_args__ = (
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ("
            + ", ".join(f"'{r}'" for r in SESSION_END_REASONS) + ")",
            name="end_reason",
        ),
        Index("ix_staff_session_user_open", "user_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the person last proved who they are (password or one-time code) in this session.
    authenticated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")

    user: Mapped[StaffUser] = relationship()


class AccountToken(Base):
    """A one-time link sent by e-mail: an invitation (set a password and two-factor) or a password
    reset. Only the token's SHA-256 is stored; it works once, until `expires_at`."""

    __tablename__ = "account_token"
    __table_args__ = (CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[StaffUser] = relationship()


class AuditEvent(Base):
    """An append-only, hash-chained record of who did what to which record, and when."""

    __tablename__ = "audit_event"
    # Each hash may be followed once: two writers racing on the same tail cannot fork the chain.
    __table_args__ = (UniqueConstraint("prev_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    # No foreign keys: the trail must outlive, unchanged, the rows it speaks of.
    study_id: Mapped[int | None] = mapped_column(index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Ed25519 signature of the hash with the app's key (kept outside the database): a row written
    # by anyone without the key (a forged or recomputed event) does not verify.
    signature: Mapped[str | None] = mapped_column(String(128))


class AuditCheckpoint(Base):
    """A signed statement of the audit trail's head at a moment: how many events up to which one,
    ending in which hash. Also appended to a file outside the database (`AUDIT_CHECKPOINT_FILE`),
    so a trail cut short, emptied or recomputed no longer matches the newest checkpoint."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event_id: Mapped[int]  # the newest event vouched for (0: the trail was empty)
    event_count: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class ApiToken(Base):
    """A personal, revocable API token for scripted exports, scoped to studies."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[StaffUser] = relationship()
    studies: Mapped[list[Study]] = relationship(secondary=api_token_studies)


class ReminderSent(Base):
    """A reminder e-mail that went out; the unique key makes cron re-runs harmless."""

    __tablename__ = "reminder_sent"
    __table_args__ = (
        UniqueConstraint("patient_id", "timepoint", "kind"),
        CheckConstraint("kind IN ('open', 'overdue')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefusedCount(Base):
    """How many requests were refused (403 forbidden, 429 too many) on a UTC day, whichever worker or
    server refused them: one row per day and status, counted up in place (never one row per request,
    so a flood cannot grow the table). Used when the rate limiter has no shared storage (Redis)."""

    __tablename__ = "refused_count"
    __table_args__ = (CheckConstraint("status IN (403, 429)", name="status"),)

    day: Mapped[date] = mapped_column(primary_key=True)
    status: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)


# The safety alerts' tables (alert, its notices, contact attempts and resolutions), kept in their
# own module; imported here so that `surveys.domain.models` names every table.
from surveys.domain.alert_models import (  # noqa: E402
    Alert,
    AlertContactAttempt,
    AlertNotice,
    AlertResolution,
)

__all__ = [
    "Alert",
    "AlertContactAttempt",
    "AlertNotice",
    "AlertResolution",
    "Answer",
    "AnswerVersion",
    "ApiToken",
    "AuditEvent",
    "ConsentRecord",
    "ConsentVersion",
    "Patient",
    "PatientLink",
    "RefusedCount",
    "ReminderSent",
    "Response",
    "Score",
    "StaffUser",
    "Study",
    "TreatmentSession",
    "api_token_studies",
    "study_members",
]
