"""Charts of the Runs page: one run's rate, temperature, per-site heatmap, error and fits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.charts.common import (
    GUARD_MARKER,
    HEIGHT,
    MARKERS_UP_TO,
    TEMPERATURE_SCALE,
    _bits_colorbar,
    _empty,
    _finite,
    _guard_rows,
    _hover_granularity,
    _layout,
    _legend_below,
    _log_y,
    guard_hover,
    schedule_color,
    temperature_title,
)
from app.charts.scan import scan_heatmap
from app.colors import GUARD_COLOR, TARGET_COLOR
from app.summary import normalize_fits


def lr_figure(
    steps: pd.DataFrame, schedule: str | None = None, guard_events: pd.DataFrame | None = None
) -> go.Figure:
    """Learning rate against training step, log axis.

    ``guard_events`` (:meth:`Store.guard_events`) marks each cut of ActCoolLR's divergence
    guard with a triangle at the rate it cut (hover: why, and the new rate), and draws the
    lowered ceiling as a dashed step line from each cut to the last step.
    """
    data = _finite(steps, "lr")
    data = data[data["lr"] > 0]
    if data.empty:
        return _empty("Learning rate", "no steps recorded yet")
    fig = go.Figure(
        go.Scatter(
            x=data["step"],
            y=data["lr"],
            mode="lines",
            name="learning rate",
            line={"color": schedule_color(schedule), "width": 2},
            hovertemplate="step %{x}: λ = %{y:.3g}<extra></extra>",
        )
    )
    events = _guard_rows(guard_events)
    shown = [data["lr"].to_numpy(np.float64)]
    if len(events):
        events = events.sort_values("step", kind="stable")
        cut_at = events["step"].to_numpy(np.float64)
        ceiling = events["lr_after"].to_numpy(np.float64)
        end = max(float(data["step"].max()), cut_at[-1])
        fig.add_trace(
            go.Scatter(
                x=np.append(cut_at, end),
                y=np.append(ceiling, ceiling[-1]),
                mode="lines",
                name="ceiling after a cut",
                line={"color": GUARD_COLOR, "width": 1.5, "dash": "dash", "shape": "hv"},
                text=[f"from step {s:.0f}" for s in cut_at] + [f"at step {end:.0f}"],
                hovertemplate="ceiling %{y:.3g} %{text}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=cut_at,
                y=events["lr_before"],
                mode="markers",
                name="cut by the divergence guard",
                marker=GUARD_MARKER,
                text=[guard_hover(event) for event in events.to_dict("records")],
                hovertemplate="%{text}<extra></extra>",
            )
        )
        shown += [ceiling, events["lr_before"].to_numpy(np.float64)]
    _layout(fig, "Learning rate", "step", "learning rate", legend=bool(len(events)))
    _log_y(fig, np.concatenate(shown))
    return fig


def temperature_figure(
    steps: pd.DataFrame, schedule: str | None = None, granularity: str | None = None
) -> go.Figure:
    """Measured mean temperature (bits) against step, with the target where there is one.

    ``granularity`` (e.g. ``"unit:64"``) labels the temperature axis.
    """
    measured = _finite(steps, "mean_temperature")
    target = _finite(steps, "target_temperature")
    if measured.empty and target.empty:
        return _empty("Mean temperature", "no temperature measured yet")
    traces = [
        go.Scatter(
            x=measured["step"],
            y=measured["mean_temperature"],
            mode="lines+markers" if len(measured) <= MARKERS_UP_TO else "lines",
            name="measured",
            line={"color": schedule_color(schedule), "width": 2},
            marker={"size": 4},
            hovertemplate="step %{x}: %{y:.3f} bits<extra></extra>",
        )
    ]
    if not target.empty:
        traces.append(
            go.Scatter(
                x=target["step"],
                y=target["target_temperature"],
                mode="lines",
                name="target",
                line={"color": TARGET_COLOR, "width": 1.5, "dash": "dash"},
                hovertemplate="step %{x}: target %{y:.3f} bits<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    _layout(fig, "Mean temperature", "step", temperature_title(granularity))
    fig.update_yaxes(rangemode="tozero")
    return fig


def site_heatmap(
    names: Sequence[str], steps: np.ndarray, matrix: np.ndarray, granularity: str | None = None
) -> go.Figure:
    """Per-site temperature, site × step, first layers at the bottom.

    Args:
        names: site names in site order (S,).
        steps: measured steps (T,).
        matrix: temperatures in bits (S, T), NaN where a site was not measured.
        granularity: what one pattern is (e.g. ``"unit:64"``), named on the colour bar.
    """
    if len(names) == 0 or len(steps) == 0:
        return _empty("Temperature per site", "no per-site measurement yet")
    height = int(min(640, max(HEIGHT, 12 * len(names) + 120)))
    finite = np.asarray(matrix, dtype=np.float64)
    top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
    fig = go.Figure(
        go.Heatmap(  # Plotly ignores zmin unless zmax is set too
            z=matrix,
            x=steps,
            y=list(names),
            colorscale=TEMPERATURE_SCALE,
            zmin=0,
            zmax=max(1.0, top),
            colorbar=_bits_colorbar(granularity),
            hovertemplate="%{y}<br>step %{x}: %{z:.3f} bits"
            + _hover_granularity(granularity)
            + "<extra></extra>",
        )
    )
    _layout(fig, "Temperature per site", "step", "site (input at the bottom)", height, legend=False)
    fig.update_yaxes(type="category", tickfont={"size": 10 if len(names) < 30 else 8})
    return fig


def error_figure(evaluations: pd.DataFrame, schedule: str | None = None) -> go.Figure:
    """Validation error (%) per evaluation, training error dotted, final test error as a star."""
    val = _finite(evaluations, "val_error")
    train = _finite(evaluations, "train_error")
    test = _finite(evaluations, "test_error")
    if val.empty and train.empty and test.empty:
        return _empty("Error", "no evaluation yet (one after every epoch)")
    color = schedule_color(schedule)
    traces = []
    if not val.empty:
        traces.append(
            go.Scatter(
                x=val["step"],
                y=val["val_error"],
                mode="lines+markers",
                name="validation",
                line={"color": color, "width": 2},
                hovertemplate="step %{x}: %{y:.2f}% validation error<extra></extra>",
            )
        )
    if not train.empty:
        traces.append(
            go.Scatter(
                x=train["step"],
                y=train["train_error"],
                mode="lines",
                name="training",
                line={"color": color, "width": 1.5, "dash": "dot"},
                hovertemplate="step %{x}: %{y:.2f}% training error<extra></extra>",
            )
        )
    if not test.empty:
        traces.append(
            go.Scatter(
                x=test["step"],
                y=test["test_error"],
                mode="markers",
                name="test",
                marker={
                    "color": color,
                    "size": 13,
                    "symbol": "star",
                    "line": {"color": TARGET_COLOR, "width": 1},
                },
                hovertemplate="step %{x}: %{y:.2f}% test error<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    _layout(fig, "Error", "step", "error (%)")
    fig.update_yaxes(rangemode="tozero")
    return fig


def fit_figure(fits: pd.DataFrame, schedule: str | None = None) -> go.Figure:
    """μ, σ and the fit RMSE of the Gaussian model over training: the mean in the schedule's
    colour, sites as thin lines shaded by depth (early, middle, late thirds of the network).
    The RMSE panel also shows the mean's Weibull fit, dashed, where one was recorded."""
    fits = normalize_fits(fits)
    fitted = _finite(fits[fits["model"] == "gaussian"], "mu") if len(fits) else fits
    if len(fitted) == 0:
        return _empty("Pattern-model fits", "no fit yet (one per LR range scan)", 2 * HEIGHT)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(
            "Gaussian μ (ln of the critical rate)",
            "Gaussian σ (width, ln units)",
            "fit RMSE (probability)",
        ),
    )
    sites = [s for s in pd.unique(fitted["site"]) if s != "mean"]
    bands = _depth_bands(sites)
    traces: list[go.BaseTraceType] = []
    rows: list[int] = []
    for row, column in enumerate(("mu", "sigma", "rmse"), start=1):
        for label, members, color in bands:
            x, y, text = _gapped(fitted, members, column)
            traces.append(
                go.Scatter(
                    x=x,
                    y=y,
                    text=text,
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    line={"color": color, "width": 1},
                    hovertemplate="%{text}<br>step %{x}: %{y:.3g}<extra></extra>",
                )
            )
            rows.append(row)
        mean = fitted[fitted["site"] == "mean"]
        traces.append(
            go.Scatter(
                x=mean["step"],
                y=mean[column],
                mode="lines+markers",
                name="mean temperature fit",
                legendgroup="mean",
                showlegend=row == 1,
                line={"color": schedule_color(schedule), "width": 3},
                marker={"size": 5},
                hovertemplate="mean<br>step %{x}: %{y:.3g}<extra></extra>",
            )
        )
        rows.append(row)
    weibull = fits[(fits["site"] == "mean") & (fits["model"] == "weibull")]
    weibull = _finite(weibull, "rmse") if len(weibull) else weibull
    if len(weibull):
        traces.append(
            go.Scatter(
                x=weibull["step"],
                y=weibull["rmse"],
                mode="lines+markers",
                name="mean, Weibull fit (RMSE)",
                legendgroup="weibull",
                line={"color": schedule_color(schedule), "width": 2, "dash": "dash"},
                marker={"size": 5, "symbol": "circle-open"},
                hovertemplate="mean, Weibull<br>step %{x}: RMSE %{y:.3g}<extra></extra>",
            )
        )
        rows.append(3)
    fig.add_traces(traces, rows=rows, cols=[1] * len(rows))
    _layout(fig, "Pattern-model fits", "", "", height=2 * HEIGHT)
    fig.update_xaxes(title_text="step", row=3, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_yaxes(rangemode="tozero", row=3, col=1)
    _legend_below(fig)
    fig.update_annotations(font_size=12)
    return fig


def _depth_bands(sites: list[str]) -> list[tuple[str, list[str], str]]:
    """Split sites (in network order) into up to three bands, light (early) to dark (late)."""
    if not sites:
        return []
    colors = ("#C4C4C4", "#8F8F8F", "#4A4A4A")  # greys, so the mean's schedule colour stands out
    if len(sites) < 3:
        return [(f"site {s}", [s], colors[i + 1]) for i, s in enumerate(sites)]
    parts = np.array_split(np.arange(len(sites)), 3)
    labels = ("early sites", "middle sites", "late sites")
    return [
        (labels[i], [sites[j] for j in part], colors[i])
        for i, part in enumerate(parts)
        if len(part)
    ]


def _gapped(
    frame: pd.DataFrame, members: list[str], column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, hover text of several sites as one line trace, separated by NaN gaps.

    NumPy arrays (not lists with None) keep Plotly's validation fast for many sites.
    """
    rows = frame[frame["site"].isin(members)]
    order = np.argsort(pd.Categorical(rows["site"], categories=members).codes, kind="stable")
    rows = rows.iloc[order]
    sites = rows["site"].to_numpy()
    starts = np.flatnonzero(np.r_[False, sites[1:] != sites[:-1]])  # first row of each later site
    x = np.insert(rows["step"].to_numpy(np.float64), starts, np.nan)
    y = np.insert(rows[column].to_numpy(np.float64), starts, np.nan)
    text = np.insert(sites.astype(object), starts, "")
    return x, y, text


def run_figures(
    steps: pd.DataFrame,
    site_matrix: tuple[Sequence[str], np.ndarray, np.ndarray],
    evaluations: pd.DataFrame,
    scans: pd.DataFrame,
    fits: pd.DataFrame,
    schedule: str | None = None,
    total_steps: int | None = None,
    granularity: str | None = None,
    guard_events: pd.DataFrame | None = None,
) -> dict[str, go.Figure]:
    """Every figure of the Runs page for one run, from (downsampled) query results;
    ``granularity`` labels every temperature, ``guard_events`` are marked on the rate."""
    names, matrix_steps, matrix = site_matrix
    return {
        "lr": lr_figure(steps, schedule, guard_events),
        "temperature": temperature_figure(steps, schedule, granularity),
        "sites": site_heatmap(names, matrix_steps, matrix, granularity),
        "error": error_figure(evaluations, schedule),
        "scans": scan_heatmap(scans, steps, fits, total_steps, granularity=granularity),
        "fits": fit_figure(fits, schedule),
    }
