"""ActCoolLR: a learning-rate scheduler that makes the temperature follow a target curve.

The control law is docs/algorithm.md §4.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .branches import BranchFinder, BranchSearch
from .calibration import (
    DEFAULT_START_BITS,
    START_FACTOR,
    Calibration,
    cooldown_after,
    ramp_start_temperature,
)
from .controller import MAX_RISE, TemperatureController
from .curves import TargetCurve, curve_from_dict
from .distributed import mean_over_ranks
from .finder import branch_search_due, find_peak, probe_window, run_branch_search
from .granularity import DEFAULT_GRANULARITY, Granularity
from .guard import DivergenceGuard, GuardEvent
from .measurement import Measurement
from .monitor import TemperatureMonitor, first_group_lr
from .probe import RateProbe
from .rewind import FROM_START, GuardRollback, Snapshot
from .scale import SCALE_SCAN_LRS, is_adam_family, rate_factors, reaches
from .scheduler_state import check_state, load_scheduler_state, scheduler_state, torch_keys

__all__ = ["ActCoolLR"]

logger = logging.getLogger(__name__)

# Number of LR range scans tried at the start before settling for a default shape (σ or k).
_MAX_SHAPE_SCANS = 3
# σ (or k) used while no scan has produced a fit: a typical σ of the paper's Figure 3, and
# the k ≈ 1 of measured scans (temperature proportional to the rate).
_FALLBACK_SHAPE = 1.0


class ActCoolLR(LRScheduler):
    """Choose the learning rate so the mean activation pattern temperature follows ``target``.

    At every measurement step t (every ``measure_every`` steps, from step 0) the scheduler
    measures the mean temperature T̄_t (docs/algorithm.md §1) and aims at the target of the next
    measurement C(t+K) through a response model (§2, §4): by default the Weibull law
    ``λ* = λ_t·(C/T̄_t)^(1/k)`` with its parameter smoothed over measurements, or the paper's
    ``λ* = exp(μ_t + σ·Φ⁻¹(P(C)))``; λ* is clamped to ``[lr_min, lr_max]`` and over steps
    t+1 … t+K the rate moves linearly from λ_t to λ*. The law's shape (k or σ) is fitted from
    an LR range scan at step 0 unless given.

    It is a ``torch.optim.lr_scheduler.LRScheduler`` and is used like ``OneCycleLR``: step it
    once per training step, after ``optimizer.step()``::

        with ActCoolLR(optimizer, model, total_steps=len(loader) * epochs) as scheduler:
            for inputs, targets in batches:
                loss = criterion(model(inputs), targets)
                optimizer.zero_grad(); loss.backward(); optimizer.step()
                scheduler.step()

    Trainers that step schedulers themselves (PyTorch Lightning with ``"interval": "step"``)
    need nothing more. The measurement replays the last forward pass with gradients enabled of
    the step, with the same arguments (kept by reference, on measurement steps only): with
    gradient accumulation, the last micro-batch. ``step(inputs)`` measures on ``inputs``
    instead.

    A step whose ``optimizer.step()`` did not run (``torch.amp.GradScaler`` skips steps with
    non-finite gradients) still advances the schedule by one step, as every torch scheduler
    does, so ``total_steps`` counts calls of :meth:`step`; a measurement (and LR range scan)
    due on it moves to the next step on which the optimizer steps, since the parameters did
    not move. Stepping the scheduler before the optimizer at the first step gives torch's
    usual warning.

    The scheduler owns hooks on the model and the optimizer: :meth:`close` (or leaving the
    ``with`` block) removes them all.

    With several parameter groups, group 0 carries the controlled rate and the others keep
    their initial ratio to it.

    Args:
        optimizer: any optimizer whose step is proportional to the learning rate (SGD with
            momentum/Nesterov/weight decay, Adam, AdamW, ...). Its current rate is λ_0.
        model: the network trained by ``optimizer``: the module whose forward the training
            step calls, or its ``DistributedDataParallel`` wrapper (its ``.module`` is
            hooked).
        target: a :class:`~actcool.curves.TargetCurve` (or its ``to_dict()``), in bits over
            the fraction of training; ``None`` (the default) is a linear cool-down whose start
            temperature is calibrated for the run (see ``calibration``).
        total_steps: N, the number of training steps the target curve spans (keyword-only,
            required: ``total_steps=len(loader) * epochs``).
        sigma: σ of the pattern model; ``None`` fits it from a scan at step 0.
        measure_every: K, steps between measurements.
        lr_min, lr_max: bounds of the chosen rate. ``lr_max=None`` (the default) is the
            peak rate: the one ``find_lr`` chose, or the optimizer's rate (like ``OneCycleLR``'s
            ``max_lr``); the temperature decides how far below it to go, and the guard may
            lower it. A given ``lr_max`` caps the finder's peak and stays the ceiling. A
            ceiling matters: as the training loss goes to 0 on a small data set the update
            per unit rate shrinks, and holding a temperature would raise the rate until the
            network breaks.
        last_epoch: as in every torch scheduler; leave at -1 and resume with
            :meth:`load_state_dict`.
        scan_every: also run an LR range scan every this many steps (for logging; with
            ``refit_shape=True`` each one updates the law's shape, σ or k).
        scan_lrs: the scan grid (default ``actcool.scale.SCALE_SCAN_LRS``: 41 rates from 1e-8
            to 1e2, wide enough for SGD's and Adam's first steps alike).
        refit_shape: re-fit the law's shape (σ of the Gaussian, k of the Weibull) from every
            later scan (the paper keeps σ fixed). ``refit_sigma=`` is its former name.
        sites: the modules to measure (default: every gate, an activation whose pattern is
            the sign of its input: ReLU, GELU, SiLU, PReLU, ..., and the ``linear1`` of torch's
            transformer layers built with ``activation="gelu"``; ``actcool.find_sites``).
        activations: the activation types to measure instead of
            ``actcool.DEFAULT_ACTIVATIONS``.
        granularity: what one activation pattern is (default ``"unit"`` with
            ``pattern_length`` 64; also ``"position"``, ``"sample"``); the target is in bits
            of this granularity. See :class:`~actcool.TemperatureMonitor`.
        pattern_length: L of the ``unit`` granularity.
        compare_with: other granularities to count as well (for comparison only).
        response: the control law: ``"weibull"`` (default, ``λ* = λ_t·(C/T̄)^(1/k)``) or
            ``"gaussian"`` (the paper's Φ law with σ).
        k: exponent of the Weibull law; ``None`` fits it from the scan at step 0 (like σ).
        smoothing: β in [0, 1): the model's parameter (ln a, or μ) is averaged over
            measurements as ``β·old + (1 − β)·new``; 0 is the exact law.
        calibration: how the default target (``target=None``) finds its start temperature:
            ``"fixed"`` (2 bits of unit:64, scaled by L/64), ``"ramp"`` (warm up to the
            optimizer's rate over 25% of training, then start from the temperature measured
            there), ``"auto"`` (the default: ramp) or a
            :class:`~actcool.Calibration`. See ``actcool/calibration.py``.
        start_factor: with a target known from the start (a given curve, or the ``fixed``
            calibration), the first step trains at ``start_factor ×`` the optimizer's rate
            (like ``LinearLR``'s); the controller then raises the rate by at most ``max_rise``
            × per measurement until the temperature reaches the target (the cold start). 1 starts at the optimizer's
            rate, as the paper does: the first step of a fresh network is then far hotter than
            any target. The ``ramp`` calibration starts its warm-up at its own ``floor``.
        max_rise: λ* is at most ``max_rise ×`` the rate just trained with (default 2; ``None``:
            no limit), so that one cold measurement cannot multiply the rate; falls are not
            limited.
        find_lr: find the peak rate from the LR range scan at step 0 (docs/algorithm.md §4.8):
            the network's rate scale λ0 (the rate at which one update flips about 1.5% of
            the units) times a factor measured per optimizer (4.5 for SGD with momentum 0.9,
            37 for Adam's family, 9 for Adam's family on a network with attention;
            ``actcool.scale.rate_factors``). The optimizer's rate is then a hint, kept where it lies
            within 1.5× of that peak and replaced by the peak otherwise; the peak is the
            warm-up's end and the ceiling. A given ``lr_max`` caps the peak and stays the
            ceiling. The peak found is :attr:`found_lr`. ``False``: the optimizer's rate is
            the peak and the ceiling. ``"probe"`` (Adam's family, with the loss given to
            :meth:`step` and the ``ramp`` calibration; experimental): the peak from the loss
            along an exponential warm-up, after which training goes back to the weights at the
            peak (:attr:`probe`; measured better on some networks and worse on others,
            docs/algorithm.md §4.8, so not the default). A
            :class:`~actcool.branches.BranchFinder` (with the ``ramp`` calibration): the
            step-0 scan's peak first, then, half-way through the warm-up, the peak whose short
            training branch from a copy of the run ends with the lowest held-out loss
            (:attr:`branch_result`; docs/algorithm.md §4.9). It needs the data and the loss
            function, which the finder holds.
        guard: watch for a rate that is breaking the network (docs/algorithm.md §4.7): the
            loss rising well above its lowest (from the losses given to :meth:`step`), the
            temperature collapsing because units died, or a layer gone dark (every unit off
            for every sample). When it trips, the rate is cut to half and that becomes the
            ceiling for the rest of the run; the cuts are in :attr:`guard_events`. While the
            run trains at its highest rate so far, the state at each measurement the guard
            passes is kept (one copy, on the CPU), and a trip at the next one whose damage a
            cut cannot undo (units died, or the loss back at its start) puts it back before
            the cut; a dark layer in the warm-up starts the run again from the state it was
            created with (held, a second copy, through the warm-up), the warm-up climbing
            again to the cut peak (``DivergenceGuard(rollback=False)`` turns both off).
            ``True`` (the default) uses :class:`~actcool.DivergenceGuard`'s defaults, a
            ``DivergenceGuard`` its settings, ``False`` turns it off.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        model: nn.Module,
        target: TargetCurve | Mapping[str, Any] | None = None,
        *,
        total_steps: int,
        sigma: float | None = None,
        measure_every: int = 10,
        lr_min: float = 1e-6,
        lr_max: float | None = None,
        last_epoch: int = -1,
        scan_every: int | None = None,
        scan_lrs: Sequence[float] | None = None,
        refit_shape: bool = False,
        sites: Sequence[nn.Module | str] | None = None,
        activations: Sequence[type[nn.Module]] | None = None,
        granularity: str | Granularity = DEFAULT_GRANULARITY,
        pattern_length: int | None = None,
        compare_with: Sequence[str | Granularity] = (),
        response: str = "weibull",
        k: float | None = None,
        smoothing: float = 0.5,
        calibration: str | Calibration = "auto",
        start_factor: float = START_FACTOR,
        max_rise: float | None = MAX_RISE,
        find_lr: bool | str | BranchFinder = True,
        guard: bool | DivergenceGuard = True,
        refit_sigma: bool | None = None,
    ) -> None:
        if refit_sigma is not None:  # its former name: σ or k, the law's shape
            warnings.warn("refit_sigma= is now refit_shape=", FutureWarning, stacklevel=2)
            refit_shape = refit_shape or bool(refit_sigma)
        # Set our own state before super().__init__, which already calls step() once.
        if isinstance(target, Mapping):
            target = curve_from_dict(dict(target))
        if target is not None and not isinstance(target, TargetCurve):
            raise TypeError(
                f"target must be a TargetCurve, its to_dict() or None (the calibrated default), "
                f"got {type(target).__name__}"
            )
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(
                f"total_steps must be a positive integer (the number of training steps), "
                f"got {total_steps!r}"
            )
        if not (isinstance(start_factor, (int, float)) and 0 < start_factor <= 1):
            raise ValueError(f"start_factor must lie in (0, 1], got {start_factor!r}")
        if not isinstance(guard, (bool, DivergenceGuard)):
            raise TypeError(
                f"guard must be True, False or a DivergenceGuard, got {type(guard).__name__}"
            )
        #: The divergence guard (``None`` when turned off).
        self.guard: DivergenceGuard | None = (
            guard if isinstance(guard, DivergenceGuard) else DivergenceGuard() if guard else None
        )
        self._guard_events: list[GuardEvent] = []
        # the state a trip of the guard goes back to (None with rollback=False or no guard)
        self._rollback = GuardRollback() if self.guard is not None and self.guard.rollback else None
        #: The branch search's settings and data (``find_lr=BranchFinder(...)``), else ``None``.
        self.branches = find_lr if isinstance(find_lr, BranchFinder) else None
        #: What the branch search found (``None`` before it ran or without one).
        self.branch_result: BranchSearch | None = None
        #: The branch search's centre where the warm-up rose to its lowest candidate until the
        #: search (``BranchFinder(warmup_to_lowest=True)``, §4.9), else ``None``.
        self.branch_centre: float | None = None
        if self.branches is not None:
            find_lr = True
        if not (isinstance(find_lr, bool) or find_lr == "probe"):
            raise ValueError(
                f"find_lr must be True, False, 'probe' or a BranchFinder, got {find_lr!r}"
            )
        #: Whether the loss probe sets the peak (``find_lr="probe"``).
        self.peak_probe = find_lr == "probe"
        if self.peak_probe and not is_adam_family(optimizer):
            raise ValueError(
                f"find_lr='probe' is measured for Adam's family only, not {type(optimizer).__name__} "
                "(docs/algorithm.md §4.8); pass find_lr=True for the step-0 scan's peak"
            )
        self.find_lr = bool(find_lr)
        #: λ0's multiples for this optimizer (``None`` without the finder or where unknown).
        self.rate_factors = rate_factors(optimizer, model) if self.find_lr else None
        if self.find_lr and self.rate_factors is None:
            logger.warning(
                "find_lr knows the rate scale of SGD and of Adam's family, not of %s: the "
                "optimizer's rate is the peak (pass find_lr=False to say so)",
                type(optimizer).__name__,
            )
            self.find_lr = False
        #: The peak rate the finder chose (``None`` before the step-0 scan or without a fit).
        self.found_lr: float | None = None
        #: λ0 of the step-0 scan, the network's rate scale (``None`` until known).
        self.rate_scale: float | None = None
        #: λ0 of the scans after a step 0 the gradient did not reach, under SGD, while the
        #: finder waits for it to stop falling (``None`` unless it waits or waited).
        self.settle_scales: list[float] | None = None
        #: The loss probe of an adaptive optimizer's warm-up (``None`` unless one ran;
        #: docs/algorithm.md §4.8, ``actcool/probe.py``).
        self.probe: RateProbe | None = None
        self._snapshots: list[Snapshot] = []  # the probe's, while it runs
        self._lr_max_given = None if lr_max is None else float(lr_max)
        # The losses given to step() since the last measurement: summed where they are (a
        # tensor stays on its device) and read once, at the measurement.
        self._loss_sum: float | torch.Tensor = 0.0
        self._loss_count = 0
        # The optimizer's own rate: torch's "initial_lr" where a scheduler built before this one
        # (a warm-up inside SequentialLR) has already scaled the current one.
        first = optimizer.param_groups[0]
        lr0 = float(first["initial_lr"]) if "initial_lr" in first else first_group_lr(optimizer)
        self.calibration = None if target is not None else Calibration.parse(calibration)
        self._typed_lr = lr0  # the hint every finder compares its peak with
        if self.branches is not None and (
            self.calibration is None or self.calibration.kind != "ramp"
        ):
            raise ValueError(
                "find_lr=BranchFinder(...) runs in the ramp calibration's warm-up: leave target= "
                "and calibration= at their defaults, or pass find_lr=True"
            )
        #: What the calibration found: ``t_start`` in bits once known (``None`` with a user target).
        self.calibrated_start: float | None = None
        self._ramp_samples: list[tuple[float, float]] = []  # (λ_t, T̄_t) during a ramp warm-up
        self.refit_shape = bool(refit_shape)
        ramp = self.calibration is not None and self.calibration.kind == "ramp"
        # Every setting at once, before any hook is installed: the controller validates them
        # together, once.
        self.controller = TemperatureController(
            lr_initial=lr0,
            total_steps=total_steps,
            measure_every=measure_every,
            lr_min=float(lr_min),
            lr_max=float(lr_max) if lr_max is not None else lr0 if lr0 > 0 else 10.0,
            response=response,
            smoothing=float(smoothing),
            sigma=None if sigma is None else float(sigma),
            k=None if k is None else float(k),
            max_rise=None if max_rise is None else float(max_rise),
            # the opening: a ramp warms up over its share of training from its floor; a target
            # known from the start opens cold (one step at start_factor) and the controller
            # climbs from there, at most max_rise× per measurement (the cold start)
            opening_steps=self.calibration.ramp_steps(total_steps) if ramp else 1,
            opening_floor=self.calibration.floor if ramp else start_factor,
        )
        self.monitor = TemperatureMonitor(
            model,
            measure_every=self.controller.measure_every,
            sites=sites,
            activations=activations,
            scan_every=scan_every,
            scan_lrs=SCALE_SCAN_LRS if scan_lrs is None else scan_lrs,
            optimizer=optimizer,
            granularity=granularity,
            pattern_length=pattern_length,
            compare_with=compare_with,
        )
        if self.calibration is not None and self.calibration.kind == "fixed":
            try:  # needs the monitor's granularity; a pattern granularity has no fixed start
                self.calibrated_start = self.calibration.fixed_start(self.monitor.granularity)
            except ValueError:
                self.monitor.close()
                raise
            target = self.calibration.fixed_target(self.monitor.granularity)
        self.target: TargetCurve | None = target  # None until a ramp calibration has ended
        self.shape_scans = 0
        # The law's shape parameter (σ or k) comes from a scan at step 0 unless given.
        self.shape_fitted = (sigma if response == "gaussian" else k) is not None
        self.last_measurement: Measurement | None = None
        if not self.shape_fitted or self.find_lr:
            self.monitor.request_scan(0)
        self._closed = False
        # The base constructor steps once to set the rate of step 0; that step measures
        # nothing. A flag of our own marks it: torch's `_is_initial` is private, and absent
        # from the older torch versions this package admits.
        self._constructed = False
        super().__init__(optimizer, last_epoch)
        self._constructed = True
        if self._rollback is not None:  # after the base constructor: its keys are in the groups
            self._rollback.keep_start(self.monitor.model, optimizer)

    # -- what users look at ----------------------------------------------------------------
    @property
    def sigma(self) -> float | None:
        """σ in use (``None`` until the first scan has been fitted)."""
        return self.controller.sigma

    @property
    def refit_sigma(self) -> bool:
        """Former name of :attr:`refit_shape` (deprecated)."""
        warnings.warn("refit_sigma is now refit_shape", FutureWarning, stacklevel=2)
        return self.refit_shape

    @property
    def k(self) -> float | None:
        """k of the Weibull law in use (``None`` until fitted)."""
        return self.controller.k

    @property
    def mu(self) -> float | None:
        """The last estimate of μ (ln of the critical learning rate)."""
        return self.controller.mu

    @property
    def calibration_samples(self) -> tuple[tuple[float, float], ...]:
        """The ``ramp`` warm-up's measurements so far, ``(λ_t, T̄_t)`` per measurement step
        (empty with a given target or the ``fixed`` calibration)."""
        return tuple(self._ramp_samples)

    @property
    def target_temperature(self) -> float | None:
        """The target C(t) in bits for the step about to be trained (``None`` during a ramp
        calibration's warm-up, before the target is known)."""
        return self.target_at(max(self.last_epoch, 0))

    def target_at(self, step: int) -> float | None:
        """The target C(step) in bits, or ``None`` while a ramp calibration is warming up."""
        if self.target is None:
            return None
        return self.controller.target_at(self.target, step)

    @property
    def granularity(self) -> Granularity:
        """What one activation pattern is for this scheduler's temperatures."""
        return self.monitor.granularity

    @property
    def diverged(self) -> bool:
        return self.controller.diverged

    @property
    def guard_events(self) -> tuple[GuardEvent, ...]:
        """Every cut of the rate by the guard so far, oldest first."""
        return tuple(self._guard_events)

    @property
    def probing(self) -> bool:
        """Whether the loss probe (``find_lr="probe"``) is setting the rates now."""
        return self.probe is not None and self.probe.running

    @property
    def lr_ceiling(self) -> float:
        """The highest rate the controller may choose now (``lr_max``, lowered by the guard)."""
        return self.controller.lr_max

    # -- LRScheduler -----------------------------------------------------------------------
    def get_lr(self) -> list[float]:  # type: ignore[override]
        lr = (self.probe if self.probing else self.controller).lr_at(self.last_epoch)
        ref = float(self.base_lrs[0])
        # (b / ref) first, so that group 0 gets exactly the controlled rate (ratio 1.0)
        return [lr * (float(b) / ref) if ref > 0 else lr for b in self.base_lrs]

    def step(self, inputs: Any = None, loss: float | torch.Tensor | None = None) -> None:  # type: ignore[override]
        """Finish training step t: measure on measurement steps, then set the rate of t+1.

        Call it once per training step, after ``optimizer.step()`` (with a ``GradScaler``,
        after ``scaler.step(optimizer)``, whether or not the scaler skipped the step).

        Args:
            inputs: the model inputs to measure on (a tensor, a tuple of positional arguments
                or a dict of keyword arguments). ``None`` (the default) replays the arguments
                of the step's last forward pass with gradients enabled: the batch just trained
                on, or with gradient accumulation its last micro-batch.
            loss: optionally, the step's loss (a tensor or a number). The guard watches its
                mean over the steps between measurements, read from the device once per
                measurement; a non-finite mean marks the run diverged and holds the rate.

        Raises:
            RuntimeError: the scheduler is closed, or no forward pass with gradients reached
                the sites during a measurement step.
            TypeError: an integer was passed, as in torch's deprecated ``step(epoch)``.
        """
        if not self._constructed:  # the base constructor's step: set the rate of step 0
            super().step()
            return
        if self._closed:
            raise RuntimeError(
                "ActCoolLR is closed: its hooks were removed by close(); create a new scheduler"
            )
        if isinstance(inputs, int):
            raise TypeError(
                f"ActCoolLR.step() takes the model inputs or nothing, not an epoch ({inputs!r}); "
                "call scheduler.step() once per training step, after optimizer.step()"
            )
        t = self.last_epoch
        if self.monitor.step_count != t:
            raise RuntimeError(
                f"scheduler is at step {t} but its monitor at {self.monitor.step_count}; "
                "call scheduler.step() exactly once per training step"
            )
        if loss is not None:
            value = loss.detach() if isinstance(loss, torch.Tensor) else float(loss)
            self._loss_sum = self._loss_sum + value
            self._loss_count += 1
            if self.probing:  # read every step, while it runs
                self.probe.add(t, self._rank_mean(float(value)))
        measurement = self.monitor.step(inputs)
        if measurement is not None:
            self.last_measurement = measurement
            given = self._loss_count > 0
            loss_mean = self._take_loss()
            probing = self.probing  # at this step's start: probe_window may end it
            if loss_mean is not None and not math.isfinite(loss_mean) and not probing:
                self.controller.mark_diverged(t, f"non-finite loss {loss_mean!r}")
            self._observe(t, measurement, loss_given=given)
            if probing:
                probe_window(self, t)
            else:
                self._guard(t, measurement, loss_mean)
                if branch_search_due(self, t):
                    run_branch_search(self, t)
        super().step()

    def _take_loss(self) -> float | None:
        """The mean of the losses given since the last measurement (``None`` if none were)."""
        if not self._loss_count:
            return None
        mean = self._rank_mean(self._peek_loss_sum() / self._loss_count)
        self._loss_sum, self._loss_count = 0.0, 0
        return mean

    @staticmethod
    def _rank_mean(value: float) -> float:
        """``value`` averaged over the ranks of distributed training (every rank then decides
        alike: the guard's cuts, the probe's end), else itself."""
        return float(mean_over_ranks(np.array([value], dtype=np.float64))[0])

    def _peek_loss_sum(self) -> float:
        total = self._loss_sum
        return float(total.item() if isinstance(total, torch.Tensor) else total)

    def _guard(self, t: int, m: Measurement, loss_mean: float | None) -> None:
        c = self.controller
        if self.guard is None or c.diverged:
            return
        lr = first_group_lr(self.optimizer)
        active = None if m.active is None else dict(zip(m.sites, m.active, strict=True))
        event = self.guard.check(
            t, lr, m.mean_temperature, loss_mean, sum(m.counts["bits"]), active
        )
        rollback, model = self._rollback, self.monitor.model
        if rollback is not None and t >= c.opening_steps:
            rollback.drop_start()
        if event is None:
            if rollback is not None:
                rollback.passed(t, lr, model, self.optimizer)
            return
        c.lower_ceiling(t, event.lr_after)
        back = None
        if rollback is not None:
            put_back = self.guard.calls_for_rollback(event)
            to_start = event.reason == "site_dark"
            back = rollback.tripped(
                t, c.measure_every, model, self.optimizer, put_back, to_start=to_start
            )
            if back == FROM_START:  # the start's losses again, and its warm-up climbs again
                self.guard.forget_loss()
                c.continue_opening(t, c.opening_floor * c.lr_peak)
        detail = event.detail
        if back is not None:
            detail += f"; back to {back}"
        # the ceiling as clamped
        event = dataclasses.replace(event, lr_after=c.lr_max, detail=detail)
        self._guard_events.append(event)
        logger.warning(
            "step %d: %s; cutting the learning rate from %.4g to %.4g for the rest of the run",
            t,
            event.detail,
            event.lr_before,
            event.lr_after,
        )

    def _observe(self, t: int, m: Measurement, loss_given: bool = False) -> None:
        c = self.controller
        if self.find_lr and self.found_lr is None and self.probe is None and m.scan is not None:
            find_peak(self, t, m, loss_given)
        gaussian = c.response == "gaussian"
        name = "sigma" if gaussian else "k"
        needs_shape = not self.shape_fitted
        if m.scan is not None and not reaches(m.scan):
            # the update did not reach the network (finder._scan_reaches): no shape from it
            if needs_shape:
                self.monitor.request_scan(t + c.measure_every)
        elif m.scan is not None and (needs_shape or self.refit_shape):
            self.shape_scans += 1
            fits = m.fits
            fit = None if fits is None else (fits.mean if gaussian else fits.weibull_mean)
            if fit is not None:
                value = fit.sigma if gaussian else fit.k
                setattr(c, name, value)
                self.shape_fitted = True
                logger.info(
                    "step %d: %s=%.3f from an LR range scan (rmse %.3f)", t, name, value, fit.rmse
                )
            elif needs_shape and self.shape_scans < _MAX_SHAPE_SCANS:
                logger.warning("step %d: no %s from the LR range scan; trying again", t, name)
                self.monitor.request_scan(t + c.measure_every)
            elif needs_shape:
                logger.warning(
                    "no %s after %d LR range scans; using %s=%.1f (pass %s= to choose)",
                    name,
                    self.shape_scans,
                    name,
                    _FALLBACK_SHAPE,
                    name,
                )
        if getattr(c, name) is None:
            setattr(c, name, _FALLBACK_SHAPE)  # provisional until a scan fits one
        lr_used = first_group_lr(self.optimizer)
        if self.target is None:  # a ramp calibration is warming up
            if t < c.opening_steps:
                self._ramp_samples.append((lr_used, m.mean_temperature))
                return
            self._end_ramp(t)
        fit = m.fits.mean if m.fits is not None else None
        c.observe(
            t,
            lr_used,
            m.mean_temperature,
            m.resolution,
            self.target,
            scan_mu=fit.mu if fit is not None else None,
        )

    def _end_ramp(self, t: int) -> None:
        assert self.calibration is not None
        c = self.controller
        lrs, temps = zip(*self._ramp_samples, strict=True) if self._ramp_samples else ((), ())
        t_start = ramp_start_temperature(lrs, temps, c.lr_peak)
        if t_start is None or t_start <= 0:
            t_start = DEFAULT_START_BITS * self.monitor.granularity.pattern_length / 64
            logger.warning(
                "step %d: no usable measurement during the warm-up; starting the cool-down "
                "from %.2f bits",
                t,
                t_start,
            )
        self.calibrated_start = float(t_start)
        self.target = cooldown_after(
            self.calibrated_start, c.opening_steps / c.total_steps, self.calibration.gamma
        )
        logger.info("step %d: warm-up calibrated T_start = %.3f bits", t, t_start)

    # -- lifetime --------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has removed the hooks."""
        return self._closed

    def close(self) -> None:
        """Remove every hook this scheduler installed: the monitor's hooks on the model and
        its step hooks on the optimizer. Idempotent. :meth:`step` raises afterwards;
        :meth:`get_last_lr` and :meth:`state_dict` still work. (The ``optimizer.step`` wrapper
        that torch's ``LRScheduler`` installs to detect stepping order is torch's own and
        stays, as with every torch scheduler.)"""
        self._closed = True
        self.monitor.close()

    def __enter__(self) -> ActCoolLR:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state (actcool/scheduler_state.py) ------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the identical rate sequence
        (:func:`~actcool.scheduler_state.scheduler_state`): plain numbers, but for copies of
        the model's and optimizer's state (tensors, on the CPU) while the loss probe runs or
        while the guard holds the state it would go back to."""
        return scheduler_state(self, super().state_dict())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`: the state (step, fitted law, segment, calibrated
        target, finder, guard's history) is restored, this scheduler's own settings (the
        constructor's arguments) are kept. Load the optimizer's state as well (it holds the
        rate of the next step), as for any torch scheduler."""
        check_state(state_dict)
        # torch's own keys go through torch's public load_state_dict
        super().load_state_dict(torch_keys(state_dict))
        load_scheduler_state(self, state_dict)
