"""What every chart shares: schedule colours and shades, the temperature scale, layout,
legend and log-axis helpers, the display limits, and the divergence guard's marks."""

from __future__ import annotations

import colorsys
import html
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.colors import GUARD_COLOR, OTHER_COLOR, SCHEDULE_COLORS

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
GUARD_REASONS = {
    "loss_rise": "the loss rose",
    "temperature_collapse": "the temperature collapsed",
    "site_dark": "a layer went dark",
}
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


# ---------------------------------------------------------------------- guard cuts
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
