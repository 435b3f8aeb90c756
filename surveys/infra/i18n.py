"""Interface languages: Flask-Babel, how a request's language is chosen, compiled catalogues."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, get_locale, refresh
from flask_login import current_user

from surveys.infra import formatting

babel = Babel()
#: The languages of the interface and of instrument wording shown to patients.
LANGUAGES = ("en", "fr")
TRANSLATIONS = Path(__file__).parent / "translations"
log = logging.getLogger(__name__)


#: Blueprints whose pages are the patient's: there the patient's own language logic applies, never
#: the preference of a staff member who happens to be logged in on the same browser.
PATIENT_BLUEPRINTS = frozenset({"patient"})


def select_locale() -> str:
    """The language of this request's interface, one of LANGUAGES.

    In order: a language set for this request (`use_language`, e.g. the patient's own); on staff
    pages, the logged-in staff member's preference (`StaffUser.language`); the language remembered
    in the session (the patient's switch); the browser's Accept-Language; English. Outside a
    request (a command line's messages): English.
    """
    if not has_request_context():
        return "en"
    chosen = getattr(g, "lang", None)
    if chosen in LANGUAGES:
        return chosen
    if request.blueprint not in PATIENT_BLUEPRINTS:
        preferred = getattr(current_user, "language", None) if current_user else None
        if preferred in LANGUAGES:
            return preferred
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def use_language(lang: str) -> None:
    """Make `lang` this request's interface language (e.g. the patient's own)."""
    if lang in LANGUAGES:
        g.lang = lang
        refresh()


def current_lang() -> str:
    """The language code of the current request, for `lang` attributes and instrument texts."""
    if not has_request_context():
        return "en"
    locale = get_locale()
    return locale.language if locale is not None else "en"


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every .po whose .mo is missing or older; returns the .mo files written.

    `make translations` does this at install; doing it again here keeps a fresh clone (or a
    .po edited since) working. Each .mo is written to a temporary file and renamed into place,
    so several workers starting at once never read a half-written catalogue.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            handle, temporary = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
            with os.fdopen(handle, "wb") as target:
                write_mo(target, catalog)
            os.replace(temporary, mo)
        except OSError as exc:  # a read-only install: the interface falls back to English
            log.warning("cannot compile %s: %s", po, exc)
            continue
        written.append(mo)
    return written


def init_app(app: Flask) -> None:
    """Bind Flask-Babel, make sure catalogues are compiled and expose `current_lang()`."""
    compile_catalogues()
    babel.init_app(app, locale_selector=select_locale)
    # Flask-Babel caches the language on `g`, which outlives a request when an app context was
    # pushed around several requests (the tests, scripts): each request chooses its own.
    app.before_request(refresh)
    app.jinja_env.globals["current_lang"] = current_lang
    formatting.init_app(app)
