"""The patient-facing side: personal links, the home page and the one-item-per-screen flow.

Every page hangs under the personal link `/p/<token>`; no answer, item or score ever appears in a
URL or a title. Each screen's answer is saved at once (post/redirect/get); which item is on
screen is kept in the session, so going back and forth never puts health data in the address.
When patient.js sends the answer (SCREEN_FETCH_HEADER), the reply is the page the redirects would
have led to, rendered at once, with its address: one round trip per answer on a slow network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import update
from werkzeug.exceptions import TooManyRequests

from instruments import AnswerError, Instrument
from surveys.domain import consent as consent
from surveys.domain import flow as flow
from surveys.domain import tablet as tablet
from surveys.domain.crisis_lines import crisis_line
from surveys.domain.links import (
    LinkedPatient,
    LinkedStudy,
    link_state,
    normalise_short_code,
    open_link,
    open_tablet_token,
    patient_url,
    qr_svg,
)
from surveys.domain.models import Patient
from surveys.domain.notices import deliver_owed
from surveys.domain.protocol import ProtocolInstrument
from surveys.domain.protocol_history import protocol_versions
from surveys.domain.responses import answered_in
from surveys.domain.schedule import ANSWERABLE, Window
from surveys.infra.after_reply import after_reply
from surveys.infra.db import db
from surveys.infra.i18n import LANGUAGES, current_lang, use_language
from surveys.infra.library import instruments
from surveys.infra.security import csrf
from surveys.infra.throttle import LINK_MISS_LIMIT, note_link_miss
from surveys.patient.form_tokens import FORM_TOKEN_FIELD, form_token, form_token_valid
from surveys.patient.forms import ALLOWED_FIELDS, is_choice, screen_form
from surveys.patient.saves import save_screen

bp = Blueprint(
    "patient", __name__, template_folder="templates", static_folder="static",
    static_url_path="/static/patient",
)

#: Failed link look-ups allowed per client address: enough for typos, far too few for guessing.
#: Over it, a wrong link gets a 429; a valid link is always served (`surveys.infra.throttle`).
LINK_GUESS_LIMIT = LINK_MISS_LIMIT
#: patient.js posts an answer itself (fetch) with this header; the reply is then the next page
#: itself (200), its address in PAGE_ADDRESS_HEADER, instead of a 303 to it: one round trip per answer.
SCREEN_FETCH_HEADER = "X-Patient-Screen"
PAGE_ADDRESS_HEADER = "X-Patient-Location"

#: The scales a patient may see over time, with their range; everything else stays for staff.
PATIENT_SCALES: tuple[tuple[str, str, int, int], ...] = (
    ("who5", "percent", 0, 100),
    ("rses", "total", 0, 30),
    ("hair_status", "hair_severity", 0, 10),
    ("hair_status", "hair_bother", 0, 10),
    ("hair_status", "thinning", 0, 10),
)


# Patient forms carry a token derived from the link, not Flask-WTF's session-bound one (see
# form_tokens): checked in `_check_form_token` below.
csrf.exempt(bp)


@bp.before_request
def _check_form_token() -> None:
    """Refuse a patient POST whose form token does not belong to the credential in its address."""
    if request.method != "POST" or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    credential = (request.view_args or {}).get("token", "")
    if not credential:  # a page opened without a link (the code page): Flask-WTF's own check
        csrf.protect()
        return
    if not form_token_valid(credential, request.form.get(FORM_TOKEN_FIELD)):
        raise CSRFError("The form token is missing or does not belong to this link.")


#: A marked worsening since the first value, per scale: the change patients are offered support for.
#: WHO-5 (percent): 10 points, the clinically relevant change (Topp et al. 2015). RSES (0-30): 5
#: points, about the reliable change index with SD 5 and test-retest r = 0.85 (Silber & Tippett
#: 1965). Hair ratings (0-10, higher is worse): 2 points, the usual minimal important change of a
#: 0-10 numeric rating scale (Farrar et al. 2001). Negative: a fall is worse; positive: a rise.
MARKED_WORSENING: dict[tuple[str, str], float] = {
    ("who5", "percent"): -10,
    ("rses", "total"): -5,
    ("hair_status", "hair_severity"): 2,
    ("hair_status", "hair_bother"): 2,
    ("hair_status", "thinning"): 2,
}


def marked_worsening(key: tuple[str, str], values: list[tuple[str, float]]) -> bool:
    """True when the latest value is markedly worse than the first (see MARKED_WORSENING)."""
    limit = MARKED_WORSENING.get(key)
    if limit is None or len(values) < 2:
        return False
    change = values[-1][1] - values[0][1]
    return change <= limit if limit < 0 else change >= limit


@dataclass(frozen=True, slots=True)
class Visit:
    """An open personal link (or clinic tablet session): the patient and their study, as plain
    values read in one statement, and how the answers are given (the mode of administration)."""

    token: str
    patient: LinkedPatient
    study: LinkedStudy
    mode: str = "own_device"
    assisted_by_id: int | None = None
    tablet_id: int | None = None


@bp.after_request
def _private(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _page_path() -> str:
    """Where the page on screen lives (its forms post back there): the request's own address, except
    for an answer whose reply is the next page itself (see `_answered`)."""
    return g.get("page_path") or request.path


@bp.context_processor
def _page_address() -> dict[str, str]:
    credential = (request.view_args or {}).get("token", "")
    return {"page_path": _page_path(), "form_token": form_token(credential) if credential else ""}


def _stop(template: str, status: int, **context: Any) -> NoReturn:
    abort(make_response(render_template(template, **context), status))


def _tablet_visit(token: str) -> Visit | None:
    """A clinic tablet's visit, or None for an unknown token; an ended (or idle) one shows only the
    neutral screen, from which Back reveals nothing (every page of it is now this screen)."""
    link = open_tablet_token(db.session, token)
    if link is None:
        return None
    going_on = link.revoked_at is None and tablet.tablet_seen(db.session, link.link_id)
    db.session.commit()
    if not going_on:
        _stop("patient/tablet_ended.html", 200)
    use_language(link.patient.language)
    return Visit(token=token, patient=link.patient, study=link.study, mode="tablet_in_clinic",
                 assisted_by_id=tablet.tablet_assistant(db.session, link.link_id), tablet_id=link.link_id)


def _visit(token: str) -> Visit:
    link = open_link(db.session, token)
    if link is None:
        visit = _tablet_visit(token)
        if visit is not None:
            return visit
        # Counted per client address; over the limit a wrong link gets a 429. Never checked before
        # the look-up, so someone else's guessing from a shared address never blocks a valid link.
        if not note_link_miss():
            _stop("patient/link_problem.html", 429, problem="too_many")
        _stop("patient/link_problem.html", 404, problem="unknown")
    state = link_state(link)
    if state == "revoked":
        _stop("patient/link_problem.html", 403, problem="revoked", clinic=link.study)
    if state == "expired":
        _stop("patient/link_problem.html", 410, problem="expired", clinic=link.study)
    use_language(link.patient.language)
    return Visit(token=token, patient=link.patient, study=link.study)


def _page(template: str, visit: Visit, status: int = 200, **context: Any) -> Any:
    """Render a patient page; an emergency notice from the last answer comes before anything else."""
    notice = session.pop("notice") if "notice" in session else None  # no pop, no new cookie
    if notice in ("emergency", "crisis"):
        template, status = f"patient/{notice}.html", 200
        context = {"continue_url": _page_path(), "crisis_line": crisis_line(visit.study.emergency_country)}
        notice = None
    return render_template(template, visit=visit, study=visit.study, notice=notice, **context), status


def _windows(visit: Visit, states: dict[tuple[str, str], str]) -> list[Window]:
    return flow.patient_windows(visit.patient, flow.protocol_of(visit.study), states)


def _require_consent(visit: Visit) -> None:
    """Stop before any questionnaire when the study's consent gate is closed for this patient: to the
    consent page when they accept it on their device, else a page saying the clinic must record it
    (403), worded for a first consent or for a new version of the text (re-consent). Reads only what
    the link look-up brought: no statement of its own."""
    needed = consent.gate(visit.study, visit.patient.consented)
    if needed == "accept":
        abort(redirect(url_for(".consent_page", token=visit.token), 303))
    if needed == "required":
        _stop("patient/consent_needed.html", 403, visit=visit, study=visit.study)


def _window(visit: Visit, timepoint: str, states: dict[tuple[str, str], str]) -> Window:
    """The window a patient asks for, or a kind page saying why it cannot be answered (the consent
    gate first)."""
    _require_consent(visit)
    window = flow.find_window(_windows(visit, states), timepoint)
    if window is None:
        _stop("patient/closed.html", 404, visit=visit, study=visit.study, reason="missing", window=None)
    if window.state == "closed":
        _stop("patient/closed.html", 410, visit=visit, study=visit.study, reason="closed", window=window)
    if window.state in ("upcoming", "not_scheduled"):
        _stop("patient/closed.html", 403, visit=visit, study=visit.study, reason=window.state, window=window)
    return window


@dataclass(frozen=True, slots=True)
class Part:
    """One questionnaire of a window, as the patient asks for it, with the answers stored so far."""

    window: Window
    entry: ProtocolInstrument
    instrument: Instrument
    done: bool
    answers: dict[str, Any]
    started_in: str | None  # the language the response was started in: it fixes the items' order

    def order_lang(self, lang: str) -> str:
        """The language whose item order this part follows: the one it was started in."""
        return self.started_in or lang


def _part(visit: Visit, timepoint: str, instrument_id: str) -> Part:
    found = flow.states_and_answers(db.session, visit.patient, timepoint, instrument_id)
    states, answers = found.states, found.answers
    window = _window(visit, timepoint, states)
    entry = flow.entry_of(window, instrument_id)
    if entry is None:
        _stop("patient/closed.html", 404, visit=visit, study=visit.study, reason="missing", window=None)
    done = states.get((timepoint, instrument_id)) == "submitted"
    # A response started in an older version of the definition is finished in that version.
    instrument = answered_in(instruments(), instrument_id, found.version) or instruments()[instrument_id]
    return Part(window, entry, instrument, done, answers, found.started_in)


@bp.get("/p/<token>")
def home(token: str) -> Any:
    """The patient's home: what is due now, what comes next, what is done, the clinic's contact."""
    return _home_page(_visit(token))


def _end_tablet_if_done(visit: Visit, windows: list[Window]) -> bool:
    """On a clinic tablet, end the session once nothing is left to answer; True when it ended."""
    if visit.tablet_id is None or any(w.state in ANSWERABLE for w in windows):
        return False
    tablet.end_tablet(db.session, visit.tablet_id, "completed", actor="system", study_id=visit.study.id)
    db.session.commit()
    return True


def _home_page(visit: Visit) -> Any:
    states = flow.response_states(db.session, visit.patient)
    windows = _windows(visit, states)
    if _end_tablet_if_done(visit, windows):
        return render_template("patient/tablet_ended.html", finished=True)
    due = [w for w in windows if w.state in ANSWERABLE]
    upcoming = [w for w in windows if w.state == "upcoming"][:3]
    later = [w for w in windows if w.state == "not_scheduled"]
    done = [w for w in windows if w.state == "completed"]
    started = {tp for (tp, _inst), status in states.items()}
    return _page("patient/home.html", visit, due=due, upcoming=upcoming, later=later, done=done,
                 started=started, can_see_scores=_has_scores(visit, states),
                 consent_gate=consent.gate(visit.study, visit.patient.consented) if due else None)


@bp.route("/p/<token>/consent", methods=["GET", "POST"])
def consent_page(token: str) -> Any:
    """The study's current consent text in the patient's language; accepting it stores the acceptance
    (UTC time, version) and leads to the questionnaires. Only shown while the study asks patients to
    accept on their device and their consent is not valid; otherwise back to the home page."""
    visit = _visit(token)
    if consent.gate(visit.study, visit.patient.consented) != "accept":
        return redirect(url_for(".home", token=token), 303)
    current = consent.current_version(db.session, visit.study.id)
    if current is None:
        _stop("patient/problem.html", 403, visit=visit, study=visit.study, title=_("Consent needed first"),
              message=_("The consent text of this study is not ready yet, so the questionnaires cannot open. "
                        "Please contact the clinic."), back_url=url_for(".home", token=token))
    if request.method == "POST":
        if request.form.get("accept") != "yes" or request.form.get("version") != str(current.id):
            _stop("patient/problem.html", 400, visit=visit, study=visit.study,
                  message=_("The consent text has changed since you opened it; please read it again."),
                  back_url=url_for(".consent_page", token=token))
        consent.accept_on_device(db.session, visit.patient.id, visit.study, version_id=current.id)
        db.session.commit()
        return redirect(url_for(".home", token=token), 303)
    text = current.text_fr if current_lang() == "fr" else current.text_en
    return _page("patient/consent.html", visit, version=current, text=text)


@bp.post("/p/<token>/language")
def language(token: str) -> Any:
    """Switch the patient's language; it is remembered on their record."""
    visit = _visit(token)
    lang = request.form.get("lang", "")
    if lang not in LANGUAGES:
        _stop("patient/problem.html", 400, visit=visit, study=visit.study,
              message=_("This language is not available."), back_url=url_for(".home", token=token))
    db.session.execute(update(Patient).where(Patient.id == visit.patient.id).values(language=lang))
    db.session.commit()
    target = request.form.get("next", "")
    if not target.startswith(f"/p/{token}") or "//" in target or "\\" in target:
        target = url_for(".home", token=token)
    return redirect(target, 303)


