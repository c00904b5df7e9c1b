"""The Design page's range test (app/range_preview.py): the run's first batch at
initialisation, and the peaks it points to in plain words."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from actcool.scale import ADAM_FACTORS, PEAK_FACTOR, peak_rate, rate_scale
from app import range_preview
from trainer.config import RunConfig, new_run_defaults
from trainer.schedules import scan_grid


@pytest.fixture(scope="module")
def config() -> RunConfig:
    return RunConfig(
        **{
            **new_run_defaults(),
            "model": "convnet4",
            "dataset": "digits",
            "batch_size": 64,
            "granularity": "unit:32",  # the scan's; λ0 is read at unit:64 whatever it is
            "download": False,
            "lr": 0.05,
            "epochs": 1,
            "device": "cpu",
        }
    )


@pytest.fixture(scope="module")
def result(config: RunConfig):
    return range_preview.first_batch_scan(config)


def test_scans_the_runs_grid_with_finite_losses_at_small_rates(config, result):
    np.testing.assert_allclose(result.lrs, scan_grid(config))
    assert result.lr_used == config.lr
    assert (
        str(result.scan.granularity) == config.granularity == "unit:32"
        and result.scan.batch_size == 64
    )
    small = result.lrs <= 1e-2
    assert small.sum() >= 3 and np.isfinite(result.losses[small]).all()
    # one real update lowers the cross-entropy at small enough rates
    assert np.isfinite(result.loss_start) and result.losses[small].min() < result.loss_start


def test_is_seeded(config, result):
    again = range_preview.first_batch_scan(config)
    np.testing.assert_array_equal(again.losses, result.losses)
    other = range_preview.first_batch_scan(dataclasses.replace(config, seed=config.seed + 1))
    assert not np.array_equal(other.losses, result.losses)


@pytest.mark.parametrize(("hint", "kept"), [(0.05, True), (1.0, False), (1e-4, False)])
def test_caption_numbers_are_the_finders(result, hint, kept):
    peaks = range_preview.peaks(result, hint)
    assert peaks is not None and peaks.kept == kept
    scale = rate_scale(result.scan)
    assert result.peak_factor == PEAK_FACTOR  # the run's optimizer: SGD, momentum 0.9
    assert peaks.scale == scale and peaks.found == pytest.approx(PEAK_FACTOR * scale)
    assert peaks.actcool == peak_rate(hint, scale)
    assert peaks.kept == (peak_rate(hint, scale) == hint)
    assert peaks.onecycle == result.suggestion()
    text = range_preview.caption(peaks, hint)
    assert f"ActCoolLR will peak at **{peak_rate(hint, scale):.3g}**" in text
    assert (
        f"{PEAK_FACTOR:g} × λ0 = {PEAK_FACTOR:g} × {scale:.3g} = {PEAK_FACTOR * scale:.3g}" in text
    )
    assert f"your rate {hint:.3g} is {'kept' if peaks.kept else 'replaced'}" in text
    assert f"A 1-cycle schedule would peak near **{result.suggestion():.3g}**" in text


def test_without_a_rate_scale_there_is_no_peak_and_a_message(result):
    flat = dataclasses.replace(
        result,
        scan=dataclasses.replace(  # no unit ever flips: nothing to fit
            result.scan,
            counts={name: np.zeros_like(np.asarray(c)) for name, c in result.scan.counts.items()},
        ),
    )
    assert range_preview.peaks(flat, 0.05) is None
    message = range_preview.no_fit_message(flat, 0.05)
    assert message.startswith("No fit:") and "keep your rate 0.05 as its peak" in message


def test_the_multiples_are_the_optimizers(result):
    adam = dataclasses.replace(
        result, peak_factor=ADAM_FACTORS.peak, onecycle_factor=ADAM_FACTORS.onecycle
    )
    peaks = range_preview.peaks(adam, 1.0)
    scale = rate_scale(result.scan)
    assert peaks is not None and peaks.found == pytest.approx(37.0 * scale)
    assert peaks.onecycle == pytest.approx(116.0 * scale) == adam.suggestion()
    assert peaks.actcool == peak_rate(1.0, scale, 37.0)
    text = range_preview.caption(peaks, 1.0)
    assert f"37 × λ0 = 37 × {scale:.3g} = {37.0 * scale:.3g}" in text and "(116 × λ0)" in text
    unknown = dataclasses.replace(result, peak_factor=None, onecycle_factor=None)
    assert range_preview.peaks(unknown, 0.05) is None
    message = range_preview.no_fit_message(unknown, 0.05)
    assert message.startswith("No peak: no multiples of λ0 are known for this optimizer")
    assert "keep your rate 0.05 as its peak" in message


def test_a_step_the_gradient_did_not_reach_points_to_no_peak(result):
    blocked = dataclasses.replace(
        result, scan=dataclasses.replace(result.scan, gradient_reach=0.003)
    )
    assert range_preview.peaks(blocked, 0.05) is None and blocked.suggestion() is None
    message = range_preview.no_fit_message(blocked, 0.05)
    assert message.startswith("No peak: this step's gradient reached 0.3% of the parameters")
    assert "under SGD at every measurement until λ0 stops falling" in message
    assert "keeps your rate 0.05 as its peak" in message
    assert result.scan.gradient_reach > 0.9  # the run's own first batch reaches most weights
