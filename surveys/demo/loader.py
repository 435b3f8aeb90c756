"""Loading the demo: the DEMO study (with its consent texts), its staff logins and the synthetic
cohort, idempotently.

A run is reproducible for a seed (relative to today); a second run only adds what is missing.
Nothing here is real patient data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from instruments import Instrument
from surveys.demo.plans import FORMULATIONS, plan_for, showcase_plans
from surveys.demo.tokens import demo_token, demo_totp_secret
from surveys.demo.writer import CHUNK, CohortWriter, batched
from surveys.domain.accounts import create_user, totp_uri
from surveys.domain.audit import record
from surveys.domain.consent import add_version, versions
from surveys.domain.links import patient_url
from surveys.domain.models import (
    Patient,
    StaffUser,
    Study,
)
from surveys.domain.patients import study_protocol
from surveys.domain.studies import create_study, revise_current_protocol
from surveys.infra.db import utcnow

STUDY_CODE = "DEMO"
DEMO_USERS = (
    ("admin@demo.test", "admin", "Scalp-Demo-Orchid-2026"),
    ("coordinator@demo.test", "coordinator", "Scalp-Demo-Maple-2026"),
    ("clinician@demo.test", "clinician", "Scalp-Demo-Heron-2026"),
)

DEMO_FORMULATIONS = [  # ids a-z0-9_ (protocol.check_formulations), labels as the plans write them
    {"id": re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:32], "label": {"en": text}}
    for text in FORMULATIONS
]


#: The demo's consent texts (synthetic wording): version 1.0 from the start, 1.1 since `RECONSENT_DAYS_AGO`
#: days, asking every patient again (the 5-ARI mood questionnaire was added).
CONSENT_1_0 = {
    "en": (
        "Patient-reported outcomes after scalp mesotherapy (demonstration study: fictional clinic, synthetic "
        "data).\n\n"
        "We invite you to answer short questionnaires on your phone before your first scalp mesotherapy "
        "session, the day after each session, and at follow-up visits up to 12 months (5 to 10 minutes "
        "each): your well-being, self-esteem, how you see your hair, and any reaction to the injections.\n\n"
        "- Taking part is voluntary. Saying no, or stopping later, does not change your treatment.\n"
        "- Your answers are stored under a study code, not your name, on the clinic's server, and read "
        "by the clinic team. An answer that suggests a serious reaction is seen by a clinician the same "
        "day; the questionnaires are not an emergency service.\n"
        "- Results are analysed without names and published only as group figures.\n"
        "- You may stop at any time without giving a reason, and ask for a copy of your answers or for "
        "them to be deleted.\n\n"
        "By accepting, you confirm that you have read this information and agree to take part."
    ),
    "fr": (
        "Résultats rapportés par les patients après mésothérapie du cuir chevelu (étude de démonstration : "
        "clinique fictive, données synthétiques).\n\n"
        "Nous vous proposons de répondre à de courts questionnaires sur votre téléphone avant votre première "
        "séance de mésothérapie du cuir chevelu, le lendemain de chaque séance et lors des visites de suivi "
        "jusqu'à 12 mois (5 à 10 minutes à chaque fois) : votre bien-être, votre estime de soi, votre regard "
        "sur vos cheveux et toute réaction aux injections.\n\n"
        "- La participation est libre. Refuser, ou arrêter plus tard, ne change rien à votre traitement.\n"
        "- Vos réponses sont enregistrées sous un code d'étude, sans votre nom, sur le serveur de la "
        "clinique, et lues par l'équipe soignante. Une réponse évoquant une réaction grave est vue par un "
        "médecin le jour même ; les questionnaires ne sont pas un service d'urgence.\n"
        "- Les résultats sont analysés sans les noms et publiés uniquement sous forme de chiffres de "
        "groupe.\n"
        "- Vous pouvez arrêter à tout moment sans vous justifier, et demander une copie de vos réponses ou "
        "leur suppression.\n\n"
        "En acceptant, vous confirmez avoir lu ces informations et accepter de participer."
    ),
}
CONSENT_1_1_NOTE = {
    "en": ("What changed in version 1.1: patients treated with finasteride or dutasteride also answer a "
           "short mood questionnaire (PHQ-9); if your answers suggest you may need support, a clinician "
           "will call you.\n\n"),
    "fr": ("Ce qui change dans la version 1.1 : les patients traités par finastéride ou dutastéride "
           "répondent aussi à un court questionnaire sur l'humeur (PHQ-9) ; si vos réponses laissent penser "
           "que vous avez besoin de soutien, un médecin vous appellera.\n\n"),
}
CONSENT_CREATED_DAYS_AGO = 520  # before the earliest enrollment of the synthetic cohort (480 days)
RECONSENT_DAYS_AGO = 45


def add_demo_consent(session: Session, study: Study, now: datetime) -> None:
    """The demo study's consent versions 1.0 and 1.1 (1.1 asks for re-consent), dated in the past."""
    first = add_version(session, study, "1.0", CONSENT_1_0["en"], CONSENT_1_0["fr"], requires_reconsent=False,
                        actor="demo")
    second = add_version(session, study, "1.1", CONSENT_1_1_NOTE["en"] + CONSENT_1_0["en"],
                         CONSENT_1_1_NOTE["fr"] + CONSENT_1_0["fr"], requires_reconsent=True, actor="demo")
    first.created_at = now - timedelta(days=CONSENT_CREATED_DAYS_AGO)
    second.created_at = now - timedelta(days=RECONSENT_DAYS_AGO)
    # No questionnaire opens without a valid consent; a patient who lacks one accepts it on their phone.
    study.consent_required, study.consent_on_phone = True, True
    session.flush()