@bp.get("/p/<token>/q/<timepoint>")
def timepoint(token: str, timepoint: str) -> Any:
    """A questionnaire's next part, or the thank-you page once every part is done."""
    return _timepoint_page(_visit(token), timepoint)


def _timepoint_page(visit: Visit, timepoint: str) -> Any:
    states = flow.response_states(db.session, visit.patient)
    window = _window(visit, timepoint, states)
    entry = flow.next_entry(window, states)
    if entry is not None:
        return redirect(url_for(".screen", token=visit.token, timepoint=timepoint,
                                instrument_id=entry.instrument))
    alert_level = flow.window_alert_level(db.session, visit.patient, timepoint)
    finished = _end_tablet_if_done(visit, _windows(visit, states))
    return _page("patient/done.html", visit, window=window, can_see_scores=_has_scores(visit, states),
                 alert_level=alert_level, tablet_finished=finished)


def _progress(window: Window, entry: ProtocolInstrument) -> tuple[int, int]:
    return [e.instrument for e in window.instruments].index(entry.instrument) + 1, len(window.instruments)


def _set_cursor(timepoint: str, instrument_id: str, item_id: str) -> None:
    """Remember which item is on screen (only a change re-signs the session cookie)."""
    if session.get("cursor") != [timepoint, instrument_id, item_id]:
        session["cursor"] = [timepoint, instrument_id, item_id]


