"""The sidebar's presets to start a curve from, and the ramp calibration's warm-up, trained
here to preview the curve a run would calibrate."""

from __future__ import annotations

import dataclasses
import json

import streamlit as st

from actcool import Calibration, TargetCurve
from actcool.curves import PAPER_T_START
from app import configs, curve_edit, data, preview, ui
from app.design.common import replace_points, state
from app.design.source import PreviewInputs
from trainer.config import RunConfig, new_run_defaults
from trainer.data.locate import missing_dataset


def parametric(preset: str, **params: float):
    """``(curve, None)`` of a parametric preset, or ``(None, the curve's message)``."""
    try:
        return curve_edit.preset_curve(preset, **params), None
    except ValueError as exc:
        return None, f"Not a valid curve: {exc}"


WARMUPS = "design_warmups"  # session key: {config JSON: WarmupPreview}, the warm-ups trained so far


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
    done: dict[str, preview.WarmupPreview] = state.setdefault(WARMUPS, {})
    if key in done:
        warmup = done[key]
        return warmup.trained.target(), (
            f"{described}  \nIts warm-up, trained here ({config.model} on "
            f"{config.dataset}, {warmup.trained.seconds:.0f} s): {warmup.steps_text()}, calibrated "
            f"**T_start = {warmup.trained.t_start:.3g} bits**: the start the run will find with the same "
            "settings and seed."
        )
    if problem := missing_dataset(config.dataset, config.data_dir):
        return None, f"{described}  \nNo warm-up: {problem}."
    if st.button(
        "Train the warm-up",
        key="do_train_warmup",
        help=f"Trains the first {Calibration.parse(config.calibration).fraction:.0%} of a "
        f"{config.epochs}-epoch run of {config.model} on {config.dataset} exactly as the run "
        "would (seed, data order, ActCoolLR), then one LR range scan.",
    ):
        bar = st.progress(0.0, text="Training the warm-up…")
        try:
            warmup = preview.warmup_preview(
                config, lambda i, n: bar.progress(i / n, text=f"Warm-up: {i} of {n} steps trained")
            )
        except (ValueError, RuntimeError, OSError) as exc:  # ConfigError is a ValueError
            bar.empty()
            return None, f"{described}  \nThe warm-up failed: {exc}"
        done[key] = warmup
        st.rerun()
    return None, f"{described}  \nTrain its warm-up (**Train the warm-up**) to preview it."


def warmup_preview_of(curve: TargetCurve | None, setup: RunConfig) -> preview.WarmupPreview | None:
    """The warm-up trained here for ``setup``'s model, data, batch, granularity and rate whose
    calibrated curve ``curve`` is, if any (its length, calibration and γ are in the curve)."""
    if curve is None:
        return None
    definition = curve.to_dict()
    same = ("model", "dataset", "batch_size", "granularity", "data_dir", "lr")
    for key, warmup in state.get(WARMUPS, {}).items():
        trained = json.loads(key)
        if all(trained[name] == getattr(setup, name) for name in same) and (
            warmup.trained.target().to_dict() == definition
        ):
            return warmup
    return None


def sidebar(inputs: PreviewInputs, defaults: RunConfig) -> str:
    """The presets (in the sidebar): "Use this preset" replaces the points; returns the
    interpolation between points."""
    model, dataset, granularity = inputs.model, inputs.dataset, inputs.granularity
    batch, data_dir, lr_max = inputs.batch, inputs.data_dir, inputs.lr_max
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
                    defaults.epochs,
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
    return interpolation
