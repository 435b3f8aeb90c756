"""Work that runs once the reply to the current request has gone out.

A WSGI server (gunicorn, werkzeug's) writes a response's last byte and then closes it; Flask runs
the functions given to `Response.call_on_close` at that moment. Slow side effects registered here
(an SMTP server that accepts the connection and then hangs) therefore never delay the page the
person is waiting for. The work gets an app context of its own (the request's is gone by then),
and whatever it raises is logged, never shown to anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, after_this_request, current_app

log = logging.getLogger(__name__)


def after_reply(work: Callable[[], None], what: str) -> None:
    """Run `work()` after the current request's reply has been sent and closed.

    Call inside a request. `work` runs in a fresh app context (a new database session); an
    exception is logged with `what` (a few words saying what the work was) and swallowed. A reply
    that is never closed (a WSGI server must close it) never runs `work`: use it only for work that
    something else catches up on (the alert outbox has `alerts notify`).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                work()
            except Exception:  # the reply is gone; nobody to show it to
                log.exception("after the reply: %s failed", what)

    @after_this_request
    def _register(response: Response) -> Response:
        response.call_on_close(run)
        return response