def _cursor(timepoint: str, instrument_id: str) -> str | None:
    saved = session.get("cursor")
    if isinstance(saved, list) and len(saved) == 3 and saved[:2] == [timepoint, instrument_id]:
        return str(saved[2])
    return None


def _render_screen(visit: Visit, part: Part, item_id: str | None, form: Any = None, status: int = 200) -> Any:
    lang = current_lang()
    instrument, answers = part.instrument, part.answers
    items = flow.shown_items(instrument, answers, part.order_lang(lang), part.entry.section)
    screen = flow.screen_for(items, answers, item_id)
    if screen is None:  # nothing to ask (cannot happen with shipped instruments)
        abort(404)
    if form is None:
        form = screen_form(screen.item, lang, answer=answers.get(screen.item.id))
    number, parts = _progress(part.window, part.entry)
    question = flow.question_number(instrument, part.order_lang(lang), part.entry.section, screen.item.id)
    return _page("patient/screen.html", visit, status, window=part.window, instrument=instrument,
                 screen=screen, form=form, part=number, parts=parts, lang=lang, choice=is_choice(screen.item),
                 show_instructions=screen.position == 1, question=question)


@bp.get("/p/<token>/q/<timepoint>/<instrument_id>")
def screen(token: str, timepoint: str, instrument_id: str) -> Any:
    """One question of a questionnaire: where the patient left off, or where they went back to."""
    return _screen_page(_visit(token), timepoint, instrument_id)


