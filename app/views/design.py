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

import dataclasses
import json
import logging
import math

import numpy as np
import pandas as pd
import streamlit as st

from actcool import Calibration, TargetCurve
from actcool.curves import PAPER_T_START
from app import charts, configs, curve_edit, data, preview, range_preview, summary, ui
from trainer.config import RunConfig, new_run_defaults
from trainer.data.locate import missing_dataset
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


DEFAULTS = RunConfig()
NO_RUN = ""  # the check-run selectbox's "none" option
REPLACING = "replace_curve"  # session key: the saved curve's name a save would replace


@st.cache_data(show_spinner=False, max_entries=32)
def scan_fit(
    model: str, dataset: str, batch_size: int, granularity: str, data_dir: str = DEFAULTS.data_dir
) -> preview.PreviewFits | str:
    """Both response models of a quick LR range scan at initialisation, as a run's step-0
    scan would measure them (the run's model, data, batch and granularity), or why there are
    none. The one step before the scan trains at the default rate, so changing the ceiling
    redraws the preview without a new scan."""
    try:
        # download=False: a dataset missing from the data folder is reported at once, where
        # a download attempt could hang the page on a machine without internet.
        if problem := missing_dataset(dataset, data_dir):
            return problem
        config = RunConfig(
            model=model,
            dataset=dataset,
            batch_size=batch_size,
            granularity=granularity,
            data_dir=data_dir,
            download=False,
        )
        fits = preview.quick_fits(config)
    except Exception as exc:  # a missing dataset, no memory...: a message, not a traceback
        log.warning("quick scan of %s on %s failed", model, dataset, exc_info=True)
        return f"the quick scan failed: {type(exc).__name__}: {exc}"
    if fits.gaussian is None and fits.weibull is None:
        return "the quick scan showed too little signal to fit either response model"
    return fits


def parametric(preset: str, **params: float):
    """``(curve, None)`` of a parametric preset, or ``(None, the curve's message)``."""
    try:
        return curve_edit.preset_curve(preset, **params), None
    except ValueError as exc:
        return None, f"Not a valid curve: {exc}"


def save_curve(name: str, curve) -> None:
    """Save ``curve`` under ``name`` (replacing one of that name) and say so."""
    try:
        with data.guard():
            data.store().save_curve(name, curve.to_dict())
    except (ValueError, TypeError) as exc:
        st.error(f"Not saved: {exc}")
    else:
        data.clear()
        st.success(f"Saved as '{name}'. Launch it from the Launch page (ActCoolLR target).")


def run_fits(fits: pd.DataFrame, step: int, batch: int) -> preview.PreviewFits:
    """A past run's fits of the mean temperature at one scan, as the preview reads them."""
    fits = summary.normalize_fits(fits)
    gaussian, why_gaussian = summary.model_fit(fits, step, "mean", "gaussian")
    weibull, why_weibull = summary.model_fit(fits, step, "mean", "weibull")
    reasons = {m: why for m, why in (("gaussian", why_gaussian), ("weibull", why_weibull)) if why}
    return preview.PreviewFits(
        {"mu": gaussian["mu"], "sigma": gaussian["sigma"]} if gaussian else None,
        {"lambda0": weibull["lambda0"], "k": weibull["k"]} if weibull else None,
        batch,
        reasons,
    )


def fit_line(fits: preview.PreviewFits, law: str, in_use: bool = True) -> str:
    """Both models' parameters, the chosen law first, marked "in use" where ``in_use``."""
    parts = {}
    if fits.weibull:
        parts["weibull"] = (
            f"Weibull: λ0 = **{fits.weibull['lambda0']:.3g}** (T = 1.44 bits "
            f"there) · k = **{fits.weibull['k']:.2f}**"
        )
    else:
        parts["weibull"] = f"Weibull: no fit ({fits.reasons.get('weibull', 'not recorded')})"
    if fits.gaussian:
        mu = fits.gaussian["mu"]
        parts["gaussian"] = (
            f"Gaussian CDF: μ = **{mu:.2f}** (critical rate e^μ = "
            f"**{math.exp(mu):.3g}**, where T = 1 bit) · σ = "
            f"**{fits.gaussian['sigma']:.2f}**"
        )
    else:
        parts["gaussian"] = f"Gaussian CDF: no fit ({fits.reasons.get('gaussian', 'not recorded')})"
    other = "gaussian" if law == "weibull" else "weibull"
    mark = " ← in use" if in_use else ""
    return f"{parts[law]}{mark}  \n{parts[other]}  \nbatch B = **{fits.batch_size}**"


