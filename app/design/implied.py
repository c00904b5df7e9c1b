"""The implied learning rate (a finished run's measured rate over it) and the range test."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from actcool import TargetCurve
from app import charts, data, preview, range_preview, summary, ui
from app.design.common import NO_RUN, state
from app.design.presets import warmup_config, warmup_preview_of
from app.design.source import PreviewInputs, fit_line
from trainer.config import RunConfig
from trainer.data.locate import missing_dataset


def chart(
    curve: TargetCurve | None, fractions: np.ndarray, inputs: PreviewInputs, defaults: RunConfig
) -> RunConfig | None:
    """The implied rate's chart and what it says; returns the run set-up the range test is
    for (None where no run can have it)."""
    model, dataset, granularity = inputs.model, inputs.dataset, inputs.granularity
    batch, data_dir, lr_max, law = inputs.batch, inputs.data_dir, inputs.lr_max, inputs.law
    fits = scan_fits = inputs.fits
    law_fit, source_label, fit_slot = inputs.law_fit, inputs.source_label, inputs.fit_slot
    check_run = inputs.check_run
    # the calibrated curve of a warm-up trained here for this set-up: drawn as that run
    try:
        setup = warmup_config(model, dataset, batch, granularity, data_dir, float(lr_max), 1)
    except ValueError:  # a set-up no run can have: no warm-up was trained for it
        setup, warmup = None, None
    else:
        warmup = warmup_preview_of(curve, setup)
    warmup_law = warmup is not None and warmup.fits.law(law) is not None
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
        fits, law_fit = warmup.fits, warmup.fits.law(law)
        source_label = (
            f"{warmup.scan_text()} (the warm-up's end), {model} on {dataset}, {granularity}"
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
        if warmup is not None:  # the warm-up's own rates, then the law fitted at its end
            implied = preview.with_warmup(implied, warmup)
            window = preview.warmup_window(warmup)
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
                ("floor", defaults.lr_min, implied["model_lr"] < implied["lr"]),
            )
            if hit.any()
        ]
        st.caption(
            (
                f"The first {warmup.trained.fraction:.0%} is the warm-up's linear rate, from "
                f"{warmup.trained.calibration.floor:g} × to the full learning rate. After it, what a run would use"
                if warmup is not None
                else "What a run would use"
            )
            + f" under the {preview.LAWS[law]} law, clamped like a run"
            + (f": {' and '.join(clamps)}." if clamps else " (never clamped here).")
        )
        if warmup is not None and warmup.fits is fits:
            st.markdown(f"At the warm-up's end ({warmup.scan_text()}): " + fit_line(fits, law))
        if warmup is not None and warmup.fits.law(law) is None:
            st.caption(
                f"The scan at the warm-up's end has no {preview.LAWS[law]} fit "
                f"({warmup.fits.reasons.get(law, 'no fit')}): the rate after the warm-up uses "
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
    return setup


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