def _screen_page(visit: Visit, timepoint: str, instrument_id: str) -> Any:
    part = _part(visit, timepoint, instrument_id)
    if part.done:
        return redirect(url_for(".timepoint", token=visit.token, timepoint=timepoint))
    return _render_screen(visit, part, _cursor(timepoint, instrument_id))


#: The pages a saved answer can lead to, by endpoint, drawn for an open link.
_PAGES: dict[str, Callable[..., Any]] = {
    "patient.home": _home_page,
    "patient.timepoint": _timepoint_page,
    "patient.screen": _screen_page,
}


def _answered(visit: Visit, url: str) -> Any:
    """Where a saved answer leads: a 303 to the next page (post/redirect/get); or, when patient.js
    sent the answer, that page itself, as the redirects would have led to it, with its address."""
    if request.headers.get(SCREEN_FETCH_HEADER) != "1":
        return redirect(url, 303)
    adapter = current_app.create_url_adapter(request)
    for _hop in range(3):  # a part's address leads to its next screen; a finished part's screen back
        endpoint, args = adapter.match(url, method="GET")
        show = _PAGES.get(endpoint)
        if show is None or args.pop("token", None) != visit.token:
            break
        g.page_path = url
        response = make_response(show(visit, **args))
        if response.status_code not in (301, 302, 303, 307, 308):
            response.headers[PAGE_ADDRESS_HEADER] = url
            response.vary.add(SCREEN_FETCH_HEADER)
            return response
        url = urlsplit(response.location).path
    return redirect(url, 303)