RAMPS = "design_ramps"  # session key: {config JSON: RampPreview}, the warm-ups trained so far


def warmup_config(
    model: str, dataset: str, batch: int, granularity: str, data_dir: str, lr: float, epochs: int
) -> RunConfig:
    """The run the ramp preview trains the warm-up of: a new run's defaults (as the Launch
    page builds one) with this page's model, data, batch, granularity, rate and length."""
    return RunConfig(
        **{
            **new_run_defaults(),
            "model": model,
            "dataset": dataset,
            "batch_size": batch,
            "granularity": granularity,
            "data_dir": data_dir,
            "download": False,
            "lr": lr,
            "epochs": epochs,
        }
    )


def ramp_preset(config: RunConfig, described: str) -> tuple[TargetCurve | None, str]:
    """The ramp calibration's curve for ``config`` once its warm-up has been trained here (a
    button trains it, with a progress bar), else ``(None, what to do)``."""
    key = json.dumps(config.to_dict(), sort_keys=True)
    done: dict[str, preview.RampPreview] = state.setdefault(RAMPS, {})
    if key in done:
        ramp = done[key]
        return ramp.target(), (
            f"{described}  \nIts warm-up, trained here ({config.model} on "
            f"{config.dataset}, {ramp.seconds:.0f} s): {ramp.steps_text()}, calibrated "
            f"**T_start = {ramp.t_start:.3g} bits**: the start the run will find with the same "
            "settings and seed."
        )
    if problem := missing_dataset(config.dataset, config.data_dir):
        return None, f"{described}  \nNo warm-up: {problem}."
    if st.button(
        "Train the warm-up",
        key="do_ramp_warmup",
        help=f"Trains the first {Calibration.parse(config.calibration).fraction:.0%} of a "
        f"{config.epochs}-epoch run of {config.model} on {config.dataset} exactly as the run "
        "would (seed, data order, ActCoolLR), then one LR range scan.",
    ):
        bar = st.progress(0.0, text="Training the warm-up…")
        try:
            ramp = preview.ramp_preview(
                config, lambda i, n: bar.progress(i / n, text=f"Warm-up: {i} of {n} steps trained")
            )
        except (ValueError, RuntimeError, OSError) as exc:  # ConfigError is a ValueError
            bar.empty()
            return None, f"{described}  \nThe warm-up failed: {exc}"
        done[key] = ramp
        st.rerun()
    return None, f"{described}  \nTrain its warm-up (**Train the warm-up**) to preview it."


def ramp_of(curve: TargetCurve | None, setup: RunConfig) -> preview.RampPreview | None:
    """The warm-up trained here for ``setup``'s model, data, batch, granularity and rate whose
    calibrated curve ``curve`` is, if any (its length, calibration and γ are in the curve)."""
    if curve is None:
        return None
    definition = curve.to_dict()
    same = ("model", "dataset", "batch_size", "granularity", "data_dir", "lr")
    for key, ramp in state.get(RAMPS, {}).items():
        trained = json.loads(key)
        if all(trained[name] == getattr(setup, name) for name in same) and (
            ramp.target().to_dict() == definition
        ):
            return ramp
    return None


RANGE_TESTS = "design_range_tests"  # session key: {config JSON: RangeTest}, those run so far


