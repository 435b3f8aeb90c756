"""Figures are slim JSON summaries: quartiles and counts, no raw points, suppressed rows left out."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd

from reports.dashboards import figures


def values(array):
    """Decode a plotly.js typed-array block (or pass a plain list through)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return list(array)


def distribution(rows):
    columns = [
        "timepoint",
        "n",
        "q1",
        "median",
        "q3",
        "lower_whisker",
        "upper_whisker",
        "mean",
        "ci_low",
        "ci_high",
        "suppressed",
    ]
    return pd.DataFrame(rows, columns=columns)


def change(rows):
    return pd.DataFrame(rows, columns=["timepoint", "n", "mean", "low", "high", "suppressed"])


def test_outcome_figure_sends_quartiles_and_means_not_points():
    dist = distribution(
        [
            ("T0", 50, 30, 45, 60, 10, 90, 46, 42, 50, False),
            ("EOT", 3, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, True),
        ]
    )
    diff = change([("EOT", 40, 8.0, 5.0, 11.0, False)])
    figure = figures.outcome_figure(dist, diff, "WHO-5", "percent", [("likely_depression", 28.0)])
    box, mean, delta = figure["data"]
    assert box["type"] == "box" and values(box["q1"]) == [30.0] and values(box["median"]) == [45.0]
    assert list(box["x"]) == ["T0"]  # the suppressed EOT group is not drawn
    assert values(mean["error_y"]["array"]) == [4.0] and values(mean["error_y"]["arrayminus"]) == [4.0]
    assert delta["yaxis"] == "y2" and values(delta["y"]) == [8.0]
    assert any(shape.get("y0") == 28.0 for shape in figure["layout"]["shapes"])


def test_figures_use_the_slim_template_and_stay_small():
    dist = distribution(
        [(tp, 100, 30, 45, 60, 10, 90, 46, 42, 50, False) for tp in ("T0", "W8", "EOT", "M6")]
    )
    figure = figures.outcome_figure(dist, change([]), "RSES", "total")
    template = figure["layout"]["template"]
    assert "data" not in template  # no per-trace defaults of the 6.5 KB default template
    assert len(json.dumps(template)) < 1000
    assert len(json.dumps(figure)) < 4000


def test_nothing_to_draw_gives_no_figure():
    empty = distribution([])
    assert figures.outcome_figure(empty, change([]), "x", "y") is None
    only_small = distribution([("T0", 2, *[np.nan] * 8, True)])
    assert figures.outcome_figure(only_small, change([]), "x", "y") is None
    assert (
        figures.responder_figure(
            pd.DataFrame(columns=["criterion", "timepoint", "n", "p", "low", "high", "suppressed"]), {}
        )
        is None
    )
    assert figures.alert_figure(pd.DataFrame(columns=["month", "n", "suppressed"])) is None


def test_side_effect_figure_stacks_grades_per_symptom_and_session():
    table = pd.DataFrame(
        [
            {
                "symptom": "pain",
                "session_number": 1,
                "n": 20,
                "grade_0": 0.5,
                "grade_1": 0.3,
                "grade_2": 0.1,
                "grade_3": 0.05,
                "grade_4": 0.05,
                "suppressed": False,
            },
            {
                "symptom": "pain",
                "session_number": 2,
                "n": 3,
                "grade_0": np.nan,
                "grade_1": np.nan,
                "grade_2": np.nan,
                "grade_3": np.nan,
                "grade_4": np.nan,
                "suppressed": True,
            },
        ]
    )
    figure = figures.side_effect_figure(table, {"pain": "Pain"})
    assert figure["layout"]["barmode"] == "stack"
    assert [trace["name"] for trace in figure["data"]] == [
        "Severity 1 mild",
        "Severity 2 moderate",
        "Severity 3 severe",
        "Severity 4 very severe",
    ]
    first = figure["data"][0]
    assert [list(level) for level in first["x"]] == [["Pain"], ["S1"]]
    assert values(first["y"]) == [30.0]


def test_completion_figure_leaves_out_timepoints_under_five_patients():
    table = pd.DataFrame(
        {"timepoint": ["T0", "S6"], "on_time": [40, 1], "late": [5, 0], "missed": [5, 1], "pending": [0, 0]}
    )
    figure = figures.completion_figure(table, {"T0": "Before treatment"})
    assert all(list(trace["y"]) == ["Before treatment"] for trace in figure["data"])
    assert values(figure["data"][0]["x"]) == [40.0]


def test_responder_and_alert_figures():
    responders = pd.DataFrame(
        {
            "criterion": ["who5", "pgic"],
            "timepoint": ["EOT", "EOT"],
            "n": [40, 30],
            "p": [0.5, 0.25],
            "low": [0.35, 0.12],
            "high": [0.65, 0.43],
            "suppressed": [False, False],
        }
    )
    figure = figures.responder_figure(responders, {"who5": "WHO-5", "pgic": "PGIC"})
    assert [trace["name"] for trace in figure["data"]] == ["WHO-5", "PGIC"]
    assert values(figure["data"][0]["y"]) == [50.0]
    months = pd.DataFrame(
        {
            "month": ["2026-01"],
            "level_1": [3],
            "level_2": [2],
            "level_3": [0],
            "n": [5],
            "suppressed": [False],
        }
    )
    alerts = figures.alert_figure(months)
    assert [values(trace["y"]) for trace in alerts["data"]] == [[3.0], [2.0], [0.0]]


def test_trajectory_shades_bands_and_marks_meaningful_change():
    points = pd.DataFrame({"timepoint": ["T0", "EOT"], "value": [40.0, 56.0]})
    figure = figures.trajectory_figure(
        points, "WHO-5", "percent", [("low", 0, 28), ("mid", 28, 50)], 10.0, (0, 100)
    )
    rects = [s for s in figure["layout"]["shapes"] if s["type"] == "rect"]
    lines = sorted(s["y0"] for s in figure["layout"]["shapes"] if s["type"] == "line")
    assert len(rects) == 2 and lines == [30.0, 50.0]
    assert figures.trajectory_figure(points.iloc[0:0], "x", "y", [], None, None) is None
