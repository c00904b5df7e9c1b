"""Charts of the Design page: the target curve being drawn and the learning rate it implies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.common import _empty, _finite, _layout, _log_y
from app.colors import SCHEDULE_COLORS, TARGET_COLOR


def design_figure(points: pd.DataFrame, curve: pd.DataFrame | None, y_max: float) -> go.Figure:
    """The target curve being designed; its drag mode is the lasso, for drawing strokes.

    Args:
        points: control points, columns fraction, temperature.
        curve: the curve as it will be interpolated (columns fraction, temperature), or
            None when the points are invalid (only the points are drawn).
        y_max: top of the temperature axis (fixed, so strokes map to stable coordinates).
    """
    fig = go.Figure()
    if curve is not None:
        fig.add_trace(
            go.Scatter(
                x=curve["fraction"],
                y=curve["temperature"],
                mode="lines",
                name="target C(f)",
                line={"color": SCHEDULE_COLORS["actcool"], "width": 3},
                hovertemplate="%{x:.1%} of training: %{y:.3f} bits<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=points["fraction"],
            y=points["temperature"],
            mode="markers",
            name="control points",
            marker={"color": "#FFFFFF", "size": 8, "line": {"color": TARGET_COLOR, "width": 1.5}},
            hovertemplate="point: %{x:.3f}, %{y:.3f} bits<extra></extra>",
        )
    )
    _layout(fig, "Target temperature", "fraction of training", "temperature (bits)", height=380)
    fig.update_layout(dragmode="lasso", newselection={"line": {"color": "#0072B2", "width": 2}})
    fig.update_xaxes(range=[-0.02, 1.02], tickformat=".0%", fixedrange=True)
    fig.update_yaxes(range=[0, y_max], fixedrange=True)
    return fig


def implied_lr_figure(
    implied: pd.DataFrame,
    mu: float | None,
    source: str,
    *,
    law: str = "gaussian",
    lambda0: float | None = None,
    lr_max: float | None = None,
    measured: pd.DataFrame | None = None,
    measured_name: str = "measured rate",
    ratio: float | None = None,
    ratio_window: tuple[float, float] = (0.1, 0.9),
) -> go.Figure:
    """The learning-rate schedule a target curve implies for a fitted response model (log
    axis), optionally with a finished run's measured rate on the same axes.

    Args:
        implied: columns fraction, lr (see :func:`app.preview.implied_rates`).
        mu: ln of the critical rate; drawn as a dotted line at ``e^μ`` (T = 1 bit) when given.
        source: where the model's parameters come from, shown in the subtitle.
        law: ``"gaussian"`` (μ and σ) or ``"weibull"`` (λ0 and k), for the subtitle.
        lambda0: the Weibull scale, drawn as a dotted line (T = 1/ln 2 ≈ 1.44 bits) when given.
        lr_max: the run's highest rate (the preview is clamped there), a dashed line.
        measured: a run's recorded rate (columns fraction, lr), drawn as a second line.
        measured_name: its legend entry.
        ratio: median of measured / preview over ``ratio_window``, written on the chart.
    """
    data = _finite(implied, "lr")
    data = data[data["lr"] > 0]
    if data.empty:
        return _empty("Implied learning rate", "no finite learning rate for this curve")
    fig = go.Figure(
        go.Scatter(
            x=data["fraction"],
            y=data["lr"],
            mode="lines",
            name="implied rate λ(f)",
            line={"color": SCHEDULE_COLORS["actcool"], "width": 3},
            hovertemplate="%{x:.1%} of training: λ = %{y:.3g}<extra></extra>",
        )
    )
    shown = [data["lr"].to_numpy(np.float64)]
    references = []
    if mu is not None and law == "gaussian":
        references.append((math.exp(mu), "critical rate e<sup>μ</sup> (1 bit)", "e^μ"))
    if lambda0 is not None and law == "weibull":
        references.append((lambda0, "Weibull scale λ<sub>0</sub> (1.44 bits)", "λ0"))
    for value, name, hover in references:
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[value, value],
                mode="lines",
                name=name,
                line={"color": TARGET_COLOR, "width": 1.5, "dash": "dot"},
                hovertemplate=f"{hover} = %{{y:.3g}}<extra></extra>",
            )
        )
        shown.append(np.array([value]))
    if lr_max is not None:
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[lr_max, lr_max],
                mode="lines",
                name="ceiling (learning rate)",
                line={"color": "#7F7F7F", "width": 1.5, "dash": "dash"},
                hovertemplate="ceiling = %{y:.3g}<extra></extra>",
            )
        )
        shown.append(np.array([lr_max]))
    if measured is not None and len(measured):
        run_data = _finite(measured, "lr")
        run_data = run_data[run_data["lr"] > 0]
        fig.add_trace(
            go.Scatter(
                x=run_data["fraction"],
                y=run_data["lr"],
                mode="lines",
                name=measured_name,
                line={"color": SCHEDULE_COLORS["onecycle"], "width": 1.5},
                hovertemplate="%{x:.1%} of training: measured λ = %{y:.3g}<extra></extra>",
            )
        )
        shown.append(run_data["lr"].to_numpy(np.float64))
        low, high = ratio_window
        text = (
            f"measured / preview: median ×{ratio:.2g} over {low:.0%}–{high:.0%} of training"
            if ratio is not None
            else f"measured / preview: no measurement in {low:.0%}–{high:.0%} of training"
        )
        fig.add_annotation(
            text=text,
            x=0.01,
            y=0.02,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            font={"size": 12, "color": "#333333"},
            bgcolor="rgba(255,255,255,0.8)",
        )
    parameters = "λ0 and k" if law == "weibull" else "μ and σ"
    _layout(fig, "Implied learning rate", "fraction of training", "learning rate", height=380)
    fig.update_layout(
        title={"subtitle": {"text": f"{parameters} from {source}"}},
        legend={
            "y": -0.28,
            "yanchor": "top",
            "x": 0.0,
            "xanchor": "left",
        },  # below: the subtitle is long
        margin={"t": 70, "b": 90},
    )
    fig.update_xaxes(range=[-0.02, 1.02], tickformat=".0%")
    _log_y(fig, np.concatenate(shown))
    return fig