def range_test(config: RunConfig | None) -> None:
    """The LR range test of ``config``'s first batch at initialisation (a button runs it, once
    per set-up): the loss and mean temperature against the rate, and the peaks it points to."""
    if config is None:
        st.info("No range test: no run can have this set-up.")
        return
    st.caption(
        f"One real update of {config.model} on {config.dataset} at initialisation (seed "
        f"{config.seed}, the run's first batch of {config.batch_size}), re-evaluated at "
        f"{config.scan_count} rates: where the loss stops falling and the units start to flip."
    )
    done: dict = state.setdefault(RANGE_TESTS, {})
    key = json.dumps(config.to_dict(), sort_keys=True)
    if key not in done:
        if problem := missing_dataset(config.dataset, config.data_dir):
            st.info(f"No range test: {problem}.")
            return
        if not st.button("Run a range test", key="do_range_test"):
            return
        with st.spinner(f"Range test of {config.model} on {config.dataset}…"):
            try:
                done[key] = range_preview.first_batch_scan(config)
            except (ValueError, RuntimeError, OSError) as exc:  # ConfigError is a ValueError
                st.error(f"The range test failed: {exc}")
                return
    result = done[key]
    ui.chart(result.figure(), key="chart_range_test")
    if (peaks := range_preview.peaks(result, config.lr)) is None:
        st.warning(range_preview.no_fit_message(result, config.lr))
    else:
        st.caption(range_preview.caption(peaks, config.lr))


if (
    REV not in state
):  # start from the fixed calibration's curve (ramp's start is only known in a run)
    start, _ = preview.calibrated_default("fixed", DEFAULTS.granularity)
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
        replace_points(
            drawn, None, f"Stroke applied: replaced {low:.0%} to {high:.0%} of training."
        )
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

curve_col, lr_col = st.columns(2, gap="medium")
table_col, source_col = st.columns(2, gap="medium")

