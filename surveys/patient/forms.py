"""Patient forms, composed from the instrument definition: one item per screen.

A small map from item type to WTForms field builds each screen's form (STYLE habit 3). The
form checks what a patient can get wrong (no answer, text too long); the view checks what only
a tampered request can get wrong (unknown item, extra fields) before the form is even built.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from babel.support import Translations
from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, RadioField
from wtforms.i18n import messages_path
from wtforms.validators import InputRequired, Length, Optional

from instruments import Item
from instruments.scoring import TEXT_MAX_LENGTH
from surveys.infra.text_fields import MultilineTextField

#: The fields a patient screen may post; anything else is a tampered request.
ALLOWED_FIELDS = frozenset({"csrf_token", "item", "answer", "nav"})


def _choice(item: Item, lang: str) -> Field:
    return RadioField(
        choices=[(option.code, option.labels.get(lang) or option.labels["en"]) for option in item.options],
        coerce=int,
        validators=[InputRequired(message=_l("Please choose an answer, then press Next."))],
    )


def _text(item: Item, lang: str) -> Field:
    validators: list[Any] = [Length(max=TEXT_MAX_LENGTH, message=_l(
        "Please shorten your answer to at most %(max)d characters.", max=TEXT_MAX_LENGTH))]
    if item.optional_text:
        validators.insert(0, Optional())
    else:
        validators.insert(0, InputRequired(message=_l("Please write an answer, then press Next.")))
    return MultilineTextField(validators=validators, max_length=TEXT_MAX_LENGTH, render_kw={"rows": 5})


#: Item type -> the field that asks it.
FIELD_BUILDERS: dict[str, Callable[[Item, str], Field]] = {
    "choice": _choice,
    "scale": _choice,
    "yesno": _choice,
    "text": _text,
}


@lru_cache(maxsize=8)
def _wtforms_messages(locale: str) -> Translations:
    # WTForms' own messages (field labels, "Not a valid choice"), read once per language: Flask-WTF
    # would read the catalogue from disk again on every request that builds a form.
    return Translations.load(messages_path(), [locale], domain="wtforms")


class ScreenForm(FlaskForm):
    """The fields every screen shares: which item it asks (the answer field is added per item)."""

    item = HiddenField()

    class Meta:
        csrf = False  # the patient's form token comes from the link (form_tokens), not the session

        def get_translations(self, form: Any) -> Any:
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)  # type: ignore[misc]
            return _wtforms_messages(str(get_locale()))


@lru_cache(maxsize=2048)
def _form_class(item: Item, lang: str) -> type[ScreenForm]:
    # Items are frozen and hashable: one class per item and language, built on first use.
    field = FIELD_BUILDERS[item.type](item, lang)
    return type(f"{item.type.title()}ScreenForm", (ScreenForm,), {"answer": field})


def screen_form(item: Item, lang: str, formdata: Any = None, answer: object = None) -> ScreenForm:
    """The form asking one item, pre-filled with the stored answer (the back button keeps answers)."""
    form_class = _form_class(item, lang)
    kwargs: dict[str, Any] = {"item": item.id}
    if formdata is None and answer is not None:
        kwargs["answer"] = answer
    # formdata=None said outright: left out, Flask-WTF would read the request's own form, and the
    # screen that answers a POST (see patient_views._answered) would show the answer just sent.
    return form_class(formdata=formdata, **kwargs)


def is_choice(item: Item) -> bool:
    """True for items answered by tapping one option."""
    return item.type in ("choice", "scale", "yesno")
