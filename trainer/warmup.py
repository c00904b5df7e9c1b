"""A run's ``ramp`` warm-up, trained ahead of the run: what the Design page previews.

A run with the calibrated default target and the ``ramp`` calibration reads its start
temperature off its own first steps (actcool/calibration.py): the rate warms up linearly to
the optimizer's rate over the first ``fraction`` of training, then ``T_start = λ_peak ×
median(T̄/λ)`` of the warm-up's second half. Nothing tells that number before those steps
are trained, so :func:`run_warmup` trains them: the same seed, data order, model, optimizer
and ActCoolLR as the run (trainer/build.py), up to the measurement at which the calibration
ends, where it also runs an LR range scan. It returns the start temperature the run will find
and the response model its controller meets when the cool-down begins.

On the device the run would use, with the same config, the start temperature is the run's
own (the test suite checks this on the CPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from actcool import Calibration, Measurement, TargetCurve
from actcool.calibration import cooldown_after, warmup_lr

from .build import build_run, epoch_batches, scans_at_epoch, train_step
from .config import RunConfig
from .device import resolve_device
from .errors import ConfigError

__all__ = ["Warmup", "run_warmup"]


@dataclass(frozen=True)
class Warmup:
    """What a run's ``ramp`` warm-up found.

    Attributes:
        calibration: the run's calibration.
        t_start: the start temperature in bits (the cool-down's C at the end of the warm-up).
        lr_peak: the optimizer's rate, where the warm-up ends.
        ramp_steps: the warm-up's length in steps.
        end_step: the measurement step at which the calibration ended (the first at or after
            ``ramp_steps``), where the scan ran.
        total_steps: the run's length in steps.
        lrs, temperatures: the warm-up's measurements, (λ, T̄ in bits) per measurement step.
        scan: the measurement at ``end_step``, with its LR range scan and fits (``scan.fits``).
        seconds: the wall time it took.
    """

    calibration: Calibration
    t_start: float
    lr_peak: float
    ramp_steps: int
    end_step: int
    total_steps: int
    lrs: tuple[float, ...]
    temperatures: tuple[float, ...]
    scan: Measurement
    seconds: float

    @property
    def fraction(self) -> float:
        """The warm-up's share of training (where the cool-down starts)."""
        return self.ramp_steps / self.total_steps

    def target(self) -> TargetCurve:
        """The run's target: ``t_start`` held over the warm-up, then the cool-down to 0."""
        return cooldown_after(self.t_start, self.fraction, self.calibration.gamma)

    def warmup_lr(self, step: int) -> float:
        """The rate of ``step`` during the warm-up (the optimizer's rate after it)."""
        return warmup_lr(step, self.ramp_steps, self.lr_peak, self.calibration.floor)


def run_warmup(
    config: RunConfig,
    on_step: Callable[[int, int], None] | None = None,
    device: torch.device | None = None,
) -> Warmup:
    """Train ``config``'s first steps up to the end of its ``ramp`` calibration.

    Args:
        config: an ActCoolLR run with the calibrated default target (``target="default"``)
            and a ``ramp`` calibration (``"auto"`` is ramp).
        on_step: called after every step with ``(steps done, steps to do)``, e.g. for a
            progress bar.
        device: where to train; default ``config.device`` resolved as a run resolves it.

    Raises:
        ConfigError: ``config`` has no ramp warm-up (another schedule, a given target, the
            ``fixed`` calibration), or the run ends before its calibration does.
        RuntimeError: the loss became non-finite during the warm-up.
    """
    if config.schedule != "actcool":
        raise ConfigError(f"schedule {config.schedule!r} has no warm-up calibration; use actcool")
    if config.target != "default":
        raise ConfigError(
            "this run follows a given target curve: only the calibrated default target "
            "(target='default') has a warm-up to preview"
        )
    calibration = Calibration.parse(config.calibration)
    if calibration.kind != "ramp":
        raise ConfigError(
            f"calibration {str(calibration)!r} knows its start temperature before training; "
            "only a ramp calibration has a warm-up to preview"
        )
    started = time.monotonic()
    device = device if device is not None else resolve_device(config.device)
    parts = build_run(config, device)
    scheduler = parts.schedule.scheduler
    controller = scheduler.controller  # the run's own warm-up: its length, peak and floor
    ramp_steps = controller.warmup_steps
    # the calibration ends at the first measurement at or after the warm-up
    end = -(-ramp_steps // config.measure_every) * config.measure_every
    if end >= parts.total_steps:
        raise ConfigError(
            f"the run ends (step {parts.total_steps}) before its calibration does (the first "
            f"measurement after the {ramp_steps}-step warm-up, step {end}); train longer or "
            "measure more often (measure_every)"
        )
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    parts.schedule.monitor.request_scan(end)  # the response model as the cool-down begins
    step = 0
    try:
        for epoch in range(config.epochs):
            if scans_at_epoch(config, epoch):
                parts.schedule.monitor.request_scan(step)
            parts.model.train()
            for x, y in epoch_batches(config, parts.bundle, epoch):
                _, loss = train_step(parts.model, parts.optimizer, scaler, x, y, use_amp)
                loss_value = float(loss.detach())
                m = parts.schedule.step(x, loss_value)
                if not math.isfinite(loss_value):
                    raise RuntimeError(
                        f"the loss became {loss_value} at step {step} of the warm-up (rate "
                        f"{controller.lr_at(step):.3g}): "
                        "the run would diverge; lower the learning rate"
                    )
                if on_step is not None:
                    on_step(step + 1, end + 1)
                if step == end:
                    assert m is not None and m.scan is not None
                    samples = scheduler.calibration_samples
                    return Warmup(
                        calibration=calibration,
                        t_start=float(scheduler.calibrated_start),
                        lr_peak=controller.lr_initial,
                        ramp_steps=ramp_steps,
                        end_step=end,
                        total_steps=parts.total_steps,
                        lrs=tuple(lr for lr, _ in samples),
                        temperatures=tuple(t for _, t in samples),
                        scan=m,
                        seconds=time.monotonic() - started,
                    )
                step += 1
    finally:
        parts.schedule.close()
    raise AssertionError("unreachable: end < total_steps")  # pragma: no cover
