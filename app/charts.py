"""Chart builders: pure functions from query results (DataFrames, arrays) to Plotly figures.

Every page draws through these, so a schedule has the same colour everywhere, learning rates
are on log axes, temperatures are in bits and errors in percent. Nothing here touches
Streamlit or the store; the tests check the traces, axes and data of each figure.

Conventions (docs/algorithm.md §2-§3): temperature T in bits; ``e^μ`` is the critical
learning rate at which half of the patterns change (T = 1 bit); σ is the width of the
transition in ln-units.
A temperature depends on what counts as one pattern (its granularity: ``unit:64``,
``position``, ``sample``; see :mod:`actcool.granularity`), so every temperature axis and
colour bar names the granularity it was measured at when the caller passes it.
"""

from __future__ import annotations

import colorsys
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from actcool.pattern_model import change_probability
from actcool.weibull_model import weibull_probability
from app.colors import GUARD_COLOR, OTHER_COLOR, SCHEDULE_COLORS, TARGET_COLOR
from app.summary import FIT_MODELS, MODEL_LABELS, model_fit, normalize_fits

__all__ = [
    "SCHEDULE_COLORS",
    "TEMPERATURE_SCALE",
    "design_figure",
    "error_figure",
    "fit_figure",
    "guard_hover",
    "implied_lr_figure",
    "lr_figure",
    "overlay_figure",
    "result_bars",
    "run_figures",
    "scan_fit_figure",
    "scan_heatmap",
    "log_ticks",
    "schedule_color",
    "schedule_shades",
    "site_heatmap",
    "temperature_figure",
    "temperature_title",
]

# The two response models of an LR range scan, on every figure that draws them.
MODEL_COLORS = {"gaussian": "#0072B2", "weibull": "#D55E00"}
MODEL_DASHES = {"gaussian": "solid", "weibull": "dash"}
# Heatmaps: Plotly's Inferno (0 bits black, hot yellow), spelled out because Streamlit's
# front end rewrites the colours #000001-#000040 (theme placeholders), Inferno's black among them.
TEMPERATURE_SCALE: list[list] = [
    [i / 9, color]
    for i, color in enumerate(
        (
            "#03020c",
            "#1b0c41",
            "#4a0c6b",
            "#781c6d",
            "#a52c60",
            "#cf4446",
            "#ed6925",
            "#fb9b06",
            "#f7d13d",
            "#fcffa4",
        )
    )
]
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
LEGEND_DARK = "#3A3A3A"  # the LR range heatmap's legend: its marks are white and cyan
# Why ActCoolLR's divergence guard cut the rate (GuardEvent.reason), in words.
GUARD_REASONS = {"loss_rise": "the loss rose", "temperature_collapse": "the temperature collapsed"}
GUARD_MARKER = {
    "symbol": "triangle-down",
    "size": 11,
    "color": GUARD_COLOR,
    "line": {"color": "white", "width": 1},  # apart from the rate line it sits on
}
HEIGHT = 320
MARKERS_UP_TO = 200  # points of a series drawn with markers; longer ones are plain lines
# How much of a long run a chart draws; app.data downsamples its queries to these.
DISPLAY_POINTS = 2000  # rows of a step series (min/max-preserving downsampling)
DISPLAY_STEPS = 400  # measured steps in the per-site heatmap
METRIC_LABELS: dict[str, str] = {
    "lr": "learning rate",
    "mean_temperature": "mean temperature (bits)",
    "target_temperature": "target temperature (bits)",
    "loss": "training loss",
    "val_error": "validation error (%)",
    "test_error": "test error (%)",
    "train_error": "training error (%)",
    "val_loss": "validation loss",
    "train_loss": "training loss (epoch mean)",
    "epoch": "epoch",
}


def schedule_color(schedule: str | None) -> str:
    """The colour of a schedule on every page; a neutral dark grey for unknown ones."""
    return SCHEDULE_COLORS.get(schedule or "", OTHER_COLOR)


def _luminance(red: float, green: float, blue: float) -> float:
    """The relative luminance of a colour (WCAG 2), channels in [0, 1]."""
    linear = (
        c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)
    )
    return sum(w * c for w, c in zip((0.2126, 0.7152, 0.0722), linear, strict=True))


