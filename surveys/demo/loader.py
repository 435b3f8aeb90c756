"""Loading the demo: the DEMO study, its staff logins and the synthetic cohort, idempotently.

A run is reproducible for a seed (relative to today); a second run only adds what is missing.
Nothing here is real patient data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from instruments import Instrument
from surveys.demo.plans import FORMULATIONS, plan_for, showcase_plans
from surveys.demo.tokens import demo_token, demo_totp_secret
from surveys.demo.writer import CHUNK, CohortWriter, batched
from surveys.domain.accounts import create_user, totp_uri
from surveys.domain.audit import record
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
    writer = CohortWriter(session, study, protocol, library, secret, now)
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