# ---------------------------------------------------------------- the run the preview is for
with source_col:
    st.subheader("Implied learning rate")
    law_col, ceiling_col = st.columns(2)
    law = law_col.radio(
        "Control law",
        list(preview.LAWS),
        format_func=preview.LAWS.get,
        key="design_law",
        help="Weibull: T = (λ/λ0)^k / ln 2, so λ(f) = λ0·(C(f)·ln 2)^(1/k). Gaussian CDF: "
        "λ(f) = exp(μ + σ·Φ⁻¹(1 − 2^(−C(f)))), probabilities clipped to [1/(2B), 1 − 1/(2B)].",
    )
    lr_max = ceiling_col.number_input(
        "Learning rate (the run's ceiling)",
        DEFAULTS.lr_min,
        100.0,
        DEFAULTS.lr,
        format="%.4g",
        key="design_lr",
        help="A run's highest rate is the optimizer's learning rate (Launch: highest rate 0); "
        "the preview is clamped there and at the lowest rate "
        f"{DEFAULTS.lr_min:g}, as a run clamps it.",
    )
    source = st.radio(
        "Response model from",
        ("quick LR range scan", "a past run"),
        horizontal=True,
        key="design_source",
    )
    fits: preview.PreviewFits | None = None
    source_label = ""
    model, dataset, granularity = DEFAULTS.model, DEFAULTS.dataset, DEFAULTS.granularity
    batch, data_dir = DEFAULTS.batch_size, DEFAULTS.data_dir
    if source == "quick LR range scan":
        model_col, dataset_col, batch_col = st.columns(3)
        model = model_col.selectbox("Model", MODEL_NAMES, key="design_model")
        with dataset_col:
            dataset = ui.dataset_input("design_dataset", DEFAULTS.dataset)
        batch = int(batch_col.number_input("Batch size", 1, 4096, 128, key="design_batch"))
        if dataset not in ("digits", "synthetic"):
            data_dir = st.text_input(
                "Data folder",
                DEFAULTS.data_dir,
                key="design_data_dir",
                help="Where fashion-mnist, cifar10 and relative image folders are read from; "
                "defaults to $ACTCOOL_DATA_DIR, else ./data. Nothing is downloaded here.",
            )
        kind_col, length_col = st.columns(2)
        granularity_kind = kind_col.selectbox(
            "Pattern granularity",
            list(configs.GRANULARITY_LABELS),
            format_func=configs.GRANULARITY_LABELS.get,
            key="design_granularity",
            help="The scan measures temperatures at this granularity, as a run would.",
        )
        pattern_length = length_col.number_input(
            "Units per pattern (L)",
            1,
            1_000_000,
            configs.DEFAULT_PATTERN_LENGTH,
            key="design_pattern_length",
            disabled=granularity_kind != "unit",
        )
        granularity = configs.granularity_spec(granularity_kind, int(pattern_length))
        with st.spinner(f"Quick LR range scan of {model} on {dataset} ({granularity})…"):
            data_dir = data_dir.strip()
            result = scan_fit(model, dataset, batch, granularity, data_dir)
        if isinstance(result, str):
            st.warning(f"No implied rate: {result}.")
        else:
            fits, source_label = result, f"quick scan, {model} on {dataset}, {granularity}"
    else:
        with data.guard():
            all_runs = data.runs()
        if len(all_runs) == 0:
            st.info("No runs yet: use the quick scan, or launch a run first.")
        else:
            fit_run = ui.run_picker(all_runs, "Run", key="design_fit_run")
            with data.guard():
                run_fit_rows = summary.normalize_fits(data.fits(fit_run))
                config = data.get_run(fit_run)["config"] or {}
            model = config.get("model", model)
            dataset = config.get("dataset", dataset)
            granularity = summary.granularity_of(config)
            batch = int(config.get("batch_size") or batch)
            data_dir = config.get("data_dir") or data_dir
            mean_fits = run_fit_rows[
                (run_fit_rows["site"] == "mean")
                & (run_fit_rows["mu"].notna() | run_fit_rows["lambda0"].notna())
            ]
            if len(mean_fits) == 0:
                st.info("This run has no fit of the mean temperature yet (one per LR range scan).")
            else:
                fit_steps = sorted(int(x) for x in pd.unique(mean_fits["step"]))
                ui.drop_stale("design_fit_step", fit_steps)
                fit_step = st.selectbox("Fit at step", fit_steps, key="design_fit_step")
                fits = run_fits(run_fit_rows, fit_step, batch)
                source_label = f"run {fit_run}, step {fit_step}, {granularity}"
    law_fit = fits.law(law) if fits is not None else None
    scan_fits = fits  # the chosen scan's, whose line is written once the warm-up is known
    fit_slot = st.empty()
    if fits is not None:
        if law_fit is None:
            st.warning(
                f"No implied rate under the {preview.LAWS[law]} law: "
                f"{fits.reasons.get(law, 'no fit')}. Choose the other law."
            )

    # a finished ActCoolLR run's measured rate, to draw over the preview
    with data.guard():
        checkable = data.runs()
    if len(checkable):
        checkable = checkable[
            (checkable["status"] == "finished") & (checkable["schedule"] == "actcool")
        ]
    check_run = NO_RUN
    if len(checkable):
        records = checkable.to_dict("records")

        def same(run: dict) -> bool:
            setup = run.get("config") or {}
            return (setup.get("model"), setup.get("dataset"), summary.granularity_of(setup)) == (
                model,
                dataset,
                granularity,
            )

        records.sort(key=lambda r: not same(r))  # same model, data and granularity first
        labels = {
            r["id"]: summary.run_label(r) + ("" if same(r) else " (other setup)") for r in records
        }
        options = [NO_RUN, *labels]
        ui.drop_stale("design_check_run", options)
        check_run = st.selectbox(
            "Draw a finished run's measured rate over the preview",
            options,
            format_func=lambda i: labels.get(i, "—"),
            key="design_check_run",
            help="Finished ActCoolLR runs, those of this model, dataset and granularity first.",
        )

