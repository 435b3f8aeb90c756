"""Text from protocols and instruments is shown as written inside Plotly charts, never as markup."""

from __future__ import annotations

import json

import pandas as pd

from reports.dashboards import figures

LINK = '<a href="https://evil.example/">Week 12</a>'


def strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    if isinstance(node, dict):
        return [s for key, value in node.items() if key != "template" for s in strings(value)]
    return []


def test_a_timepoint_label_cannot_carry_a_link_into_a_chart() -> None:
    table = pd.DataFrame({"timepoint": ["W12"], "on_time": [40], "late": [5], "missed": [5], "pending": [0]})
    figure = figures.completion_figure(table, {"W12": LINK})
    text = json.dumps(figure)
    assert "<a" not in text and "evil.example" in text  # kept, but as text
    assert figure["data"][0]["y"] == ['&lt;a href="https://evil.example/"&gt;Week 12&lt;/a&gt;']


def test_titles_names_and_symptom_labels_are_escaped_everywhere() -> None:
    grades = pd.DataFrame([{"symptom": "pain", "session_number": 1, "n": 20, "grade_0": 0.5, "grade_1": 0.3,
                            "grade_2": 0.1, "grade_3": 0.05, "grade_4": 0.05, "suppressed": False}])
    figure = figures.side_effect_figure(grades, {"pain": "<b>Pain</b> & <i>itch</i>"})
    assert figure is not None
    assert not [s for s in strings(figure) if "<" in s or ">" in s]
    assert any("&lt;b&gt;Pain&lt;/b&gt; &amp; &lt;i&gt;itch&lt;/i&gt;" in s for s in strings(figure))


def test_plain_text_keeps_numbers_and_our_template() -> None:
    data = {"template": {"layout": {"title": "<b>ours</b>"}}, "data": [{"x": [1, 2.5, None], "name": "a<b"}]}
    assert figures.plain_text(data) == {"template": {"layout": {"title": "<b>ours</b>"}},
                                        "data": [{"x": [1, 2.5, None], "name": "a&lt;b"}]}
