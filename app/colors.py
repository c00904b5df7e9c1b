"""The colours of schedules and targets, shared by the dashboard and the benchmark report.

Plain data, no Streamlit or Plotly, so ``benchmarks/report/`` (matplotlib) imports it too and a
schedule has one colour in every figure ActCool draws (colour-blind-safe Okabe-Ito hues).
"""

from __future__ import annotations

__all__ = ["GUARD_COLOR", "OTHER_COLOR", "SCHEDULE_COLORS", "TARGET_COLOR"]

SCHEDULE_COLORS: dict[str, str] = {
    "actcool": "#D55E00",  # vermillion: the temperature-controlled schedule
    "onecycle": "#0072B2",  # blue
    "cosine": "#009E73",  # green
    "step": "#CC79A7",  # purple
    "constant": "#7F7F7F",  # grey
    "schedulefree": "#E69F00",  # orange
}
OTHER_COLOR = "#333333"  # a schedule not in the table
TARGET_COLOR = "#222222"  # target curves and goal lines
GUARD_COLOR = "#1A1A1A"  # the divergence guard's cuts of the rate and the ceiling after them
