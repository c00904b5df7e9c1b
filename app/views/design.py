"""Design: shape a target temperature curve and see the learning rate it implies.

Start from a preset (the calibrated default a run follows without a target is the first),
draw over the chart with the lasso (the stroke replaces the stretch of the curve it spans),
fine-tune the control points in the table, check the implied learning rate for a model,
dataset and granularity, and save the curve by name for the Launch page (docs/algorithm.md §5).

The implied rate is what a run would use (app/preview.py): the control law's response model
(Weibull by default, or the Gaussian CDF) fitted to a quick LR range scan at initialisation,
or to a past run's scan, inverted at the target and clamped at the learning rate (the run's
ceiling). A finished ActCoolLR run's measured rate can be drawn over it, with the median
ratio measured / preview over 10-90% of training: how far to trust the preview.
"""

from __future__ import annotations

import streamlit as st

from app import data
from app.design import implied, points, presets, saving, source
from app.design.common import FLASH, state
from trainer.config import RunConfig

DEFAULTS = RunConfig()  # on every run: the data folder's default comes from the environment
draw_key = points.start(DEFAULTS)

# ---------------------------------------------------------------- page
st.title("Design a target temperature curve")
st.caption(
    "The target C(f) is the mean activation pattern temperature, in bits, that ActCoolLR "
    "steers towards at each fraction f of training. **Draw** on the chart to reshape it: "
    "drag across it with the mouse (the lasso is on) and the stroke replaces that stretch."
)
if FLASH in state:
    kind, message = state.pop(FLASH)
    (st.warning if kind == "warning" else st.success)(message)

curve_col, lr_col = st.columns(2, gap="medium")
table_col, source_col = st.columns(2, gap="medium")

with source_col:  # the run the preview is for
    inputs = source.section(DEFAULTS)
with st.sidebar:
    interpolation = presets.sidebar(inputs, DEFAULTS)
with table_col:
    edited, curve = points.table(interpolation)
with curve_col:
    fractions = points.chart(edited, curve, draw_key, inputs, DEFAULTS)
with lr_col:
    setup = implied.chart(curve, fractions, inputs, DEFAULTS)

# ---------------------------------------------------------------- range test
st.divider()
st.subheader("Range test")
implied.range_test(setup)

# ---------------------------------------------------------------- save
saving.section(curve)

with data.guard():
    if len(data.runs()) == 0:
        st.info("New here? The **Launch** page has a one-click demo run.")
