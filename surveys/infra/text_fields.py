"""Multi-line text fields whose length the server counts the way browsers do.

A browser counts a line break as one character toward a textarea's `maxlength` and sends it as
two (CR LF, as HTML requires); a server counting the sent text refuses a text the person saw as
fitting, and shows it again unchanged, so they cannot fix it. Line breaks are normalised to one
LF on the way in, so the length check, the stored text and the browser agree.
"""

from __future__ import annotations

from typing import Any

from wtforms import TextAreaField


def normalise_line_breaks(text: str) -> str:
    """CR LF and lone CR become LF: one character per line break, as browsers count them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class MultilineTextField(TextAreaField):
    """A textarea whose data has one LF per line break; `maxlength` is rendered from `max_length`."""

    def __init__(self, label: Any = None, validators: Any = None, max_length: int | None = None,
                 **kwargs: Any) -> None:
        if max_length is not None:
            kwargs["render_kw"] = {"maxlength": max_length, **(kwargs.get("render_kw") or {})}
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if isinstance(self.data, str):
            self.data = normalise_line_breaks(self.data)