with st.sidebar:
    st.subheader("Start from a preset")
    preset = st.selectbox("Preset", curve_edit.PRESETS, key="design_preset")
    preset_error = None
    chosen = None
    if preset == "Calibrated default":
        calibration_kind = st.selectbox(
            "Calibration",
            list(configs.CALIBRATION_LABELS),
            format_func=configs.CALIBRATION_LABELS.get,
            key="design_calibration",
            help="What a run without a target follows (Launch: Calibrated default), at the "
            "granularity chosen for the implied rate.",
        )
        start_bits = 2.0
        if calibration_kind == "fixed":
            start_bits = st.number_input(
                "Start temperature (bits of unit:64)", value=2.0, step=0.1, key="design_start_bits"
            )
        cool_gamma = st.number_input(
            "Cool-down γ",
            value=1.0,
            step=0.5,
            key="design_calibration_gamma",
            help="1 cools linearly; > 1 stays hotter for longer, < 1 cools early.",
        )
        calibration = configs.calibration_spec(calibration_kind, start_bits, gamma=cool_gamma)
        try:
            chosen, described = preview.calibrated_default(calibration, granularity)
        except ValueError as exc:
            preset_error = str(exc)
        else:
            if chosen is None:  # ramp: its start comes from the run's own warm-up
                epochs = st.number_input(
                    "Epochs of the run",
                    1,
                    100_000,
                    DEFAULTS.epochs,
                    key="design_epochs",
                    help="The warm-up is a share of the run's steps, so its length matters.",
                )
                try:
                    warmup = warmup_config(
                        model, dataset, batch, granularity, data_dir, float(lr_max), int(epochs)
                    )
                except ValueError as exc:  # ConfigError: e.g. a past run's unknown model
                    described = f"{described}  \nNo warm-up: {exc}"
                else:
                    chosen, described = ramp_preset(
                        dataclasses.replace(warmup, calibration=calibration), described
                    )
            if chosen is None:
                preset_error = described
            else:
                st.caption(described)
    elif preset == "Power cool-down":
        # No bounds on these fields (a bounded one silently keeps its last valid value): the
        # curve checks each number, and a reachable range is the granularity's business.
        t_start = st.number_input(
            "T_start (bits)", value=PAPER_T_START, step=0.1, key="design_t_start"
        )
        gamma = st.number_input(
            "γ (1: linear; > 1 stays hot longer)", value=1.0, step=0.1, key="design_gamma"
        )
        chosen, preset_error = parametric(preset, t_start=t_start, gamma=gamma)
    elif preset == "Constant":
        level = st.number_input("T (bits)", value=2.0, step=0.1, key="design_level")
        chosen, preset_error = parametric(preset, temperature=level)
    elif preset == "Cosine":
        t_start = st.number_input(
            "T_start (bits)", value=PAPER_T_START, step=0.1, key="design_cos_start"
        )
        t_end = st.number_input("T_end (bits)", value=0.0, step=0.1, key="design_cos_end")
        chosen, preset_error = parametric(preset, t_start=t_start, t_end=t_end)
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
        "Interpolation between points",
        ("linear", "pchip"),
        horizontal=True,
        key="design_interpolation",
        help="pchip is a smooth monotone spline with no overshoot (never below 0 bits).",
    )

# ---------------------------------------------------------------- control points
with table_col:
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
        key=draw_key,
        on_select="rerun",
        selection_mode="lasso",
        width="stretch",
        config={"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "zoom2d", "pan2d"]},
    )
    if curve is not None:  # where it is drawn: can the measure follow it?
        reach_batch = fits.batch_size if fits is not None else DEFAULTS.batch_size
        reach_errors, reach_warnings = configs.reach_problems(
            curve.to_dict(), granularity, reach_batch
        )
        for message in reach_errors:
            st.error(f"Unreachable target: {message}.", icon=":material/thermostat:")
        for message in reach_warnings:
            st.warning(f"Note: {message}.", icon=":material/thermostat:")