class DemoRefused(RuntimeError):
    """The database holds something other than the demo: loading published logins into it is refused."""


def check_demo_only(session: Session) -> None:
    """Refuse (DemoRefused, naming what was found) a database holding any study other than DEMO
    or any staff account other than the demo logins: their passwords are published in the README."""
    demo_emails = [email for email, _role, _password in DEMO_USERS]
    studies = list(session.scalars(select(Study.code).where(Study.code != STUDY_CODE).limit(3)))
    others = select(StaffUser.email).where(StaffUser.email.not_in(demo_emails)).limit(3)
    accounts = list(session.scalars(others))
    if studies or accounts:
        found = ", ".join([*(f"study {code}" for code in studies),
                           *(f"account {email}" for email in accounts)])
        raise DemoRefused(f"This database is not a demo database (it holds {found}); the demo, with its "
                          "published logins, is loaded only into an empty or demo-only database.")
#: The demo patients a visitor walks through by hand (their links are printed by `flask demo`).
WALKTHROUGH = ("DEMO-NEW", "DEMO-SESSION", "DEMO-FOLLOWUP")


def reset_walkthrough(session: Session) -> int:
    """Delete the three walkthrough patients and everything of theirs (answers, alerts, sessions,
    links: the database cascades), so that `load_demo` re-creates them as new; returns how many.

    Only those three synthetic patients are touched; the audit trail keeps its entries.
    """
    study_id = session.scalar(select(Study.id).where(Study.code == STUDY_CODE))
    if study_id is None:
        return 0
    ids = list(session.scalars(
        select(Patient.id).where(Patient.study_id == study_id, Patient.code.in_(WALKTHROUGH))
    ))
    if ids:
        session.execute(delete(Patient).where(Patient.id.in_(ids)))
        record(session, "demo", "demo.reset_walkthrough", entity="study", entity_id=study_id,
               study_id=study_id, details={"patients": list(WALKTHROUGH)})
        session.expire_all()
    return len(ids)


def load_demo(
    session: Session,
    *,
    n_patients: int,
    seed: int,
    secret: str,
    base_url: str,
    library: dict[str, Instrument],
    progress: Callable[[str], None] = lambda _text: None,
    now: datetime | None = None,
) -> str:
    """Create (or complete) the demo study; returns a summary with logins and a few links.

    Raises DemoRefused when the database holds any non-demo study or account (`check_demo_only`).
    """
    check_demo_only(session)
    now = now or utcnow()
    today = now.date()
    study = session.scalar(select(Study).where(Study.code == STUDY_CODE))
    if study is None:
        study = create_study(
            session,
            STUDY_CODE,
            "Scalp mesotherapy demo (synthetic data)",
            library,
            actor="demo",
            contact="Demo clinic, +33 1 00 00 00 00 (fictional)",
            emergency_number="112",
            oncall_email="oncall@demo.test",
        )
        # The demo's list of formulations: exports group sessions by it (docs/EXPORTS.md).
        revise_current_protocol(session, study, {**study.protocol, "formulations": DEMO_FORMULATIONS})
        add_demo_consent(session, study, now)
    for email, role, password in DEMO_USERS:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            user = create_user(session, email, password, role, [study])
        if role == "admin" and user.totp_secret is None:  # admins must use two-factor login
            user.totp_secret = demo_totp_secret(secret)
    protocol = study_protocol(study)
    existing = set(session.scalars(select(Patient.code).where(Patient.study_id == study.id)))
    plans = [p for p in showcase_plans(seed, today, now) if p.code not in existing]
    wanted = [f"DEMO-{i:05d}" for i in range(1, n_patients + 1)]
    # A demo loaded before it had consent texts keeps none: its patients hold no consent records.
    writer = CohortWriter(session, study, protocol, library, secret, now,
                          consent_versions=list(reversed(versions(session, study.id))))
    todo = plans + [plan_for(code, seed, today, now) for code in wanted if code not in existing]
    for batch in batched(todo, CHUNK):
        for plan in batch:
            plan.data["study_id"] = study.id
        writer.write(batch)
        session.flush()
        progress(f"demo: {writer.counts['patients']}/{len(todo)} patients written")
    if todo:
        # Fresh planner statistics after a bulk load, so the reports' queries use the indexes well.
        session.execute(text("ANALYZE"))
        record(
            session,
            "demo",
            "demo.load",
            entity="study",
            entity_id=study.id,
            study_id=study.id,
            details={"seed": seed, **writer.counts},
        )
    total = session.scalar(select(func.count(Patient.id)).where(Patient.study_id == study.id))
    lines = [
        f"Demo study {STUDY_CODE}: {total} patients ({writer.counts['patients']} added now).",
        "Staff logins (demo only, never use in production):",
    ]
    lines += [f"  {role:<12} {email}  password: {password}" for email, role, password in DEMO_USERS]
    lines.append(
        f"  admin two-factor key: {demo_totp_secret(secret)} (add it to an authenticator app, "
        f"or: {totp_uri(DEMO_USERS[0][0], demo_totp_secret(secret))})"
    )
    lines.append("Patient links:")
    for code in WALKTHROUGH:
        lines.append(f"  {code:<14} {patient_url(base_url, demo_token(secret, code))}")
    return "\n".join(lines)
