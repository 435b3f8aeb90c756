"""Plotly figures from the dashboard tables: tables in, JSON-ready figure dicts out. Their labels go
through Flask-Babel's gettext (the reader's language in a request; English without one).

Figures carry summaries only (quartiles, means, counts), never one point per patient, are
built from numpy arrays and use a slim template (the default "plotly" template adds ~6.5 KB to
every figure). Suppressed rows (small groups) are left out of figures; tables say why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from flask_babel import gettext as _

#: Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
GRADE_COLOURS = ("#F0E442", "#E69F00", "#D55E00", "#7a0019")
LEVEL_COLOURS = {1: "#E69F00", 2: "#D55E00", 3: "#7a0019"}
SLIM_TEMPLATE = go.layout.Template(
    layout={
        "font": {
            "family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "size": 13,
            "color": "#1b1b1f",
        },
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(COLOURS),
        "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
        "xaxis": {"gridcolor": "#e5e7eb", "linecolor": "#4a4f57", "zeroline": False, "automargin": True},
        "yaxis": {
            "gridcolor": "#e5e7eb",
            "linecolor": "#4a4f57",
            "zerolinecolor": "#9aa0a6",
            "automargin": True,
        },
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18},
        "hoverlabel": {"font": {"size": 13}},
    }
)


def to_dict(figure: go.Figure) -> dict[str, Any]:
    """A figure as plain JSON data (numpy arrays become plotly.js typed-array blocks), every text in
    it shown as written (see `plain_text`)."""
    return plain_text(json.loads(pio.to_json(figure, validate=False)))


# Plotly reads titles, trace names, category and tick labels and hover text as a small HTML
# dialect (`<a href>`, `<b>`, `<br>`, `<span style>`): a timepoint label or an instrument name from
# a study's protocol could carry a link or styling into a chart. Its entities are decoded, so
# escaping `& < >` shows the text exactly as written. Only the layout template (ours) is left as is.
_MARKUP = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_OWN_MARKUP = frozenset({"template"})


def plain_text(node: Any) -> Any:
    """A copy of a figure's JSON data whose strings Plotly shows literally (`& < >` escaped)."""
    if isinstance(node, str):
        return node.translate(_MARKUP)
    if isinstance(node, list):
        return [plain_text(value) for value in node]
    if isinstance(node, dict):
        return {key: value if key in _OWN_MARKUP else plain_text(value) for key, value in node.items()}
    return node


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"template": SLIM_TEMPLATE, "title": {"text": title, "x": 0, "font": {"size": 15}}, **extra}


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    return table[~table["suppressed"].astype(bool) & (table["n"] > 0)] if not table.empty else table


def _across(y0: float, y1: float | None = None, axis: str = "", **style: Any) -> dict[str, Any]:
    """A shape across the plot's whole width: a line at y0, or a band from y0 to y1."""
    return {
        "type": "line" if y1 is None else "rect",
        "xref": f"x{axis} domain",
        "x0": 0,
        "x1": 1,
        "yref": f"y{axis}",
        "y0": y0,
        "y1": y0 if y1 is None else y1,
        **style,
    }


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=float)


def completion_figure(table: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, Any] | None:
    """Stacked horizontal bars per timepoint: answered on time, late, missed, still open."""
    shown = (
        table[(table[["on_time", "late", "missed", "pending"]].sum(axis=1) >= 5)]
        if not table.empty
        else table
    )
    if shown.empty:
        return None
    y = np.array([labels.get(tp, tp) for tp in shown["timepoint"]])
    parts = (
        ("on_time", _("Answered on time"), "#009E73"),
        ("late", _("Answered late"), "#56B4E9"),
        ("missed", _("Missed"), "#D55E00"),
        ("pending", _("Open now"), "#bdbdbd"),
    )
    data = [
        go.Bar(y=y, x=shown[key].to_numpy(dtype=float), name=name, orientation="h", marker={"color": colour})
        for key, name, colour in parts
    ]
    return to_dict(
        go.Figure(
            data=data,
            layout=_layout(
                _("Questionnaire windows by timepoint"),
                barmode="stack",
                yaxis={"autorange": "reversed", "type": "category"},
                xaxis={"title": {"text": _("Patients")}},
                height=max(260, 34 * len(shown) + 120),
            ),
        )
    )