def _bad_request(visit: Visit, message: str) -> NoReturn:
    _stop("patient/problem.html", 400, visit=visit, study=visit.study, message=message,
          back_url=request.path)


@bp.post("/p/<token>/q/<timepoint>/<instrument_id>")
def answer(token: str, timepoint: str, instrument_id: str) -> Any:
    """Save one screen's answer at once, then show the next screen (post/redirect/get, or the next
    screen in the reply when patient.js sent the answer)."""
    visit = _visit(token)
    part = _part(visit, timepoint, instrument_id)
    instrument, entry = part.instrument, part.entry
    flow_url = url_for(".timepoint", token=token, timepoint=timepoint)
    if part.done:  # a resend after the last screen was saved: nothing more to store
        return _answered(visit, flow_url)
    item_id = request.form.get("item", "")
    if set(request.form) - ALLOWED_FIELDS or not instrument.has_item(item_id):
        _bad_request(visit, _("This answer does not belong to this questionnaire. Nothing was saved."))
    item = instrument.item(item_id)
    if entry.section is not None and item.section != entry.section:
        _bad_request(visit, _("This answer does not belong to this questionnaire. Nothing was saved."))
    lang = current_lang()
    going_back = request.form.get("nav") == "back"
    if going_back and not request.form.get("answer", "").strip():
        shown = flow.shown_items(instrument, part.answers, part.order_lang(lang), entry.section)
        before = flow.item_before(shown, item_id)
        _set_cursor(timepoint, instrument_id, (before or item).id)
        return _answered(visit, request.path)
    form = screen_form(item, lang, formdata=request.form)
    if not form.validate():
        shown = flow.shown_items(instrument, part.answers, part.order_lang(lang), entry.section)
        if item.id not in {i.id for i in shown}:
            _bad_request(visit, _("This question is not asked with your other answers. Nothing was saved."))
        return _render_screen(visit, part, item.id, form=form, status=400)
    value = form.answer.data
    if isinstance(value, str):
        value = value.strip() or None
    try:
        saved = save_screen(db.session, visit.patient, part.window, entry, instrument, item.id, value,
                            going_back=going_back, lang=lang, order_lang=part.order_lang(lang),
                            mode=visit.mode, assisted_by_id=visit.assisted_by_id)
    except AnswerError:
        _bad_request(visit, _("This answer is not one of the choices for this question. Nothing was saved."))
    if saved.outcome == "closed":
        return _answered(visit, flow_url)
    _set_cursor(timepoint, instrument_id, saved.cursor)
    if saved.outcome in ("emergency", "crisis", "same_day"):
        session["notice"] = saved.outcome
    if saved.notices:
        _deliver_after_reply(saved.notices)
    return _answered(visit, flow_url if saved.outcome == "finished" else request.path)


