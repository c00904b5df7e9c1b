"""The Design page's implied-rate preview: as a run would compute it (app/preview.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from actcool import Calibration, ConstantCurve, PowerCurve
from app import preview


def test_implied_rates_clamp_at_the_ceiling_and_floor_like_a_run():
    fit = {"lambda0": 0.02, "k": 0.9}
    implied = preview.implied_rates(
        PowerCurve(4.0, 1.0), "weibull", fit, 128, lr_max=0.03, fractions=np.linspace(0, 1, 11)
    )
    closed = [0.02 * (4.0 * (1 - f) * math.log(2)) ** (1 / 0.9) for f in implied["fraction"]]
    assert implied["model_lr"].tolist() == pytest.approx(closed)
    assert implied["lr"].tolist() == pytest.approx(np.clip(closed, 1e-6, 0.03).tolist())
    assert implied["lr"].iloc[0] == 0.03 and implied["model_lr"].iloc[0] > 0.03
    assert implied["lr"].iloc[-1] == 1e-6  # 0 bits: the lowest rate
    assert implied["temperature"].iloc[0] == 4.0


def test_implied_rates_under_the_gaussian_law_match_the_design_formula():
    curve = ConstantCurve(1.0)
    fractions = np.array([0.0, 0.5, 1.0])
    implied = preview.implied_rates(
        curve, "gaussian", {"mu": -3.0, "sigma": 1.2}, 128, lr_max=10.0, fractions=fractions
    )
    # exp(μ + σ·Φ⁻¹(clip(1 − 2^(−C), B))) with C = 1 bit: P = 1/2
    assert implied["model_lr"].tolist() == pytest.approx([math.exp(-3.0)] * 3)
    assert implied["lr"].iloc[0] == pytest.approx(math.exp(-3.0))  # 1 bit: e^μ
    with pytest.raises(ValueError, match="unknown response"):
        preview.implied_rates(curve, "cauchy", {}, 128, lr_max=1.0)


@pytest.mark.parametrize(
    ("calibration", "granularity", "t_start"),
    [
        ("fixed", "unit:64", 2.0),
        ("fixed", "unit:32", 1.0),
        ("fixed:3", "unit:128", 6.0),
        ("fixed", "unit", 2.0),
    ],
)
def test_calibrated_default_fixed_is_a_linear_cool_down(calibration, granularity, t_start):
    curve, text = preview.calibrated_default(calibration, granularity)
    assert curve.to_dict() == {"kind": "power", "t_start": t_start, "gamma": 1.0}
    assert f"linear from **{t_start:.3g} bits**" in text


def test_calibrated_default_with_gamma_cools_along_that_power_curve():
    curve, text = preview.calibrated_default("fixed:2:4", "unit:64")
    assert curve.to_dict() == {"kind": "power", "t_start": 2.0, "gamma": 4.0}
    assert curve(0.5) == pytest.approx(2.0 * (1 - 0.5**4))
    assert "a power curve (γ = 4) from **2 bits**" in text
    curve, text = preview.calibrated_default("ramp:0.25:2", "unit:64")
    assert curve is None and "cools along a power curve (γ = 2) to 0" in text


def test_calibrated_default_ramp_is_read_during_the_run():
    for calibration, granularity in (
        ("auto", "unit:64"),
        ("auto", "position"),
        ("ramp:0.3", "unit:64"),
    ):
        curve, text = preview.calibrated_default(calibration, granularity)
        assert curve is None and "during the run" in text
    assert "first 30% of training" in preview.calibrated_default("ramp:0.3", "sample")[1]
    with pytest.raises(ValueError, match="calibration 'fixed:2'.*unit granularity"):
        preview.calibrated_default("fixed", "sample")
    with pytest.raises(ValueError, match="calibration 'warm'"):
        preview.calibrated_default("warm", "unit:64")


def test_measured_ratio_over_the_bulk_of_training():
    implied = pd.DataFrame({"fraction": [0.0, 0.5, 1.0], "lr": [0.1, 0.01, 0.001]})
    steps = pd.DataFrame({"step": np.arange(100), "lr": np.nan})
    fraction = steps["step"] / 100
    preview_at = np.exp(np.interp(fraction, implied["fraction"], np.log(implied["lr"])))
    steps["lr"] = 2.0 * preview_at  # twice the preview throughout...
    steps.loc[steps["step"] < 10, "lr"] = 50.0  # ...but for the first 10%, left out
    measured = preview.measured_lr(steps, 100)
    assert measured["fraction"].iloc[-1] == pytest.approx(0.99)
    assert preview.measured_ratio(implied, measured) == pytest.approx(2.0)
    assert preview.measured_ratio(implied, measured, window=(0.0, 0.15)) > 2.0
    assert preview.measured_ratio(implied, measured.iloc[:5]) is None  # nothing in 10-90%
    assert len(preview.measured_lr(steps, None)) == 0  # no total: no fractions


def test_span_text_says_where_the_preview_is_clamped():
    f = np.linspace(0, 1, 11)
    assert preview.span_text(f, f <= 0.31) == "over 0%–30% of training"
    assert preview.span_text(f, f == 1.0) == "at 100% of training"
    assert preview.span_text(f, (f < 0.15) | (f > 0.85)) == "over 36% of training"
    assert preview.span_text(f, f > 2) == "nowhere"


def a_warmup(ramp_steps: int = 25) -> preview.WarmupPreview:
    """A ramp warm-up over the first 25 of 100 steps to the rate 0.1, from 0.04 × 0.1."""
    from trainer.warmup import TrainedWarmup

    trained = TrainedWarmup(
        calibration=Calibration("ramp", fraction=0.25, floor=0.04, gamma=1.0),
        t_start=3.0,
        lr_peak=0.1,
        ramp_steps=ramp_steps,
        end_step=30,
        total_steps=100,
        lrs=(),
        temperatures=(),
        scan=None,  # not read: the fits below are the scan's
        seconds=1.0,
    )
    return preview.WarmupPreview(
        trained, preview.PreviewFits(None, {"lambda0": 0.02, "k": 1.0}, 128)
    )


def test_the_warmup_preview_draws_the_warm_up_then_the_law_fitted_at_its_end():
    r = a_warmup()
    curve = r.trained.target()
    assert curve(0.1) == curve(0.25) == 3.0 and curve(0.625) == pytest.approx(1.5)
    fractions = np.linspace(0.0, 1.0, 101)
    implied = preview.implied_rates(curve, "weibull", r.fits.weibull, 128, 0.1, fractions=fractions)
    out = preview.with_warmup(implied, r)
    warm = out["fraction"] < 0.25
    steps = np.floor(fractions[warm] * 100)
    expected = 0.1 * (0.04 + 0.96 * steps / 25)  # the linear warm-up, step by step
    np.testing.assert_allclose(out.loc[warm, "lr"], expected)
    np.testing.assert_allclose(out.loc[warm, "model_lr"], expected)
    # after it, the law: λ0·(C·ln 2)^(1/k), clamped at the ceiling 0.1
    pd.testing.assert_frame_equal(out[~warm], implied[~warm])
    at = out.set_index(np.round(out["fraction"], 3))
    assert at.loc[0.7, "lr"] == pytest.approx(0.02 * 1.2 * math.log(2))  # C(0.7) = 1.2 bits
    assert len(implied) == len(out) and (implied.loc[warm, "lr"] != out.loc[warm, "lr"]).all()


def test_a_ramp_run_is_compared_with_its_preview_after_the_warm_up():
    assert preview.warmup_window(a_warmup()) == (0.25, 0.9)
    assert preview.warmup_window(a_warmup(ramp_steps=5)) == preview.RATIO_WINDOW


def test_a_warmup_preview_counts_its_steps_as_its_progress_bar_does():
    """The Design page prints a warm-up's numbers from the WarmupPreview alone: the progress
    bar's last "n of n" is its trained steps, steps 0 to the calibration's end step."""
    from trainer.config import RunConfig, new_run_defaults

    config = RunConfig(
        **{**new_run_defaults(), "dataset": "digits", "epochs": 2, "measure_every": 3},
        download=False,
        device="cpu",
    )
    bar = []
    warmup = preview.warmup_preview(config, lambda done, to_do: bar.append((done, to_do)))
    assert bar[-1] == (warmup.trained_steps, warmup.trained_steps)
    w = warmup.trained
    assert warmup.trained_steps == w.end_step + 1 == len(bar)
    assert w.ramp_steps <= w.end_step < w.total_steps
    text = warmup.steps_text()
    assert f"the first {warmup.trained_steps} of the run's {w.total_steps} steps" in text
    assert f"warms up over {w.ramp_steps}" in text
    assert warmup.scan_text() == f"the scan after step {warmup.trained_steps} of {w.total_steps}"