def outcome_figure(
    distribution: pd.DataFrame,
    change: pd.DataFrame,
    title: str,
    unit: str,
    bands: Sequence[tuple[str, float]] = (),
) -> dict[str, Any] | None:
    """Left: box per timepoint (quartiles, Tukey whiskers) with mean and 95% CI.

    Right: mean change from baseline with 95% CI per follow-up. `bands` draws dotted lines at
    band limits (conventions, labelled as such by the page).
    """
    dist, diff = _shown(distribution), _shown(change)
    if dist.empty and diff.empty:
        return None
    data: list[Any] = []
    if not dist.empty:
        x = dist["timepoint"].to_numpy()
        data.append(
            go.Box(
                x=x,
                q1=_floats(dist["q1"]),
                median=_floats(dist["median"]),
                q3=_floats(dist["q3"]),
                lowerfence=_floats(dist["lower_whisker"]),
                upperfence=_floats(dist["upper_whisker"]),
                name=_("Quartiles"),
                marker={"color": COLOURS[0]},
                boxpoints=False,
                hoverinfo="y",
            )
        )
        mean = _floats(dist["mean"])
        data.append(
            go.Scatter(
                x=x,
                y=mean,
                mode="markers",
                name=_("Mean (95% CI)"),
                marker={"color": COLOURS[1], "symbol": "diamond", "size": 9},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": _floats(dist["ci_high"]) - mean,
                    "arrayminus": mean - _floats(dist["ci_low"]),
                },
            )
        )
    if not diff.empty:
        mean = _floats(diff["mean"])
        data.append(
            go.Scatter(
                x=diff["timepoint"].to_numpy(),
                y=mean,
                mode="markers+lines",
                name=_("Change from baseline (95% CI)"),
                xaxis="x2",
                yaxis="y2",
                marker={"color": COLOURS[2], "size": 9},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": _floats(diff["high"]) - mean,
                    "arrayminus": mean - _floats(diff["low"]),
                },
            )
        )
    shapes = [_across(limit, line={"dash": "dot", "color": "#6b7280", "width": 1}) for _name, limit in bands]
    shapes.append(_across(0, axis="2", line={"color": "#6b7280", "width": 1}))
    return to_dict(
        go.Figure(
            data=data,
            layout=_layout(
                title,
                height=360,
                shapes=shapes,
                xaxis={"domain": [0, 0.56], "type": "category"},
                yaxis={"title": {"text": unit}},
                xaxis2={"domain": [0.68, 1], "type": "category", "anchor": "y2"},
                yaxis2={"anchor": "x2", "title": {"text": _("Change (%(unit)s)", unit=unit)}},
            ),
        )
    )


def responder_figure(table: pd.DataFrame, criteria: Mapping[str, str]) -> dict[str, Any] | None:
    """Grouped bars: share of responders per criterion and timepoint, Wilson 95% CI."""
    shown = _shown(table)
    if shown.empty:
        return None
    data = []
    for index, (criterion, label) in enumerate(criteria.items()):
        rows = shown[shown["criterion"] == criterion]
        if rows.empty:
            continue
        p = _floats(rows["p"]) * 100
        data.append(
            go.Bar(
                x=rows["timepoint"].to_numpy(),
                y=p,
                name=label,
                marker={"color": COLOURS[index % len(COLOURS)]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": _floats(rows["high"]) * 100 - p,
                    "arrayminus": p - _floats(rows["low"]) * 100,
                },
            )
        )
    return to_dict(
        go.Figure(
            data=data,
            layout=_layout(
                _("Responders (95% Wilson CI)"),
                barmode="group",
                height=380,
                yaxis={"title": {"text": "% of patients with data"}, "range": [0, 100]},
                xaxis={"type": "category"},
            ),
        )
    )


def side_effect_figure(table: pd.DataFrame, symptoms: Mapping[str, str]) -> dict[str, Any] | None:
    """Stacked bars: share of checklists with each grade (1-4) per symptom and session."""
    shown = _shown(table)
    if shown.empty:
        return None
    x = [
        np.array([symptoms.get(s, s) for s in shown["symptom"]]),
        np.array([f"S{int(n)}" for n in shown["session_number"]]),
    ]
    names = (_("Severity 1 mild"), _("Severity 2 moderate"), _("Severity 3 severe"),
             _("Severity 4 very severe"))
    data = [
        go.Bar(
            x=x,
            y=_floats(shown[f"grade_{g}"]) * 100,
            name=names[g - 1],
            marker={"color": GRADE_COLOURS[g - 1]},
        )
        for g in range(1, 5)
    ]
    return to_dict(
        go.Figure(
            data=data,
            layout=_layout(
                _("Local reactions by session, percent of checklists"),
                barmode="stack",
                height=400,
                yaxis={"title": {"text": "% of checklists"}},
            ),
        )
    )


