"""Interface languages: Flask-Babel and how a request's language is chosen."""

from __future__ import annotations

from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, get_locale

from surveys.models import LANGUAGES

babel = Babel()


def select_locale() -> str:
    """A language set for this request (a patient's), else the remembered one, else the browser's."""
    chosen = getattr(g, "lang", None) or session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def current_lang() -> str:
    """The language code of the current request, for `lang` attributes and instrument texts."""
    if not has_request_context():
        return "en"
    locale = get_locale()
    return locale.language if locale is not None else "en"


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and expose `current_lang()` to templates."""
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["current_lang"] = current_lang