def _deliver_after_reply(notice_ids: tuple[int, ...]) -> None:
    """E-mail the alert notices a committed answer made owed, once its reply has gone out: the
    patient sees the advice at once however slow the mail server is. Whatever goes wrong is logged
    and left to `alerts notify` (the outbox keeps what is owed; its claim sends each once)."""
    base_url, ids = current_app.config["BASE_URL"], tuple(notice_ids)
    after_reply(lambda: deliver_owed(db.session, base_url, ids), f"alert notices {list(ids)}")


def _has_scores(visit: Visit, states: dict[tuple[str, str], str]) -> bool:
    if not visit.study.show_scores_to_patients or visit.tablet_id is not None:
        return False  # hidden when the study says so, and on a clinic tablet others will hold
    wanted = {inst for inst, *_rest in PATIENT_SCALES}
    return any(status == "submitted" and inst in wanted for (_tp, inst), status in states.items())


@bp.get("/p/<token>/scores")
def scores(token: str) -> Any:
    """The patient's own scores over time, in plain words, when the study allows it."""
    visit = _visit(token)
    if not visit.study.show_scores_to_patients:
        _stop("patient/problem.html", 404, visit=visit, study=visit.study,
              message=_("Your clinic does not show results here. You can ask them about your answers."),
              back_url=url_for(".home", token=token))
    windows = _windows(visit, flow.response_states(db.session, visit.patient))
    # Scores at a timepoint a protocol amendment removed keep their place and their label.
    history = protocol_versions(db.session, visit.study)
    order = sorted([w.timepoint for w in windows] + [tp.id for tp in history.removed()], key=history.sort_key)
    lines = flow.own_scores(db.session, visit.patient, [(i, s) for i, s, _lo, _hi in PATIENT_SCALES], order)
    ranges = {(i, s): (lo, hi) for i, s, lo, hi in PATIENT_SCALES}
    labels = {tp: history.label(tp, current_lang()) for line in lines for tp, _value in line.values}
    labels.update({w.timepoint: w.label(current_lang()) for w in windows})
    worse = {(line.instrument, line.scale) for line in lines
             if marked_worsening((line.instrument, line.scale), line.values)}
    return _page("patient/scores.html", visit, lines=lines, ranges=ranges, labels=labels, worse=worse)


@bp.route("/code", methods=["GET", "POST"])
def code() -> Any:
    """The code page: the patient types the short code printed on their handout and is taken to
    their questionnaires. Failed codes count against the same limit as guessed links."""
    problem = None
    if request.method == "POST":
        typed = normalise_short_code(request.form.get("code", ""))[:64]
        link = open_link(db.session, typed) if typed else None
        if link is not None and link.kind == "code" and link_state(link) == "active":
            return redirect(url_for(".home", token=typed), 303)
        if not note_link_miss():  # one limit for typed codes and opened links
            _stop("patient/link_problem.html", 429, problem="too_many")
        problem = _("This code does not work. Check it on your sheet and type it again, or ask your clinic.")
    page = render_template("patient/code.html", problem=problem)
    return page, (400 if problem else 200)


@bp.get("/p/<token>/qr.svg")
def qr(token: str) -> Any:
    """The personal link as a QR code (SVG), for the handout staff print when they issue a link."""
    _visit(token)
    svg = qr_svg(patient_url(current_app.config["BASE_URL"], token))
    return current_app.response_class(svg, mimetype="image/svg+xml")


@bp.get("/instrument-images/<instrument_id>/<name>")
def instrument_image(instrument_id: str, name: str) -> Any:
    """A picture shown with an answer option (e.g. the hair-loss stage drawings)."""
    instrument = instruments().get(instrument_id)
    if instrument is None or not name.endswith(".svg"):
        abort(404)
    folder = Path(instrument.source_path).parent / "images"
    response = send_from_directory(folder, name, mimetype="image/svg+xml", max_age=86400)
    return response


@bp.errorhandler(CSRFError)
def _csrf_failed(_error: CSRFError) -> Any:
    """A stale or missing form token: back to the same screen with a plain message."""
    session["notice"] = "csrf"
    token = (request.view_args or {}).get("token", "")
    if request.endpoint == "patient.language" and token:
        return redirect(url_for(".home", token=token), 303)
    return redirect(request.path, 303)


@bp.errorhandler(TooManyRequests)
def _too_many(_error: TooManyRequests) -> Any:
    return render_template("patient/link_problem.html", problem="too_many"), 429
