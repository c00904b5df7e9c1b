"""The curve's control points: a lasso stroke drawn on the chart, the table, and the chart
that draws them with the curve they interpolate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from actcool import TargetCurve
from app import charts, configs, curve_edit, preview
from app.design.common import BASE, POINTS, REV, TABLE, replace_points, state
from app.design.source import PreviewInputs
from trainer.config import RunConfig


def start(defaults: RunConfig) -> str:
    """The first points of a session, then the stroke drawn last time applied; returns the
    chart's widget key (for the current revision)."""
    if REV not in state:  # the fixed calibration's curve (ramp's start is only known in a run)
        first, _ = preview.calibrated_default("fixed", defaults.granularity)
        replace_points(curve_edit.preset_points(first), first.to_dict())
    # a stroke drawn last time
    draw_key = f"draw_{state[REV]}"
    selection = (state.get(draw_key) or {}).get("selection")
    stroke_x, stroke_y = curve_edit.stroke_from_selection(selection)
    if len(stroke_x):
        try:
            drawn = curve_edit.apply_stroke(state[POINTS], stroke_x, stroke_y)
        except ValueError as exc:
            replace_points(state[POINTS], state[BASE], f"Stroke ignored: {exc}", kind="warning")
        else:
            low, high = float(np.clip(stroke_x.min(), 0, 1)), float(np.clip(stroke_x.max(), 0, 1))
            replace_points(
                drawn, None, f"Stroke applied: replaced {low:.0%} to {high:.0%} of training."
            )
        draw_key = f"draw_{state[REV]}"
    return draw_key


def table(interpolation: str) -> tuple[pd.DataFrame, TargetCurve | None]:
    """The control points' table; returns the points as edited and their curve (None when
    they are not a valid curve)."""
    st.subheader("Control points")
    edited = st.data_editor(
        state[TABLE],
        key=f"points_{state[REV]}",
        num_rows="dynamic",
        height=300,
        column_config={
            # No min/max: the table's editor would drop a typed minus sign (−1 becoming 1);
            # every value reaches the curve's validation, whose message names it.
            "fraction": st.column_config.NumberColumn(
                "fraction of training",
                step=0.01,
                format="%.3f",
                help="0 = first step, 1 = last step",
            ),
            "temperature": st.column_config.NumberColumn(
                "temperature (bits)",
                step=0.05,
                format="%.3f",
                help="In bits, >= 0",
            ),
        },
    )
    touched = not edited.reset_index(drop=True).equals(state[TABLE].reset_index(drop=True))
    state[POINTS] = edited
    base = None if touched else state[BASE]
    if base is not None:
        curve, problem = curve_edit.curve_or_message(base)
    else:
        curve, problem = curve_edit.build_curve(edited, interpolation)
    if problem:
        st.error(f"This curve is not valid: {problem}")
        if st.button("Sort points and drop empty rows", key="do_sort_points"):
            replace_points(curve_edit.sort_points(edited), None, "Points sorted.")
            st.rerun()
    kind = curve.to_dict()["kind"] if curve is not None else "invalid"
    st.caption(
        f"Curve kind: **{kind}**"
        + (" (edit a point or draw to turn it into a drawn curve)" if base is not None else "")
    )
    return edited, curve


def chart(
    edited: pd.DataFrame,
    curve: TargetCurve | None,
    draw_key: str,
    inputs: PreviewInputs,
    defaults: RunConfig,
) -> np.ndarray:
    """The curve's chart (the lasso draws on it) and whether the measure can reach it;
    returns the fractions of training it is drawn at."""
    fits, granularity = inputs.fits, inputs.granularity
    fractions = np.linspace(0.0, 1.0, 201)
    shown = None
    if curve is not None:
        shown = pd.DataFrame({"fraction": fractions, "temperature": curve(fractions)})
    top = pd.to_numeric(edited["temperature"], errors="coerce").max()
    top = float(top) if np.isfinite(top) else 0.0
    if shown is not None:
        top = max(top, float(shown["temperature"].max()))
    y_max = max(4.0, math.ceil(top * 1.15 + 0.25))
    st.plotly_chart(
        charts.design_figure(edited.dropna(), shown, y_max),
        key=draw_key,
        on_select="rerun",
        selection_mode="lasso",
        width="stretch",
        config={"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "zoom2d", "pan2d"]},
    )
    if curve is not None:  # where it is drawn: can the measure follow it?
        reach_batch = fits.batch_size if fits is not None else defaults.batch_size
        reach_errors, reach_warnings = configs.reach_problems(
            curve.to_dict(), granularity, reach_batch
        )
        for message in reach_errors:
            st.error(f"Unreachable target: {message}.", icon=":material/thermostat:")
        for message in reach_warnings:
            st.warning(f"Note: {message}.", icon=":material/thermostat:")
    return fractions
