"""The warm-up preview: a run's ``ramp`` warm-up, trained ahead of the run (what the Design page
and ``python -m trainer warmup`` show).

A run with the calibrated default target and the ``ramp`` calibration reads its start
temperature off its own first steps (actcool/calibration.py): the rate warms up linearly to
the optimizer's rate over the first ``fraction`` of training, then ``T_start = λ_peak ×
median(T̄/λ)`` of the warm-up's second half. Nothing tells that number before those steps
are trained, so :func:`train_warmup` trains them: the same seed, data order, model, optimizer
and ActCoolLR as the run, through the run's own loop (trainer/build.py, trainer/steps.py),
until the scheduler has its target: up to the measurement at which the calibration ends,
where it also runs an LR range scan. It returns the start temperature the run will find
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

from actcool import Calibration, Measurement, TargetCurve, TemperatureMonitor
from actcool.calibration import cooldown_after, warmup_lr

from .build import RunParts, build_run, scans_at_epoch
from .compute import run_precision
from .config import RunConfig
from .device import resolve_device
from .errors import ConfigError
from .steps import RunSteps

__all__ = ["TrainedWarmup", "train_warmup"]


@dataclass(frozen=True)
class TrainedWarmup:
    """What a run's ``ramp`` warm-up found, trained ahead of the run.

    Attributes:
        calibration: the run's calibration.
        t_start: the start temperature in bits (the cool-down's C at the end of the warm-up).
        lr_peak: the optimizer's rate, where the warm-up ends.
        ramp_steps: the warm-up's length in steps.
        end_step: the measurement step at which the calibration ended (the run's first at or
            after ``ramp_steps``, also a scan at an epoch's start; an optimizer step skipped
            there moves it to the next), where the scan ran.
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


def train_warmup(
    config: RunConfig,
    on_step: Callable[[int, int], None] | None = None,
    device: torch.device | None = None,
) -> TrainedWarmup:
    """Train ``config``'s first steps up to the end of its ``ramp`` calibration.

    Args:
        config: an ActCoolLR run with the calibrated default target (``target="default"``)
            and a ``ramp`` calibration (``"auto"`` is ramp).
        on_step: called after every step with ``(steps done, steps to do)``, e.g. for a
            progress bar; the steps to do are as planned until the last step, where both are
            equal.
        device: where to train; default ``config.device`` resolved as a run resolves it.

    Raises:
        ConfigError: ``config`` has no ramp warm-up (another schedule, a given target, the
            ``fixed`` calibration), or the run ends before its calibration does (as planned,
            or with its last measurements skipped).
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
    ramp_steps = controller.opening_steps
    planned = _planned_end(config, parts, ramp_steps)
    if planned >= parts.total_steps:
        parts.schedule.close()
        raise ConfigError(
            f"the run ends (step {parts.total_steps}) before its calibration does (the first "
            f"measurement after the {ramp_steps}-step warm-up, step {planned}); train longer or "
            "measure more often (measure_every)"
        )
    precision = run_precision(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.scaled)
    monitor = parts.schedule.monitor
    try:
        _scan_if_measured(monitor, 0, ramp_steps)
        for trained in RunSteps(config, parts, scaler=scaler, precision=precision):
            step, m = trained.step, trained.measurement
            loss = float(trained.loss)  # a preview of a few dozen steps: read each
            if not math.isfinite(loss):
                raise RuntimeError(
                    f"the loss became {loss} at step {step} of the warm-up (rate "
                    f"{controller.lr_at(step):.3g}): "
                    "the run would diverge; lower the learning rate"
                )
            ended = scheduler.target is not None  # the calibration ended at this measurement
            if on_step is not None:
                on_step(step + 1, (step if ended else max(planned, step + 1)) + 1)
            if ended:
                assert m is not None and m.scan is not None  # requested by _scan_if_measured
                samples = scheduler.calibration_samples
                return TrainedWarmup(
                    calibration=calibration,
                    t_start=float(scheduler.calibrated_start),
                    lr_peak=controller.lr_initial,
                    ramp_steps=ramp_steps,
                    end_step=step,
                    total_steps=parts.total_steps,
                    lrs=tuple(lr for lr, _ in samples),
                    temperatures=tuple(t for _, t in samples),
                    scan=m,
                    seconds=time.monotonic() - started,
                )
            _scan_if_measured(monitor, step + 1, ramp_steps)
    finally:
        parts.schedule.close()
    raise ConfigError(
        f"the run ended (step {parts.total_steps}) before its calibration did: no measurement "
        f"trained after the {ramp_steps}-step warm-up; train longer"
    )


def _planned_end(config: RunConfig, parts: RunParts, ramp_steps: int) -> int:
    """The step at which the run's calibration ends as planned: its first measurement at or
    after the warm-up, a multiple of ``measure_every`` or a scan (at an epoch's start, every
    ``scan_every`` steps, or requested). An optimizer step that does not run (as a
    ``GradScaler`` skips one) moves the measurement, and with it the end, to the next step."""
    monitor, per_epoch = parts.schedule.monitor, parts.steps_per_epoch
    t = ramp_steps
    while not (
        monitor.is_measure_step(t)
        or (t % per_epoch == 0 and scans_at_epoch(config, t // per_epoch))
    ):
        t += 1
    return t


def _scan_if_measured(monitor: TemperatureMonitor, step: int, ramp_steps: int) -> None:
    """Request an LR range scan at ``step`` where it is a measurement after the warm-up, so
    that whichever measurement ends the calibration carries the response model the
    cool-down begins with. It adds no measurement: the run measures the same steps (a scan
    moves the parameters only while it runs, so the calibration finds the same ``T_start``)."""
    if step >= ramp_steps and monitor.is_measure_step(step):
        monitor.request_scan(step)
