"""Optimizers and learning-rate schedules by name, all run under one TemperatureMonitor.

Every schedule exposes the same per-step protocol (:class:`Schedule`), so the training loop
does not care whether the rate comes from ActCoolLR or a hand-made baseline, and baselines
have measured temperatures too (the paper's finding is that 1-cycle cools linearly).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, MultiStepLR, OneCycleLR

from actcool import (
    ActCoolLR,
    ConstantCurve,
    CosineCurve,
    GuardEvent,
    Measurement,
    PowerCurve,
    TemperatureMonitor,
    curve_from_dict,
)
from actcool.branches import BranchFinder
from actcool.curves import PAPER_T_START

from .config import RunConfig
from .errors import ConfigError

__all__ = ["Schedule", "build_optimizer", "build_schedule", "parse_target"]


def build_optimizer(config: RunConfig, model: nn.Module, total_steps: int = 1) -> Optimizer:
    """SGD (momentum, Nesterov, weight decay) or AdamW at ``config.lr``; their schedule-free
    versions (the ``schedulefree`` package) for ``schedule="schedulefree"``, warming up over
    ``warmup_fraction`` of ``total_steps``."""
    if config.schedule == "schedulefree":
        try:
            import schedulefree
        except ImportError:
            raise ConfigError(
                "schedule 'schedulefree' needs the schedulefree package: pip install schedulefree"
            ) from None
        warmup = round(config.warmup_fraction * total_steps)
        if config.optimizer == "sgd":
            opt = schedulefree.SGDScheduleFree(
                model.parameters(),
                lr=config.lr,
                momentum=config.momentum,
                weight_decay=config.weight_decay,
                warmup_steps=warmup,
            )
        else:
            opt = schedulefree.AdamWScheduleFree(
                model.parameters(),
                lr=config.lr,
                weight_decay=config.weight_decay,
                warmup_steps=warmup,
            )
        opt.train()  # training mode; the trainer switches to eval() around evaluation only
        return opt
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


_SHORTHANDS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (curve class, min args, max args)
    "power": (PowerCurve, 1, 2),
    "constant": (ConstantCurve, 1, 1),
    "cosine": (CosineCurve, 1, 2),
}


def parse_target(spec: str, load_curve: Callable[[str], dict] | None = None) -> dict[str, Any]:
    """Resolve a target curve spec to a validated curve definition (a plain dict).

    Accepted: ``power:T_start[,gamma]``, ``constant:T``, ``cosine:T_start[,T_end]``, a curve's
    JSON definition (``{"kind": "drawn", ...}``), or the name of a curve saved in the store
    (looked up with ``load_curve``, which raises ``KeyError`` listing the saved names).

    Raises:
        ConfigError: a malformed spec, naming it and the accepted forms, an invalid curve, or
            an unknown saved curve (a ``ValueError``).
    """
    text = spec.strip()
    if text.startswith("{"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"target curve JSON is invalid: {exc}") from None
        return _valid_curve(d)
    kind, sep, args = text.partition(":")
    if sep and kind in _SHORTHANDS:
        cls, lo, hi = _SHORTHANDS[kind]
        try:
            values = [float(a) for a in args.split(",")] if args else []
        except ValueError:
            raise ConfigError(
                f"target {spec!r}: arguments must be numbers, e.g. power:{PAPER_T_START:g},1"
            ) from None
        if not lo <= len(values) <= hi:
            raise ConfigError(
                f"target {spec!r}: {kind} takes {lo} to {hi} numbers, "
                f"e.g. power:{PAPER_T_START:g},1"
            )
        try:
            return cls(*values).to_dict()
        except ValueError as exc:
            raise ConfigError(f"target {spec!r}: {exc}") from None
    if load_curve is None:
        raise ConfigError(
            f"unknown target {spec!r}; use power:T_start,gamma, constant:T, cosine:T_start,T_end, "
            "curve JSON, or the name of a saved curve"
        )
    try:
        saved = load_curve(text)
    except KeyError as exc:  # the store names the saved curves
        raise ConfigError(exc.args[0] if exc.args else f"unknown target {spec!r}") from None
    return _valid_curve(saved)


def _valid_curve(definition: Any) -> dict[str, Any]:
    try:
        return curve_from_dict(definition).to_dict()
    except (TypeError, ValueError, KeyError) as exc:  # curve_from_dict names the bad field
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ConfigError(f"bad target curve: {message}") from None


def scan_grid(config: RunConfig) -> list[float]:
    return np.logspace(
        math.log10(config.scan_low), math.log10(config.scan_high), config.scan_count
    ).tolist()


def _baseline(config: RunConfig, optimizer: Optimizer, total_steps: int) -> LRScheduler:
    if config.schedule in ("constant", "schedulefree"):  # schedule-free: the optimizer's own
        return LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "step":
        milestones = sorted({max(1, round(m * total_steps)) for m in config.step_milestones})
        return MultiStepLR(optimizer, milestones=milestones, gamma=config.step_factor)
    if config.schedule == "onecycle":
        return OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=total_steps,
            pct_start=config.onecycle_pct_start,
        )
    warm = int(config.warmup_fraction * total_steps)

    def cosine(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        span = max(total_steps - warm, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warm, span) / span))

    return LambdaLR(optimizer, cosine)


class Schedule:
    """A learning-rate schedule plus the monitor that measures the temperature under it, at
    ``config.granularity`` (also counting ``config.compare_granularities``).

    Call :meth:`step` once per training step, after ``optimizer.step()``.
    """

    def __init__(
        self,
        config: RunConfig,
        optimizer: Optimizer,
        model: nn.Module,
        total_steps: int,
        target: dict[str, Any] | None = None,
        finder: BranchFinder | None = None,
    ) -> None:
        self.name = config.schedule
        self.total_steps = total_steps
        scan_every = config.scan_every if config.scan_unit == "step" and config.scan_every else None
        grid = scan_grid(config)
        if config.schedule == "actcool":
            self.scheduler: LRScheduler = ActCoolLR(
                optimizer,
                model,
                target,
                total_steps=total_steps,
                sigma=config.sigma,
                k=config.k,
                response=config.response,
                smoothing=config.smoothing,
                calibration=config.calibration,
                start_factor=config.start_factor,
                find_lr=finder if finder is not None else config.find_lr,
                measure_every=config.measure_every,
                lr_min=config.lr_min,
                lr_max=config.lr_max,
                scan_every=scan_every,
                scan_lrs=grid,
                granularity=config.granularity,
                compare_with=config.compare_granularities,
            )
            self.monitor: TemperatureMonitor = self.scheduler.monitor
        else:
            self.monitor = TemperatureMonitor(
                model,
                measure_every=config.measure_every,
                scan_every=scan_every,
                scan_lrs=grid,
                optimizer=optimizer,
                granularity=config.granularity,
                compare_with=config.compare_granularities,
            )
            self.scheduler = _baseline(config, optimizer, total_steps)

    @property
    def is_actcool(self) -> bool:
        return isinstance(self.scheduler, ActCoolLR)

    def step(self, inputs: Any, loss: torch.Tensor | float) -> Measurement | None:
        """Finish one training step: measure (on measurement steps) and set the next rate."""
        if isinstance(self.scheduler, ActCoolLR):
            t = self.scheduler.last_epoch
            self.scheduler.step(inputs, loss=loss)
            m = self.scheduler.last_measurement
            return m if m is not None and m.step == t else None
        m = self.monitor.step(inputs)
        self.scheduler.step()
        return m

    @property
    def guard_events(self) -> tuple[GuardEvent, ...]:
        """ActCoolLR's divergence-guard cuts of the rate so far, oldest first (restored with
        the state on resume); empty for the other schedules, which have no guard."""
        if isinstance(self.scheduler, ActCoolLR):
            return self.scheduler.guard_events
        return ()

    def effective_lr(self, optimizer: Optimizer) -> float:
        """The rate the next step trains with. Schedule-free optimizers warm up internally:
        step ``k`` (0-based) trains at ``lr·min(1, (k + 1)/warmup_steps)``."""
        group = optimizer.param_groups[0]
        lr = float(group["lr"])
        if "warmup_steps" in group and "k" in group:
            k, warmup = int(group["k"]), int(group["warmup_steps"])
            return lr * (k + 1) / warmup if k < warmup else lr
        return lr

    def target_temperature(self, step: int) -> float | None:
        if isinstance(self.scheduler, ActCoolLR):
            return self.scheduler.target_at(step)
        return None

    def calibration_summary(self) -> dict[str, Any]:
        """For the run's summary: how ActCoolLR's default target was calibrated, its start
        temperature once known, and the fitted shape of the control law."""
        s = self.scheduler
        if not isinstance(s, ActCoolLR):
            return {}
        out: dict[str, Any] = {"response": s.controller.response}
        if s.calibration is not None:
            out["calibration"] = str(s.calibration)
            out["t_start"] = s.calibrated_start
        if s.controller.k is not None:
            out["k"] = s.controller.k
        if s.controller.sigma is not None:
            out["sigma"] = s.controller.sigma
        if s.found_lr is not None:
            out["found_lr"] = s.found_lr
            out["rate_scale"] = s.rate_scale
        return out

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"scheduler": self.scheduler.state_dict()}
        if not self.is_actcool:
            state["monitor"] = self.monitor.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        if not self.is_actcool:
            self.monitor.load_state_dict(state["monitor"])

    def close(self) -> None:
        self.monitor.remove()


def build_schedule(
    config: RunConfig,
    optimizer: Optimizer,
    model: nn.Module,
    total_steps: int,
    target: dict[str, Any] | None = None,
    finder: BranchFinder | None = None,
) -> Schedule:
    """The run's schedule; ``finder``: ActCoolLR's branch search (``config.branch_search``,
    which needs the data: :func:`trainer.build.build_run` makes it)."""
    return Schedule(config, optimizer, model, total_steps, target, finder)
