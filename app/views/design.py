"""Design: shape a target temperature curve and see the learning rate it implies.

Start from a preset, draw over the chart with the lasso (the stroke replaces the stretch of
the curve it spans), fine-tune the control points in the table, check the implied learning
rate for a model and dataset, and save the curve by name for the Launch page (SPEC §5).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, curve_edit, data, ui
from trainer.config import RunConfig
from trainer.data.names import DATASET_NAMES
from trainer.models.names import MODEL_NAMES

log = logging.getLogger(__name__)
state = st.session_state
REV, TABLE, BASE, POINTS, CURVE, FLASH = (
    "design_rev",  # bumps whenever the points are replaced: fresh table and chart widgets
    "design_table",  # the points the table widget starts from (for this revision)
    "design_base",  # the untouched preset's definition, None once edited (a drawn curve)
    "design_points",  # the points as last shown, edits included (what a stroke edits)
    "design_curve",  # the valid curve's definition, read by the Launch page
    "design_flash",  # (kind, text) to show on the next run: ("success", "Stroke applied ...")
)


def replace_points(
    points: pd.DataFrame, base: dict | None, message: str | None = None, kind: str = "success"
) -> None:
    """Start a new revision: the table and chart are rebuilt from ``points``."""
    state[TABLE] = points
    state[POINTS] = points
    state[BASE] = base
    state[REV] = state.get(REV, 0) + 1
    if message:
        state[FLASH] = (kind, message)


@st.cache_data(show_spinner=False, max_entries=32)
def scan_fit(model: str, dataset: str, batch_size: int) -> tuple[float, float, int] | str:
    """μ, σ and B of a quick LR range scan at initialisation, or why there is none."""
    from trainer.scan import quick_scan  # imports torch: only when a scan is asked for

    try:
        # download=False: a dataset missing from the data folder is reported at once, where
        # a download attempt could hang the page on a machine without internet.
        config = RunConfig(model=model, dataset=dataset, batch_size=batch_size, download=False)
        fit, batch = quick_scan(config)
    except Exception as exc:  # a missing dataset, no memory...: a message, not a traceback
        log.warning("quick scan of %s on %s failed", model, dataset, exc_info=True)
        return f"the quick scan failed: {type(exc).__name__}: {exc}"
    if fit is None:
        return "the quick scan showed too little signal to fit μ and σ"
    return float(fit.mu), float(fit.sigma), int(batch)


if REV not in state:
    start = curve_edit.preset_curve("Power cool-down", t_start=3.17, gamma=1.0)
    replace_points(curve_edit.preset_points(start), start.to_dict())

# ---------------------------------------------------------------- a stroke drawn last time
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
        replace_points(drawn, None, f"Stroke applied: replaced {low:.0%} to {high:.0%} of training.")
    draw_key = f"draw_{state[REV]}"

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

with st.sidebar:
    st.subheader("Start from a preset")
    preset = st.selectbox("Preset", curve_edit.PRESETS, key="design_preset")
    preset_error = None
    chosen = None
    if preset == "Power cool-down":
        t_start = st.number_input("T_start (bits)", 0.0, 16.0, 3.17, 0.1, key="design_t_start")
        gamma = st.number_input("γ (1: linear; > 1 stays hot longer)", 0.05, 20.0, 1.0, 0.1,
                                key="design_gamma")
        chosen = curve_edit.preset_curve(preset, t_start=t_start, gamma=gamma)
    elif preset == "Constant":
        level = st.number_input("T (bits)", 0.0, 16.0, 2.0, 0.1, key="design_level")
        chosen = curve_edit.preset_curve(preset, temperature=level)
    elif preset == "Cosine":
        t_start = st.number_input("T_start (bits)", 0.0, 16.0, 3.17, 0.1, key="design_cos_start")
        t_end = st.number_input("T_end (bits)", 0.0, 16.0, 0.0, 0.1, key="design_cos_end")
        chosen = curve_edit.preset_curve(preset, t_start=t_start, t_end=t_end)
    elif preset == "Replay a finished run":
        with data.guard():
            finished = data.runs()
        finished = finished[finished["status"] == "finished"] if len(finished) else finished
        if len(finished) == 0:
            preset_error = "No finished run yet: replay needs a run's measured temperatures."
        else:
            replay_id = ui.run_picker(finished, "Run to replay", key="design_replay_run")
            with data.guard():
                replay_steps = data.steps(replay_id, max_points=None)
                total = (data.get_run(replay_id)["summary"] or {}).get("total_steps")
            try:
                chosen = curve_edit.replay_curve(replay_steps, total)
            except ValueError as exc:
                preset_error = f"Cannot replay this run: {exc}"
    else:  # a saved curve
        with data.guard():
            saved = data.curves()
        if len(saved) == 0:
            preset_error = "No saved curve yet: save one below the chart."
        else:
            ui.drop_stale("design_saved", saved["name"].tolist())
            saved_name = st.selectbox("Saved curve", saved["name"].tolist(), key="design_saved")
            definition = saved.set_index("name").loc[saved_name, "definition"]
            chosen, preset_error = curve_edit.curve_or_message(definition)
    if preset_error:
        st.info(preset_error)
    if st.button("Use this preset", type="primary", disabled=chosen is None, key="do_apply_preset"):
        replace_points(curve_edit.preset_points(chosen), chosen.to_dict(), f"Preset: {preset}.")
        st.rerun()
    interpolation = st.radio(
        "Interpolation between points", ("linear", "pchip"), horizontal=True,
        key="design_interpolation",
        help="pchip is a smooth monotone spline with no overshoot (never below 0 bits).",
    )

curve_col, lr_col = st.columns(2, gap="medium")
table_col, source_col = st.columns(2, gap="medium")

# ---------------------------------------------------------------- control points
with table_col:
    st.subheader("Control points")
    edited = st.data_editor(
        state[TABLE],
        key=f"points_{state[REV]}",
        num_rows="dynamic",
        height=300,
        column_config={
            "fraction": st.column_config.NumberColumn(
                "fraction of training", min_value=0.0, max_value=1.0, step=0.01, format="%.3f",
                help="0 = first step, 1 = last step",
            ),
            "temperature": st.column_config.NumberColumn(
                "temperature (bits)", min_value=0.0, step=0.05, format="%.3f",
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

# ---------------------------------------------------------------- where μ and σ come from
with source_col:
    st.subheader("Implied learning rate")
    source = st.radio(
        "μ and σ from", ("quick LR range scan", "a past run"), horizontal=True,
        key="design_source",
        help="λ(f) = exp(μ + σ·Φ⁻¹(1 − 2^(−C(f)))), probabilities clipped to [1/(2B), 1 − 1/(2B)]",
    )
    fit: tuple[float, float, int] | None = None
    source_label = ""
    if source == "quick LR range scan":
        model_col, dataset_col, batch_col = st.columns(3)
        model = model_col.selectbox("Model", MODEL_NAMES, key="design_model")
        dataset = dataset_col.selectbox("Dataset", DATASET_NAMES, key="design_dataset")
        batch = batch_col.number_input("Batch size", 1, 4096, 128, key="design_batch")
        with st.spinner(f"Quick LR range scan of {model} on {dataset}…"):
            result = scan_fit(model, dataset, int(batch))
        if isinstance(result, str):
            st.warning(f"No implied rate: {result}.")
        else:
            fit, source_label = result, f"quick scan, {model} on {dataset}"
    else:
        with data.guard():
            all_runs = data.runs()
        if len(all_runs) == 0:
            st.info("No runs yet: use the quick scan, or launch a run first.")
        else:
            fit_run = ui.run_picker(all_runs, "Run", key="design_fit_run")
            with data.guard():
                mean_fits = data.fits(fit_run)
                config = data.get_run(fit_run)["config"]
            mean_fits = mean_fits[(mean_fits["site"] == "mean") & mean_fits["mu"].notna()]
            if len(mean_fits) == 0:
                st.info("This run has no fit of the mean temperature yet (one per LR range scan).")
            else:
                ui.drop_stale("design_fit_step", mean_fits["step"].tolist())
                fit_step = st.selectbox("Fit at step", mean_fits["step"].tolist(),
                                        key="design_fit_step")
                row = mean_fits[mean_fits["step"] == fit_step].iloc[0]
                batch = int(config.get("batch_size") or 128)
                fit = (float(row["mu"]), float(row["sigma"]), batch)
                source_label = f"run {fit_run}, step {fit_step}"
    if fit is not None:
        mu, sigma, batch = fit
        st.markdown(
            f"μ = **{mu:.2f}** (critical rate e^μ = **{math.exp(mu):.3g}**, where T = 1 bit) · "
            f"σ = **{sigma:.2f}** · batch B = **{batch}**"
        )

# ---------------------------------------------------------------- the two charts
with curve_col:
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
        key=draw_key, on_select="rerun", selection_mode="lasso", width="stretch",
        config={"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "zoom2d", "pan2d"]},
    )
with lr_col:
    if curve is None:
        st.info("Fix the control points (see the message below the chart) to see the implied rate.")
    elif fit is None:
        st.info("Choose where μ and σ come from (below) to see the implied learning rate.")
    else:
        implied = curve_edit.implied_lr(curve, fit[0], fit[1], fit[2], fractions)
        ui.chart(charts.implied_lr_figure(implied, fit[0], source_label), key="chart_implied_lr")

# ---------------------------------------------------------------- save
if curve is not None:
    state[CURVE] = curve.to_dict()
else:
    state.pop(CURVE, None)
st.divider()
save_col, saved_col = st.columns(2, gap="medium")
with save_col:
    st.subheader("Save")
    name = st.text_input("Curve name", placeholder="e.g. hot-start-linear", key="design_name")
    if st.button("Save curve", type="primary", disabled=curve is None, key="do_save_curve"):
        try:
            with data.guard():
                data.store().save_curve(name.strip(), curve.to_dict())
        except (ValueError, TypeError) as exc:
            st.error(f"Not saved: {exc}")
        else:
            data.clear()
            st.success(f"Saved as '{name.strip()}'. Launch it from the Launch page (ActCoolLR target).")
with saved_col:
    with data.guard():
        saved = data.curves()
    st.subheader("Saved curves")
    if len(saved) == 0:
        st.caption("None yet.")
    else:
        listing = pd.DataFrame(
            {
                "name": saved["name"],
                "kind": saved["definition"].map(lambda d: d.get("kind")),
                "saved (UTC)": saved["created_at"].dt.strftime("%Y-%m-%d %H:%M"),
            }
        )
        st.dataframe(listing, hide_index=True, width="stretch")
        ui.drop_stale("design_delete", ["—", *saved["name"].tolist()])
        doomed = st.selectbox("Delete a curve", ["—", *saved["name"].tolist()], key="design_delete")
        if st.button("Delete", disabled=doomed == "—", key="do_delete_curve"):
            try:
                with data.guard():
                    data.store().delete_curve(doomed)
            except KeyError as exc:
                st.error(str(exc.args[0]) if exc.args else str(exc))
            else:
                data.clear()
                st.rerun()

with data.guard():
    if len(data.runs()) == 0:
        st.info("New here? The **Launch** page has a one-click demo run.")
