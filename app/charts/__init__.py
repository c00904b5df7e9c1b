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

One module per page: :mod:`app.charts.design`, :mod:`app.charts.run`, :mod:`app.charts.scan`
(LR range scans, drawn on the Runs and Compare pages) and :mod:`app.charts.compare`; what they
share (colours, layout, log axes, the display limits) is in :mod:`app.charts.common`. Every
name is re-exported here, so callers write ``from app import charts; charts.lr_figure(...)``.
"""

from __future__ import annotations

from app.charts.common import (
    DASHES,
    DISPLAY_POINTS,
    DISPLAY_STEPS,
    GUARD_MARKER,
    GUARD_REASONS,
    HEIGHT,
    LEGEND_DARK,
    LEGEND_ROW,
    MARKERS_UP_TO,
    METRIC_LABELS,
    MODEL_COLORS,
    MODEL_DASHES,
    TEMPERATURE_SCALE,
    guard_hover,
    log_ticks,
    schedule_color,
    schedule_shades,
    temperature_title,
)
from app.charts.compare import overlay_figure, result_bars
from app.charts.design import design_figure, implied_lr_figure
from app.charts.run import (
    error_figure,
    fit_figure,
    lr_figure,
    run_figures,
    site_heatmap,
    temperature_figure,
)
from app.charts.scan import scan_fit_figure, scan_heatmap
from app.colors import GUARD_COLOR, OTHER_COLOR, SCHEDULE_COLORS, TARGET_COLOR

__all__ = [
    "DASHES",
    "DISPLAY_POINTS",
    "DISPLAY_STEPS",
    "GUARD_COLOR",
    "GUARD_MARKER",
    "GUARD_REASONS",
    "HEIGHT",
    "LEGEND_DARK",
    "LEGEND_ROW",
    "MARKERS_UP_TO",
    "METRIC_LABELS",
    "MODEL_COLORS",
    "MODEL_DASHES",
    "OTHER_COLOR",
    "SCHEDULE_COLORS",
    "TARGET_COLOR",
    "TEMPERATURE_SCALE",
    "design_figure",
    "error_figure",
    "fit_figure",
    "guard_hover",
    "implied_lr_figure",
    "log_ticks",
    "lr_figure",
    "overlay_figure",
    "result_bars",
    "run_figures",
    "scan_fit_figure",
    "scan_heatmap",
    "schedule_color",
    "schedule_shades",
    "site_heatmap",
    "temperature_figure",
    "temperature_title",
]