with lr_col:
    # the calibrated curve of a warm-up trained here for this set-up: drawn as that run
    try:
        setup = warmup_config(model, dataset, batch, granularity, data_dir, float(lr_max), 1)
    except ValueError:  # a set-up no run can have: no warm-up was trained for it
        setup, ramp = None, None
    else:
        ramp = ramp_of(curve, setup)
    warmup_law = ramp is not None and ramp.fits.law(law) is not None
    if scan_fits is not None:  # one law in use: the warm-up's scan, where it replaces this one
        fit_slot.markdown(
            fit_line(scan_fits, law, in_use=not warmup_law)
            + (
                "  \n*Not in use: after the warm-up, the law fitted at its end is.*"
                if warmup_law
                else ""
            )
        )
    if warmup_law:
        fits, law_fit = ramp.fits, ramp.fits.law(law)
        source_label = (
            f"{ramp.scan_text()} (the warm-up's end), {model} on {dataset}, {granularity}"
        )
    if curve is None:
        st.info("Fix the control points (see the message below the chart) to see the implied rate.")
    elif fits is None:
        st.info(
            "Choose where the response model comes from (below) to see the implied learning rate."
        )
    elif law_fit is None:
        st.info(
            f"No {preview.LAWS[law]} fit from this scan: choose the other control law "
            "(below) to see the implied learning rate."
        )
    else:
        implied = preview.implied_rates(
            curve, law, law_fit, fits.batch_size, float(lr_max), fractions=fractions
        )
        window = preview.RATIO_WINDOW
        if ramp is not None:  # the warm-up's own rates, then the law fitted at its end
            implied = preview.with_warmup(implied, ramp)
            window = preview.ramp_window(ramp)
        measured, ratio, check = None, None, None
        if check_run != NO_RUN:
            with data.guard():
                check = data.get_run(check_run)
                check_steps = data.steps(check_run)
            measured = preview.measured_lr(
                check_steps, (check.get("summary") or {}).get("total_steps")
            )
            ratio = preview.measured_ratio(implied, measured, window)
        ui.chart(
            charts.implied_lr_figure(
                implied,
                (fits.gaussian or {}).get("mu"),
                source_label,
                law=law,
                lambda0=(fits.weibull or {}).get("lambda0"),
                lr_max=float(lr_max),
                measured=measured,
                measured_name=f"measured · {check['name']}" if check else "",
                ratio=ratio,
                ratio_window=window,
            ),
            key="chart_implied_lr",
        )
        clamps = [
            f"at the {edge} {value:.3g} {preview.span_text(implied['fraction'], hit)}"
            for edge, value, hit in (
                ("ceiling", float(lr_max), implied["model_lr"] > implied["lr"]),
                ("floor", DEFAULTS.lr_min, implied["model_lr"] < implied["lr"]),
            )
            if hit.any()
        ]
        st.caption(
            (
                f"The first {ramp.fraction:.0%} is the warm-up's linear rate, from "
                f"{ramp.floor:g} × to the full learning rate. After it, what a run would use"
                if ramp is not None
                else "What a run would use"
            )
            + f" under the {preview.LAWS[law]} law, clamped like a run"
            + (f": {' and '.join(clamps)}." if clamps else " (never clamped here).")
        )
        if ramp is not None and ramp.fits is fits:
            st.markdown(f"At the warm-up's end ({ramp.scan_text()}): " + fit_line(fits, law))
        if ramp is not None and ramp.fits.law(law) is None:
            st.caption(
                f"The scan at the warm-up's end has no {preview.LAWS[law]} fit "
                f"({ramp.fits.reasons.get(law, 'no fit')}): the rate after the warm-up uses "
                "the scan chosen below."
            )
        if check is not None:
            low, high = window
            config = check.get("config") or {}
            differences = [
                what
                for what, theirs, ours in (
                    ("model", config.get("model"), model),
                    ("dataset", config.get("dataset"), dataset),
                    ("granularity", summary.granularity_of(config), granularity),
                    ("law", config.get("response", "gaussian"), law),
                    ("ceiling", config.get("lr_max") or config.get("lr"), float(lr_max)),
                )
                if theirs != ours
            ]
            verdict = (
                f"**{check['name']}**'s measured rate is a median **×{ratio:.2g}** of the "
                f"preview over {low:.0%}–{high:.0%} of training"
                if ratio is not None
                else f"**{check['name']}** recorded no rate in {low:.0%}–{high:.0%} of training"
            )
            st.caption(
                verdict
                + ". It followed: "
                + " · ".join(summary.actcool_details(check))
                + "."
                + (
                    f" It differs from the preview in: {', '.join(differences)}."
                    if differences
                    else ""
                )
            )

# ---------------------------------------------------------------- range test
st.divider()
st.subheader("Range test")
range_test(setup)

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
    with data.guard():
        existing = set(data.curves()["name"])
    if st.button("Save curve", type="primary", disabled=curve is None, key="do_save_curve"):
        if name.strip() in existing:  # ask before replacing a saved curve
            state[REPLACING] = name.strip()
        else:
            save_curve(name.strip(), curve)
    if curve is not None and state.get(REPLACING) == name.strip() and name.strip() in existing:
        st.warning(
            f"A curve named '{name.strip()}' is saved already. Replace it with this one?",
            icon=":material/warning:",
        )
        replace_col, keep_col, _ = st.columns([1, 1, 2])
        if replace_col.button("Replace it", type="primary", key="do_replace_curve"):
            state.pop(REPLACING, None)
            save_curve(name.strip(), curve)
        if keep_col.button("Keep it", key="do_keep_curve"):
            state.pop(REPLACING, None)
            st.rerun()
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
