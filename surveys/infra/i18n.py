"""Interface languages: Flask-Babel, how a request's language is chosen, compiled catalogues."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, get_locale, refresh

babel = Babel()
#: The languages of the interface and of instrument wording shown to patients.
LANGUAGES = ("en", "fr")
TRANSLATIONS = Path(__file__).parent / "translations"
log = logging.getLogger(__name__)


def select_locale() -> str:
    """A language set for this request (a patient's), else the remembered one, else the browser's
    (English outside a request: a command line's messages)."""
    if not has_request_context():
        return "en"
    chosen = getattr(g, "lang", None) or session.get("lang")
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
    app.jinja_env.globals["current_lang"] = current_lang
