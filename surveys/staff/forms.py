"""The staff side's forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from surveys.domain.alerts import (
    CHANNEL_LABELS,
    GRADE_LABELS,
    OUTCOME_LABELS,
    RELATEDNESS_LABELS,
    RESULT_LABELS,
)
from surveys.domain.models import SEXES
from surveys.domain.patients import DIAGNOSES
from surveys.infra.i18n import LANGUAGES
from surveys.infra.text_fields import MultilineTextField

# Each language named in itself, as language pickers do: a reader finds their own at once.
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
YES_NO = [("yes", _l("Yes")), ("no", _l("No"))]
SEX_LABELS = {"female": _l("Female"), "male": _l("Male"), "other": _l("Other")}
DIAGNOSIS_LABELS = {
    "androgenetic_alopecia": _l("Androgenetic alopecia"),
    "female_pattern_hair_loss": _l("Female pattern hair loss"),
    "telogen_effluvium": _l("Telogen effluvium"),
    "alopecia_areata": _l("Alopecia areata"),
    "other": _l("Other"),
}


def mark_problems(form: FlaskForm, problems: Mapping[str, str], fallback: Field | None = None) -> None:
    """Show the domain's refusals beside the form's own, so a submission gets every problem at once.

    In: `problems` maps a field name to its translated reason (`enrollment_problems`,
    `withdrawal_problems`, a SettingsError's). Each lands on its field, unless the form already refused
    that field (its own message stays); a name the form has no field for lands on `fallback`, if given.
    """
    for name, problem in problems.items():
        target = getattr(form, name, fallback)
        if target is not None and not target.errors:
            target.errors = [*target.errors, problem]


def _blank_first(values: tuple[str, ...], labels: dict[str, object]) -> list[tuple[str, object]]:
    blank: object = _l("Not recorded")
    return [("", blank)] + [(v, labels.get(v, v.replace("_", " ").capitalize())) for v in values]


def _int_or_none(value: object) -> int | None:
    """A select's value as an int; None for the blank choice or anything that is not a number."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class TotpForm(FlaskForm):
    code = StringField(_l("6-digit code from your authenticator app"),
                       validators=[DataRequired(), Length(min=6, max=8)])


class ActionForm(FlaskForm):
    """A button that changes something: only its CSRF token is needed."""


class StudyForm(FlaskForm):
    code = StringField(_l("Study code (capital letters, digits, - or _)"),
                       validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    contact = MultilineTextField(_l("Clinic contact shown to patients"), max_length=2000,
                                 validators=[Optional(), Length(max=2000)])
    emergency_number = StringField(_l("Emergency number"), default="112",
                                   validators=[DataRequired(), Length(max=32)])
    oncall_email = EmailField(_l("On-call e-mail for urgent safety alerts"),
                              validators=[Optional(), Length(max=254)])
    protocol_source = RadioField(
        _l("Protocol"), default="default",
        choices=[("default", _l("The shipped scalp mesotherapy protocol")),
                 ("upload", _l("Upload a protocol file (JSON)"))],
    )
    protocol_file = FileField(_l("Protocol file"))


class ProtocolCheckForm(FlaskForm):
    """A new protocol version to check: the edited JSON text, or a .json file (the file wins)."""

    protocol_text = MultilineTextField(_l("The protocol (JSON)"), max_length=200_000,
                                       render_kw={"rows": 24, "spellcheck": "false"})
    protocol_file = FileField(_l("Or upload a protocol file (JSON)"))


class ProtocolApplyForm(FlaskForm):
    """A checked amendment to apply: the exact text that was checked, the fingerprint of the protocol it
    was checked against, and the reason."""

    protocol_text = HiddenField()
    base = HiddenField()
    reason = MultilineTextField(_l("Reason for the amendment"), max_length=2000, render_kw={"rows": 3})


class ConsentForm(FlaskForm):
    """A patient's consent: how it was obtained (empty: not recorded now), its local date, its version.

    Recorded at enrollment (EnrollForm extends it) or later on the patient's page."""

    consent_method = SelectField(_l("Consent obtained"), choices=[], default="")
    consent_on = DateField(_l("Date of consent"), validators=[Optional()])
    consent_version = SelectField(_l("Consent version"), choices=[], validate_choice=False)


class EnrollForm(ConsentForm):
    code = StringField(_l("Patient code (pseudonym, no names)"), validators=[DataRequired(), Length(max=32)])
    sex = SelectField(_l("Sex"), choices=_blank_first(SEXES, SEX_LABELS), default="")
    birth_year = IntegerField(_l("Birth year"), validators=[Optional()])
    diagnosis = SelectField(_l("Diagnosis"), choices=_blank_first(DIAGNOSES, DIAGNOSIS_LABELS), default="")
    prior_treatments = MultilineTextField(_l("Prior treatments (one per line)"),
                                          validators=[Optional(), Length(max=2000)], max_length=2000)
    email = EmailField(_l("E-mail for reminders (optional)"), validators=[Optional(), Length(max=254)])
    language = SelectField(_l("Preferred language"),
                           choices=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
                           default="en")
    # A patient already in treatment is enrolled on an earlier local day (as `patients enroll
    # --enrolled-on`); empty is today. Not in the future: checked by `enroll_patient`.
    enrolled_on = DateField(_l("Enrolled on"), validators=[Optional()])


class ConsentVersionForm(FlaskForm):
    """A new version of the study's consent text, in English and French."""

    version = StringField(_l("Version"), validators=[DataRequired(), Length(max=32)])
    text_en = MultilineTextField(_l("Consent text in English"), max_length=50000,
                                 validators=[DataRequired(), Length(max=50000)])
    text_fr = MultilineTextField(_l("Consent text in French"), max_length=50000,
                                 validators=[DataRequired(), Length(max=50000)])
    requires_reconsent = BooleanField(_l("Patients who consented to an earlier version must consent again"))


class PatientForm(FlaskForm):
    email = EmailField(_l("E-mail for reminders (optional)"), validators=[Optional(), Length(max=254)])
    language = SelectField(_l("Preferred language"),
                           choices=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES])


class SessionForm(FlaskForm):
    number = IntegerField(_l("Session number"), validators=[InputRequired(), NumberRange(min=1, max=100)])
    day = DateField(_l("Date of the session"), validators=[InputRequired()])
    agents = StringField(_l("Agents / formulation"), validators=[Optional(), Length(max=200)])
    notes = MultilineTextField(_l("Notes"), validators=[Optional(), Length(max=5000)], max_length=5000)
    planned = BooleanField(_l("Planned (not done yet): a future date"))
    # The pre-session pregnancy check, needed before a 5-ARI session of a patient not recorded as
    # male (service decides).
    pregnant = RadioField(_l("Is the patient pregnant?"), choices=YES_NO, validators=[Optional()])
    breastfeeding = RadioField(_l("Is the patient breastfeeding?"), choices=YES_NO, validators=[Optional()])
    trying_to_conceive = RadioField(_l("Is the patient trying to conceive?"), choices=YES_NO,
                                    validators=[Optional()])


class ClinicianStageForm(FlaskForm):
    """The clinician's own hair-loss stage at a timepoint (choices filled from the instrument)."""

    timepoint = SelectField(_l("Timepoint"), choices=[])
    stage = SelectField(_l("Stage (the clinician's own assessment)"), choices=[],
                        validators=[DataRequired(message=_l("Choose a stage."))])


class ExtendWindowForm(FlaskForm):
    """Reopen or extend one patient's questionnaire window, with a reason (audited)."""

    timepoint = SelectField(_l("Questionnaire window"), choices=[])
    closes_on = DateField(_l("Keep it open until the end of"), validators=[InputRequired()])
    reason = MultilineTextField(_l("Reason (kept in the audit trail)"), max_length=2000,
                                validators=[DataRequired(message=_l("Give a reason.")), Length(max=2000)])


class ContactAttemptForm(FlaskForm):
    """A contact attempt about an alert: how, whether the patient was reached, when, a note."""

    channel = SelectField(_l("How"), choices=[(k, v) for k, v in CHANNEL_LABELS.items()], default="phone")
    result = RadioField(_l("Result"), choices=[(k, v) for k, v in RESULT_LABELS.items()],
                        validators=[InputRequired(message=_l("Choose whether the patient was reached."))])
    attempted_at = DateTimeLocalField(_l("When (local time; empty: now)"), format="%Y-%m-%dT%H:%M",
                                      validators=[Optional()])
    note = MultilineTextField(_l("Note"), max_length=2000, validators=[Optional(), Length(max=2000)])


class ResolveForm(FlaskForm):
    """Closing an alert: the outcome, a note, and the clinician's assessment of the event."""

    outcome = SelectField(_l("Outcome"), choices=[("", "")] + [(k, v) for k, v in OUTCOME_LABELS.items()],
                          validators=[InputRequired(message=_l("Choose the outcome."))])
    ctcae_grade = SelectField(_l("Grade of the event (CTCAE-style)"), coerce=_int_or_none,
                              choices=[("", "")] + [(k, v) for k, v in GRADE_LABELS.items()])
    relatedness = SelectField(_l("Relatedness to the treatment"),
                              choices=[("", "")] + [(k, v) for k, v in RELATEDNESS_LABELS.items()])
    serious = RadioField(_l("Serious adverse event"), choices=[("yes", _l("yes")), ("no", _l("no"))],
                         validators=[InputRequired(message=_l("Say whether the event is serious."))])
    note = MultilineTextField(_l("Resolution note"), max_length=2000,
                              validators=[DataRequired(message=_l("Write a resolution note.")),
                                          Length(max=2000)])


class ReopenForm(FlaskForm):
    """Reopening a resolved alert needs a reason."""

    reason = MultilineTextField(_l("Reason for reopening"), max_length=2000,
                                validators=[DataRequired(message=_l("Say why the alert is reopened.")),
                                            Length(max=2000)])


#: Each study setting's label as the settings form shows it (surveys.domain.study_settings.SETTINGS);
#: the saved message and the audit trail's `study.settings` events name settings by it.
SETTING_LABELS = {
    "name": _l("Name"),
    "contact": _l("Clinic contact shown to patients"),
    "clinic_phone": _l("Clinic telephone"),
    "oncall_email": _l("On-call e-mail for urgent safety alerts"),
    "backup_oncall_email": _l("Backup on-call e-mail"),
    "emergency_number": _l("Emergency number"),
    "emergency_country": _l("Country of the emergency number (ISO code, e.g. FR)"),
    "timezone": _l("Time zone of the study"),
    "default_language": _l("Default patient language"),
    "show_scores_to_patients": _l("Patients see their own scores"),
    "reminder_start_hour": _l("Reminders are sent from (hour, local time)"),
    "reminder_end_hour": _l("Reminders are sent until (hour, local time, not included)"),
    "renotify_level3_minutes": _l(
        "Re-notify an emergency alert nobody has contacted the patient about after (minutes)"),
    "clinic_day_end_hour": _l("The clinic's day ends at (hour, local time)"),
    "consent_required": _l("Consent required: no questionnaire opens without a consent record "
                           "for the current required version"),
    "consent_on_phone": _l("Patients read and accept the consent text on their phone before "
                           "their first questionnaire"),
}


class StudySettingsForm(FlaskForm):
    """A study's settings; the values are checked by `surveys.domain.study_settings` (page and CLI alike)."""

    name = StringField(SETTING_LABELS["name"], validators=[DataRequired(), Length(max=200)])
    contact = MultilineTextField(SETTING_LABELS["contact"], max_length=2000,
                                 validators=[Optional(), Length(max=2000)])
    clinic_phone = StringField(SETTING_LABELS["clinic_phone"], validators=[Optional(), Length(max=32)])
    oncall_email = EmailField(SETTING_LABELS["oncall_email"], validators=[Optional(), Length(max=254)])
    backup_oncall_email = EmailField(SETTING_LABELS["backup_oncall_email"],
                                     validators=[Optional(), Length(max=254)])
    emergency_number = StringField(SETTING_LABELS["emergency_number"],
                                   validators=[DataRequired(), Length(max=32)])
    emergency_country = StringField(SETTING_LABELS["emergency_country"],
                                    validators=[DataRequired(), Length(max=2)])
    timezone = SelectField(SETTING_LABELS["timezone"], validate_choice=False)
    default_language = SelectField(SETTING_LABELS["default_language"],
                                   choices=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES])
    show_scores_to_patients = BooleanField(SETTING_LABELS["show_scores_to_patients"])
    reminder_start_hour = IntegerField(SETTING_LABELS["reminder_start_hour"],
                                       validators=[InputRequired(), NumberRange(min=0, max=23)])
    reminder_end_hour = IntegerField(SETTING_LABELS["reminder_end_hour"],
                                     validators=[InputRequired(), NumberRange(min=1, max=24)])
    renotify_level3_minutes = IntegerField(SETTING_LABELS["renotify_level3_minutes"],
                                           validators=[InputRequired(), NumberRange(min=1, max=1440)])
    clinic_day_end_hour = IntegerField(SETTING_LABELS["clinic_day_end_hour"],
                                       validators=[InputRequired(), NumberRange(min=1, max=24)])
    consent_required = BooleanField(SETTING_LABELS["consent_required"])
    consent_on_phone = BooleanField(SETTING_LABELS["consent_on_phone"])


