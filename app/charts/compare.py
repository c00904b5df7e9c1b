"""Charts of the Compare page: several runs' series on one axis, and their final errors."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.common import (
    DASHES,
    GUARD_MARKER,
    MARKERS_UP_TO,
    METRIC_LABELS,
    _empty,
    _finite,
    _guard_rows,
    _layout,
    _legend_below,
    _log_y,
    guard_hover,
    schedule_color,
    schedule_shades,
    temperature_title,
)


def overlay_figure(
    aligned: pd.DataFrame,
    metric: str,
    by: str,
    labels: Mapping[str, str],
    schedules: Mapping[str, str | None],
    granularity: str | None = None,
    guard_events: pd.DataFrame | None = None,
) -> go.Figure:
    """One metric of several runs on a common x axis (:meth:`Store.aligned` output).

    Runs of the same schedule share its colour and differ in dash; learning rates use a
    log axis; ``by="fraction"`` shows the x axis as a percentage of training. A temperature
    metric names ``granularity`` (shared by all its runs) in its title and axis. On learning
    rates, ``guard_events`` (:meth:`Store.aligned_guard_events` with the same ``by``) marks
    each cut of a run's divergence guard at (x, the rate it cut), the run named in the hover.
    """
    label = METRIC_LABELS.get(metric, metric)
    if metric.endswith("temperature") and granularity:
        label = temperature_title(granularity, label.removesuffix(" (bits)"))
    title = label[:1].upper() + label[1:]
    data = _finite(aligned, "value") if len(aligned) else aligned
    if metric == "lr" and len(data):
        data = data[data["value"] > 0]
    if len(data) == 0:
        return _empty(title, "nothing recorded yet for the selected runs")
    seen: dict[str | None, int] = {}
    traces = []
    few = data.groupby("run_id")["x"].size().max() <= MARKERS_UP_TO // 3
    run_ids = list(pd.unique(data["run_id"]))
    family = {  # the runs of each schedule, in order: one shade each
        schedule: schedule_shades(schedule, sum(schedules.get(r) == schedule for r in run_ids))
        for schedule in {schedules.get(r) for r in run_ids}
    }
    for run_id, rows in data.groupby("run_id", sort=False):
        schedule = schedules.get(run_id)
        nth = seen.get(schedule, 0)
        seen[schedule] = nth + 1
        traces.append(
            go.Scatter(
                x=rows["x"],
                y=rows["value"],
                mode="lines+markers" if few else "lines",
                name=labels.get(run_id, run_id),
                line={
                    "color": family[schedule][nth],
                    "width": 2,
                    "dash": DASHES[nth % len(DASHES)],
                },
                marker={"size": 5},
                hovertemplate=f"{labels.get(run_id, run_id)}<br>%{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    events = _guard_rows(guard_events) if metric == "lr" else pd.DataFrame()
    if len(events):
        events = events[events["run_id"].isin(set(data["run_id"]))]
    if len(events):
        traces.append(
            go.Scatter(
                x=events["x"],
                y=events["lr_before"],
                mode="markers",
                name="cut by the divergence guard",
                marker=GUARD_MARKER,
                text=[
                    f"{labels.get(event['run_id'], event['run_id'])}<br>{guard_hover(event)}"
                    for event in events.to_dict("records")
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    _layout(fig, title, "fraction of training" if by == "fraction" else "step", label)
    _legend_below(fig, len(traces))
    if by == "fraction":
        fig.update_xaxes(tickformat=".0%")
    if metric == "lr":
        cut = events["lr_before"] if len(events) else []
        _log_y(fig, np.concatenate([data["value"].to_numpy(np.float64), cut]))
    elif metric.endswith("error") or metric.endswith("temperature"):
        fig.update_yaxes(rangemode="tozero")
    return fig


def result_bars(table: pd.DataFrame) -> go.Figure:
    """Final test error (%) per run as horizontal bars in schedule colours, best at the top.

    Args:
        table: :func:`app.summary.compare_table` output (run, id, schedule, final test error).
    """
    column = "final test error (%)"
    data = _finite(table, column) if len(table) else table
    if len(data) == 0:
        return _empty("Final test error", "no test error yet (measured when a run finishes)")
    data = data.sort_values(column, ascending=False)  # plotly draws the first bar at the bottom
    fig = go.Figure(
        go.Bar(
            x=data[column],
            y=data["run"] + " · " + data["id"],
            orientation="h",
            marker={"color": [schedule_color(s) for s in data["schedule"]]},
            text=[f"{v:.2f}%" for v in data[column]],
            textposition="auto",
            hovertemplate="%{y}: %{x:.2f}% test error<extra></extra>",
        )
    )
    _layout(
        fig,
        "Final test error",
        "test error (%)",
        "",
        height=max(200, 60 + 40 * len(data)),
        legend=False,
    )
    fig.update_xaxes(rangemode="tozero")
    return fig
