"""The ramp warm-up trained ahead of a run (trainer/warmup.py) finds the run's own start."""

from __future__ import annotations

import math

import pytest
import torch

from actcool.calibration import ramp_start_temperature, warmup_lr
from trainer.config import RunConfig, new_run_defaults
from trainer.errors import ConfigError
from trainer.run import train_run
from trainer.warmup import train_warmup


def config(**changes) -> RunConfig:
    """A new run's defaults (ActCoolLR, calibration auto = ramp) on the embedded digits."""
    return RunConfig(**{**new_run_defaults(), "epochs": 5, **changes})


def test_the_warm_up_finds_the_start_temperature_the_run_records(store):
    cfg = config()
    progress = []
    w = train_warmup(cfg, on_step=lambda done, todo: progress.append((done, todo)))
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished"
    summary = store.get_run(result.run_id)["summary"]
    # the same steps, in the same order, from the same initialisation: the same number
    assert w.t_start == summary["t_start"]
    assert w.total_steps == summary["total_steps"] == 50  # digits: 10 batches of 128 per epoch
    assert w.ramp_steps == round(0.25 * 50) == 12
    assert w.end_step == 20  # the first measurement (every 10 steps) at or after step 12
    assert progress[-1] == (21, 21) and len(progress) == 21
    # the warm-up's measurements: at steps 0 and 10, on the linear warm-up from 0.04 λ
    assert w.lrs == pytest.approx([warmup_lr(t, 12, cfg.lr, 0.04) for t in (0, 10)])
    assert w.t_start == pytest.approx(ramp_start_temperature(w.lrs, w.temperatures, cfg.lr))
    # the target it implies, and the scan at the warm-up's end
    target = w.target()
    assert target(0.0) == target(w.fraction) == pytest.approx(w.t_start)
    assert target(1.0) == 0.0
    assert target((w.fraction + 1) / 2) == pytest.approx(w.t_start / 2)
    assert w.scan.step == 20 and w.scan.scan is not None
    fit = w.scan.fits.weibull_mean
    assert fit is not None and math.isfinite(fit.lambda0) and fit.k > 0


def test_a_longer_warm_up_share_and_gamma_reach_the_target():
    w = train_warmup(config(calibration="ramp:0.5:2", epochs=4))
    assert (w.ramp_steps, w.end_step, w.total_steps) == (20, 20, 40)
    assert len(w.lrs) == 2  # steps 0 and 10; step 20 ends the calibration
    target = w.target()
    assert target(0.75) == pytest.approx(w.t_start * (1 - 0.5**2))
    assert w.warmup_lr(0) == pytest.approx(0.04 * 0.05) and w.warmup_lr(25) == 0.05


def _calibration_step(store, run_id) -> int:
    """The step at which the run's calibration ended: its first with a target."""
    steps = store.steps(run_id)
    return int(steps["step"][steps["target_temperature"].notna()].iloc[0])


def test_the_preview_ends_where_the_run_calibrates_at_an_epoch_start_scan(store):
    # 13 steps per epoch (batches of 96 of digits' 1294 training samples), a measurement every
    # 10: the 13-step warm-up ends at the epoch-start scan of step 13, not at step 20
    cfg = config(batch_size=96, epochs=4)
    w = train_warmup(cfg)
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished"
    assert (w.ramp_steps, w.total_steps) == (13, 52)
    assert w.end_step == _calibration_step(store, result.run_id) == 13
    assert w.t_start == store.get_run(result.run_id)["summary"]["t_start"]
    assert len(w.lrs) == 2  # steps 0 and 10
    assert w.scan.step == 13 and w.scan.scan is not None


@pytest.fixture
def skipped_steps(monkeypatch):
    """GradScaler skips ``optimizer.step()`` at the steps put in the returned set, as it does
    on non-finite gradients; the steps are counted per optimizer, so per training."""
    skipped: set[int] = set()
    calls: dict[object, int] = {}
    original = torch.amp.GradScaler.step

    def step(self, optimizer, *args, **kwargs):
        n = calls[optimizer] = calls.get(optimizer, -1) + 1
        if n in skipped:
            return None
        return original(self, optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "step", step)
    return skipped


def test_a_skipped_step_at_the_calibration_moves_it_in_the_preview_as_in_the_run(
    store, skipped_steps
):
    skipped_steps.add(20)  # the measurement (and scan) that would end the warm-up
    cfg = config()
    w = train_warmup(cfg)
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished"
    assert w.end_step == _calibration_step(store, result.run_id) == 21
    assert w.t_start == store.get_run(result.run_id)["summary"]["t_start"]
    assert w.scan.step == 21 and w.scan.scan is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedule": "onecycle"}, "schedule 'onecycle' has no warm-up"),
        ({"target": '{"kind": "power", "t_start": 2.0, "gamma": 1.0}'}, "given target"),
        ({"calibration": "fixed"}, "'fixed:2' knows its start temperature"),
        ({"epochs": 1}, r"the run ends \(step 10\) before its calibration does"),
    ],
)
def test_runs_without_a_warm_up_to_preview_are_refused_with_the_reason(changes, message):
    with pytest.raises(ConfigError, match=message):
        train_warmup(config(**changes))