class WithdrawForm(FlaskForm):
    """A patient leaving the study: the date (local to the study) and the reason."""

    on = DateField(_l("Date the patient left the study"), validators=[InputRequired()])
    reason = SelectField(_l("Reason"), choices=[("", "")])  # choices set per request (translated)
    note = MultilineTextField(_l("Note (required for \"other\")"), max_length=2000,
                              validators=[Optional(), Length(max=2000)])


class EraseForm(FlaskForm):
    """Erasing a patient's data: the reason, the patient's code typed again, the admin's password."""

    reason = SelectField(_l("Reason"), choices=[("", "")])  # choices set per request (translated)
    confirm_code = StringField(_l("Type the patient's code to confirm"),
                               validators=[DataRequired(), Length(max=32)])
    password = PasswordField(_l("Your password (asked again before an erasure)"),
                             validators=[DataRequired(), Length(max=1024)])


class ConfirmIdentityForm(FlaskForm):
    """Re-authentication: the password, or a fresh one-time code for those who use two-factor."""

    password = PasswordField(_l("Your password"), validators=[Optional(), Length(max=1024)])
    code = StringField(_l("Or a 6-digit code from your authenticator app"),
                       validators=[Optional(), Length(max=8)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    new = PasswordField(_l("New password (at least 12 characters)"),
                        validators=[DataRequired(), Length(max=1024)])
    repeat = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Your e-mail address"), validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    new = PasswordField(_l("New password (at least 12 characters)"),
                        validators=[DataRequired(), Length(max=1024)])
    repeat = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])


class WelcomeForm(NewPasswordForm):
    code = StringField(_l("6-digit code from your authenticator app"),
                       validators=[DataRequired(), Length(min=6, max=8)])


ROLE_CHOICES = [("coordinator", _l("Coordinator")), ("clinician", _l("Clinician")),
                ("admin", _l("Administrator"))]


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail of the person to invite"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class AccessForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class LanguageForm(FlaskForm):
    """The staff member's interface language; empty follows the browser."""

    language = SelectField(_l("Language"), choices=[("", _l("As my browser"))]
                           + [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES], default="")