def schedule_shades(schedule: str | None, count: int) -> list[str]:
    """``count`` distinct colours of the schedule's family: the first is the schedule's own
    colour, the others lighter and darker shades of its hue (same hue and saturation), none
    so light that it fades into the white background (contrast at least 2:1), so that runs
    of one schedule are told apart by colour as well as by dash."""
    base = schedule_color(schedule)
    red, green, blue = (int(base[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, lightness, saturation = colorsys.rgb_to_hls(red, green, blue)
    step = min(0.12, 0.5 / max(count, 1))
    while True:  # closer shades until there are enough between black and too light
        shades = [base]
        for i in range(1, 4 * count):
            level = lightness + step * ((i + 1) // 2) * (1 if i % 2 else -1)
            rgb = colorsys.hls_to_rgb(hue, level, saturation)
            # in range, and against white at least 2:1 (lighter fades into the background)
            if len(shades) < count and 0.08 <= level and 1.05 / (_luminance(*rgb) + 0.05) >= 2:
                shades.append("#" + "".join(f"{round(c * 255):02X}" for c in rgb))
        if len(shades) == count or step < 0.01:
            return shades
        step /= 1.5


def temperature_title(granularity: str | None = None, what: str = "temperature") -> str:
    """A temperature axis title: ``"temperature (bits, unit:64)"``; ``"(bits)"`` alone when
    the granularity is not known."""
    return f"{what} (bits, {granularity})" if granularity else f"{what} (bits)"


def _bits_colorbar(granularity: str | None) -> dict:
    """A heatmap's colour bar in bits, the granularity below the unit (colour bars are narrow)."""
    return {"title": {"text": f"bits<br>{granularity}" if granularity else "bits"}, "thickness": 12}


# ---------------------------------------------------------------------- helpers
def _layout(
    fig: go.Figure,
    title: str,
    x_title: str,
    y_title: str,
    height: int = HEIGHT,
    legend: bool = True,
) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 45},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        hovermode="closest",
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


LEGEND_ROW = 20  # pixels per legend entry listed below a chart


def _legend_below(fig: go.Figure, entries: int | None = None) -> None:
    """The legend listed under the chart, one entry per line, the figure taller by its
    lines: however many entries it has, it never covers the title, the axes or the data.
    ``entries`` defaults to the traces shown in the legend."""
    if entries is None:
        entries = sum(
            1 for t in fig.data if t.showlegend is not False and t.name and t.type != "heatmap"
        )
    rows = max(int(entries), 1)
    fig.update_layout(
        height=(fig.layout.height or HEIGHT) + LEGEND_ROW * rows,
        margin={"b": 55 + LEGEND_ROW * rows},
        legend={
            "orientation": "v",
            "yref": "container",
            "yanchor": "bottom",
            "y": 0.0,
            "xanchor": "left",
            "x": 0.0,
        },
    )


def _empty(title: str, message: str, height: int = HEIGHT) -> go.Figure:
    """A blank figure that says why it is blank (no data yet) instead of empty axes."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 13, "color": "#666666"},
    )
    _layout(fig, title, "", "", height, legend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _hover_granularity(granularity: str | None) -> str:
    return f" ({granularity})" if granularity else ""


def _log10_ticks(low: float, high: float) -> tuple[list[int], list[str]]:
    """Integer exponents covering [low, high] (log10 units) and their 10^k labels."""
    exponents = list(range(math.floor(low), math.ceil(high) + 1))
    return exponents, [_power_label(1, k) for k in exponents]


def _power_label(mantissa: int, exponent: int) -> str:
    """``10<sup>−3</sup>``, ``2×10<sup>−3</sup>``; ``1``, ``2`` ... ``50`` for exponents 0 and 1."""
    if exponent in (0, 1):
        return f"{mantissa * 10**exponent:g}"
    power = f"10<sup>{exponent}</sup>".replace("-", "−")
    return power if mantissa == 1 else f"{mantissa}×{power}"


def log_ticks(values: pd.Series | np.ndarray) -> tuple[list[float], list[str]]:
    """Ticks of a log axis over the positive ``values``, every one labelled with its whole
    value: the decades (``10⁻³``, ``10⁻²`` ...) where the data span two or more of them,
    else 1, 2 and 5 of each decade written out (``2×10⁻²``), never a bare ``2`` or ``5``
    whose decade must be guessed. Empty without a positive value."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) == 0:
        return [], []
    low, high = float(values.min()), float(values.max())
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    decades = [k for k in range(first, last + 1) if low <= 10.0**k <= high]
    if len(decades) >= 2:
        ticks = [(1, k) for k in range(first, last + 1)]
    else:
        ticks = []
        for mantissas in ((1, 2, 5), tuple(range(1, 10))):
            ticks = [
                (m, k)
                for k in range(first - 1, last + 1)
                for m in mantissas
                if low / 1.5 <= m * 10.0**k <= high * 1.5
            ]
            if len(ticks) >= 3:
                break
    return [m * 10.0**k for m, k in ticks], [_power_label(m, k) for m, k in ticks]


def _log_y(fig: go.Figure, values: pd.Series | np.ndarray) -> None:
    """A log y axis whose every tick names its value (:func:`log_ticks`)."""
    tickvals, ticktext = log_ticks(values)
    fig.update_yaxes(type="log", tickvals=tickvals, ticktext=ticktext)


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(frame[column], errors="coerce")
    return frame[np.isfinite(values.to_numpy(np.float64))]


# ---------------------------------------------------------------------- Design page
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


# ---------------------------------------------------------------------- Runs page
def guard_hover(event: Mapping) -> str:
    """The hover text of one cut of the rate by the divergence guard (a row of
    :meth:`Store.guard_events`): when, why, what it saw, and the new rate."""
    reason = GUARD_REASONS.get(event["reason"], event["reason"])
    return (
        f"step {int(event['step'])}: divergence guard, {reason}<br>"
        f"{html.escape(str(event['detail']), quote=False)}<br>"
        f"rate cut to {event['lr_after']:.3g} (from {event['lr_before']:.3g}), "
        "the ceiling from here on"
    )


def _guard_rows(events: pd.DataFrame | None) -> pd.DataFrame:
    """The events that can be drawn on a log rate axis (both rates finite and positive)."""
    if events is None or len(events) == 0:
        return pd.DataFrame()
    rates = events[["lr_before", "lr_after"]].to_numpy(np.float64)
    return events[np.all(np.isfinite(rates) & (rates > 0), axis=1)]


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


def scan_heatmap(
    scans: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    fits: pd.DataFrame | None = None,
    total_steps: int | None = None,
    title: str = "LR range scans",
    zmax: float | None = None,
    height: int = HEIGHT,
    granularity: str | None = None,
) -> go.Figure:
    """The paper's LR range heatmap: training time × log learning rate, colour = mean
    temperature (docs/algorithm.md §3), with the learning rate actually used, ``e^μ`` of the
    Gaussian fit and ``λ0`` of the Weibull fit drawn over it.

    Each scan colours the stretch of training from its step to the next scan (the last one
    to the latest step in ``steps``, else to ``total_steps``). The y axis is log10 of the rate, labelled in powers of ten.

    Args:
        scans: :meth:`Store.scans` rows; only ``site == "mean"`` is drawn.
        steps: :meth:`Store.steps` rows (step, lr), for the rate actually used.
        fits: :meth:`Store.fits` rows; ``site == "mean"`` gives the critical rate e^μ
            (Gaussian rows) and the Weibull scale λ0 (Weibull rows, when recorded).
        total_steps: end of training, for the last scan's stretch when ``steps`` is not given.
        zmax: top of the colour scale (bits); default the data's maximum.
        granularity: what one pattern is (e.g. ``"unit:64"``), named on the colour bar.
    """
    mean = scans[scans["site"] == "mean"] if len(scans) else scans
    mean = _finite(mean, "temperature") if len(mean) else mean
    if len(mean) == 0:
        return _empty(title, "no LR range scan yet (one at the start and every epoch)", height)
    grid = mean.pivot_table(index="rate", columns="step", values="temperature", aggfunc="last")
    scan_steps = grid.columns.to_numpy(np.float64)  # (K,)
    log_rates = np.log10(grid.index.to_numpy(np.float64))  # (R,)
    if steps is not None and len(steps):  # the last scan reaches the latest recorded step
        last = max(float(scan_steps[-1]) + 1.0, float(steps["step"].max()))
    else:
        last = max(float(scan_steps[-1]) + 1.0, float(total_steps or 0))
    edges = np.append(scan_steps, last)  # (K + 1,): each scan spans to the next one
    top = float(zmax) if zmax is not None else max(1.0, float(np.nanmax(grid.to_numpy())))
    traces: list[go.BaseTraceType] = [
        go.Heatmap(
            z=grid.to_numpy(),
            x=edges,
            y=log_rates,
            colorscale=TEMPERATURE_SCALE,
            zmin=0,
            zmax=top,
            colorbar=_bits_colorbar(granularity),
            customdata=np.repeat(10.0 ** log_rates[:, None], len(scan_steps), axis=1),
            hovertemplate="scan from step %{x}<br>λ = %{customdata:.3g}: %{z:.2f} bits"
            + _hover_granularity(granularity)
            + "<extra></extra>",
            name="mean temperature",
        )
    ]
    if steps is not None and len(steps):
        used = _finite(steps, "lr")
        used = used[used["lr"] > 0]
        if len(used):
            traces.append(
                go.Scatter(
                    x=used["step"],
                    y=np.log10(used["lr"].to_numpy(np.float64)),
                    mode="lines",
                    name="rate used",
                    line={"color": "#00E5FF", "width": 2.5},
                    customdata=used["lr"],
                    hovertemplate="step %{x}: λ = %{customdata:.3g}<extra>rate used</extra>",
                )
            )
    if fits is not None and len(fits):
        fits = normalize_fits(fits)
        mean_fits = fits[fits["site"] == "mean"]
        fitted = _finite(mean_fits[mean_fits["model"] == "gaussian"], "mu")
        if len(fitted):
            mu = fitted["mu"].to_numpy(np.float64)
            traces.append(
                go.Scatter(
                    x=fitted["step"],
                    y=mu / math.log(10),
                    mode="lines+markers",
                    name="critical rate e<sup>μ</sup>",
                    line={"color": "#FFFFFF", "width": 2, "dash": "dash"},
                    marker={
                        "size": 7,
                        "symbol": "diamond",
                        "color": "#FFFFFF",
                        "line": {"color": "#000000", "width": 1},
                    },
                    customdata=np.exp(mu),
                    hovertemplate="step %{x}: e^μ = %{customdata:.3g}<extra>Gaussian fit</extra>",
                )
            )
        scales = _finite(mean_fits[mean_fits["model"] == "weibull"], "lambda0")
        scales = scales[scales["lambda0"] > 0]
        if len(scales):
            lambda0 = scales["lambda0"].to_numpy(np.float64)
            traces.append(
                go.Scatter(
                    x=scales["step"],
                    y=np.log10(lambda0),
                    mode="lines+markers",
                    name="Weibull scale λ<sub>0</sub>",
                    line={"color": "#FFFFFF", "width": 1.5, "dash": "dot"},
                    marker={
                        "size": 8,
                        "symbol": "circle-open",
                        "color": "#FFFFFF",
                        "line": {"width": 2},
                    },
                    customdata=lambda0,
                    hovertemplate="step %{x}: λ0 = %{customdata:.3g}<extra>Weibull fit</extra>",
                )
            )
    fig = go.Figure(traces)
    low, high = float(log_rates.min()), float(log_rates.max())
    ticks, labels = _log10_ticks(low, high)
    _layout(fig, title, "step", "learning rate", height)
    fig.update_yaxes(tickvals=ticks, ticktext=labels, range=[low - 0.15, high + 0.15])
    fig.update_xaxes(range=[float(edges[0]), float(edges[-1])])
    _legend_below(fig)
    # the white marks of e^μ and λ0 need a dark ground in the legend too
    fig.update_layout(legend={"bgcolor": LEGEND_DARK, "font": {"color": "#FFFFFF"}})
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


def scan_fit_figure(
    scans: pd.DataFrame,
    fits: pd.DataFrame,
    step: int,
    site: str = "mean",
    granularity: str | None = None,
) -> go.Figure:
    """One LR range scan with both response models fitted to it: the measured change
    probability P against the rate (log axis), the Gaussian CDF ``Φ((ln λ − μ)/σ)`` and the
    Weibull ``1 − exp(−(λ/λ0)^k)``, each named with its RMSE in the legend, e^μ (P = ½) and
    λ0 (P = 1 − 1/e) marked on them. A model without a fit is named in a note on the figure,
    with the reason the fit gives.

    Args:
        scans: :meth:`Store.scans` rows (every scan; this draws one).
        fits: :meth:`Store.fits` rows, one per (step, site, model); stores from before the
            Weibull model have Gaussian rows only.
        step: the scan's step.
        site: ``"mean"`` (the mean over sites) or a site name.
        granularity: what one pattern is (e.g. ``"unit:64"``), named on the probability axis.
    """
    where = "mean over sites" if site == "mean" else f"site {site}"
    title = f"Scan at step {step}: {where}"
    rows = scans[(scans["step"] == step) & (scans["site"] == site)] if len(scans) else scans
    rows = _finite(rows, "probability") if len(rows) else rows
    rows = rows[rows["rate"] > 0] if len(rows) else rows
    if len(rows) == 0:
        return _empty(title, f"no LR range scan of {where} at step {step}")
    rates = rows["rate"].to_numpy(np.float64)
    grid = np.logspace(np.log10(rates.min()) - 0.25, np.log10(rates.max()) + 0.25, 200)
    traces: list[go.BaseTraceType] = [
        go.Scatter(
            x=rows["rate"],
            y=rows["probability"],
            mode="markers",
            name="measured",
            marker={"color": TARGET_COLOR, "size": 8},
            customdata=rows["temperature"] if "temperature" in rows else None,
            hovertemplate="λ = %{x:.3g}: P = %{y:.3f} (%{customdata:.2f} bits)<extra>measured</extra>",
        )
    ]
    fits = normalize_fits(fits)
    notes = []
    for model in FIT_MODELS:
        params, reason = model_fit(fits, step, site, model)
        label = MODEL_LABELS[model]
        if params is None:
            notes.append(f"{label} — no fit: {reason}")
            continue
        rmse = f"{params['rmse']:.3f}" if math.isfinite(params["rmse"]) else "—"
        if model == "gaussian":
            curve = change_probability(grid, params["mu"], params["sigma"])
            mark, mark_p = math.exp(params["mu"]), 0.5
            mark_text = f"e^μ = {mark:.3g} (μ = {params['mu']:.2f}, σ = {params['sigma']:.2f})"
        else:
            curve = weibull_probability(grid, params["lambda0"], params["k"])
            mark, mark_p = params["lambda0"], 1.0 - math.exp(-1.0)
            mark_text = f"λ0 = {mark:.3g} (k = {params['k']:.2f})"
        style = {"color": MODEL_COLORS[model], "width": 2.5, "dash": MODEL_DASHES[model]}
        traces.append(
            go.Scatter(
                x=grid,
                y=curve,
                mode="lines",
                name=f"{label} (RMSE {rmse})",
                line=style,
                legendgroup=model,
                hovertemplate=f"λ = %{{x:.3g}}: P = %{{y:.3f}}<extra>{label}</extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=[mark],
                y=[mark_p],
                mode="markers",
                name=mark_text,
                legendgroup=model,
                showlegend=False,
                marker={
                    "color": MODEL_COLORS[model],
                    "size": 11,
                    "symbol": "diamond",
                    "line": {"color": "#FFFFFF", "width": 1},
                },
                hovertemplate=f"{mark_text}<extra>{label}</extra>",
            )
        )
    fig = go.Figure(traces)
    _layout(
        fig,
        title,
        "learning rate",
        "change probability P" + (f" ({granularity})" if granularity else ""),
    )
    _legend_below(fig)
    tickvals, ticktext = log_ticks(grid)
    fig.update_xaxes(type="log", tickvals=tickvals, ticktext=ticktext)
    fig.update_yaxes(range=[-0.03, 1.03])
    for i, note in enumerate(notes):
        fig.add_annotation(
            text=note,
            x=0.01,
            y=0.98 - 0.09 * i,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="top",
            showarrow=False,
            align="left",
            font={"size": 12, "color": "#B00020"},
            bgcolor="rgba(255,255,255,0.85)",
        )
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


# ---------------------------------------------------------------------- Compare page
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