def alert_figure(table: pd.DataFrame) -> dict[str, Any] | None:
    """Stacked bars: alerts per month by level."""
    shown = _shown(table)
    if shown.empty:
        return None
    names = {1: _("Level 1 next visit"), 2: _("Level 2 same-day review"), 3: _("Level 3 emergency")}
    data = [
        go.Bar(
            x=shown["month"].to_numpy(),
            y=_floats(shown[f"level_{level}"]),
            name=names[level],
            marker={"color": LEVEL_COLOURS[level]},
        )
        for level in (1, 2, 3)
    ]
    return to_dict(
        go.Figure(
            data=data,
            layout=_layout(
                _("Safety alerts per month"),
                barmode="stack",
                height=340,
                xaxis={"type": "category"},
                yaxis={"title": {"text": _("Alerts")}},
            ),
        )
    )


def resolution_figure(table: pd.DataFrame) -> dict[str, Any] | None:
    """Box per alert level: hours from the alert to its resolution (quartiles)."""
    shown = _shown(table)
    shown = shown[shown["resolved"] > 0] if not shown.empty else shown
    if shown.empty:
        return None
    figure = go.Figure(
        go.Box(
            x=np.array([_("Level %(level)s", level=int(level)) for level in shown["level"]]),
            q1=_floats(shown["q1_hours"]),
            median=_floats(shown["resolution_median_hours"]),
            q3=_floats(shown["q3_hours"]),
            lowerfence=_floats(shown["lower_whisker"]),
            upperfence=_floats(shown["upper_whisker"]),
            boxpoints=False,
            name=_("Hours to resolution"),
            marker={"color": COLOURS[0]},
        ),
        layout=_layout(
            _("Time to resolution"),
            height=320,
            xaxis={"type": "category"},
            yaxis={"title": {"text": _("Hours")}, "rangemode": "tozero"},
        ),
    )
    return to_dict(figure)


def trajectory_figure(
    points: pd.DataFrame,
    title: str,
    unit: str,
    bands: Sequence[tuple[str, float, float]],
    meaningful: float | None,
    y_range: tuple[float, float] | None,
) -> dict[str, Any] | None:
    """One patient's score over timepoints, band areas shaded, baseline +/- meaningful change marked."""
    points = points.dropna(subset=["value"])
    if points.empty:
        return None
    shapes: list[dict[str, Any]] = []
    shades = ("#fdecea", "#fff6e0", "#eaf5ec", "#e8f1fb")
    for index, (_name, low, high) in enumerate(bands):
        shapes.append(
            _across(low, high, fillcolor=shades[index % len(shades)], line={"width": 0}, layer="below")
        )
    if meaningful is not None:
        base = float(points["value"].iloc[0])
        for limit in (base - meaningful, base + meaningful):
            shapes.append(_across(limit, line={"dash": "dash", "color": "#4a4f57", "width": 1}))
    figure = go.Figure(
        go.Scatter(
            x=points["timepoint"].to_numpy(),
            y=_floats(points["value"]),
            mode="lines+markers",
            name=title,
            marker={"size": 10, "color": COLOURS[0]},
        ),
        layout=_layout(
            title,
            height=280,
            shapes=shapes,
            showlegend=False,
            xaxis={"type": "category"},
            yaxis={"title": {"text": unit}, **({"range": list(y_range)} if y_range else {})},
        ),
    )
    return to_dict(figure)


def grade_history_figure(grades: pd.DataFrame, symptoms: Mapping[str, str]) -> dict[str, Any] | None:
    """One patient's side-effect grade per symptom and session (grouped bars, 0-4)."""
    grades = grades.dropna(subset=["grade"])
    if grades.empty:
        return None
    data = []
    for index, (symptom, label) in enumerate(symptoms.items()):
        rows = grades[grades["symptom"] == symptom]
        if rows.empty:
            continue
        data.append(
            go.Bar(
                x=rows["timepoint"].to_numpy(),
                y=_floats(rows["grade"]),
                name=label,
                marker={"color": COLOURS[index % len(COLOURS)]},
            )
        )
    return to_dict(
        go.Figure(
            data=data,
            layout=_layout(
                _("Side-effect severity (patient-rated) per session"),
                barmode="group",
                height=300,
                xaxis={"type": "category"},
                yaxis={"title": {"text": _("Severity, patient-rated (0 none - 4 very severe)")},
                       "range": [0, 4.2], "dtick": 1},
            ),
        )
    )
