"""The ActCoolLR control law as a pure state machine over plain numbers (SPEC §4).

:class:`TemperatureController` knows nothing about models or optimizers: it is told what was
measured and answers which learning rate each step gets. :class:`~actcool.ActCoolLR` wraps it
with a :class:`~actcool.TemperatureMonitor`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from .curves import TargetCurve
from .pattern_model import lr_for_probability, mu_from_observation
from .temperature import clip_probability, probability_from_temperature

__all__ = ["TemperatureController", "ramp_lr"]

logger = logging.getLogger(__name__)


def ramp_lr(lr_from: float, lr_to: float, steps_since: int, period: int) -> float:
    """Rate ``steps_since`` steps after a measurement on a linear ramp of ``period`` steps.

    Reaches ``lr_to`` exactly (not up to rounding) at ``steps_since == period`` and holds it
    afterwards (SPEC §4.4).
    """
    if steps_since >= period:
        return lr_to
    return lr_from + (lr_to - lr_from) * steps_since / period


@dataclass
class TemperatureController:
    """SPEC §4 as arithmetic: measured temperature in, learning rate per step out.

    Attributes:
        lr_initial: λ_0, the rate of every step up to the first measurement.
        total_steps: N; the target is read at fraction ``min(t/N, 1)``.
        measure_every: K.
        lr_min, lr_max: clamp of λ*.
        sigma: σ of the pattern model, or ``None`` until fitted.
        mu: the last estimate of μ.
        ramp_start: step t of the last measurement (``None`` before the first).
        ramp_from: λ_t, the rate trained with at that step.
        ramp_to: λ*, reached at step t + K.
        diverged: set when a measured temperature, loss or rate was not finite.
    """

    lr_initial: float
    total_steps: int
    measure_every: int = 10
    lr_min: float = 1e-6
    lr_max: float = 10.0
    sigma: float | None = None
    mu: float | None = None
    ramp_start: int | None = None
    ramp_from: float = 0.0
    ramp_to: float = 0.0
    diverged: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr_min) and math.isfinite(self.lr_max)):
            raise ValueError(f"lr_min and lr_max must be finite, got {self.lr_min}, {self.lr_max}")
        if not 0 < self.lr_min <= self.lr_max:
            raise ValueError(
                f"need 0 < lr_min <= lr_max, got lr_min={self.lr_min}, lr_max={self.lr_max}"
            )
        if not self.total_steps >= 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be a finite number > 0, got {self.sigma!r}")

    def lr_at(self, step: int) -> float:
        """The reference learning rate of training step ``step``."""
        if self.ramp_start is None or step <= self.ramp_start:
            return self.lr_initial if self.ramp_start is None else self.ramp_from
        return ramp_lr(self.ramp_from, self.ramp_to, step - self.ramp_start, self.measure_every)

    def target_at(self, curve: TargetCurve, step: int) -> float:
        return curve(min(step / self.total_steps, 1.0))

    def observe(
        self,
        step: int,
        lr_used: float,
        mean_temperature: float,
        batch_size: int,
        curve: TargetCurve,
        scan_mu: float | None = None,
    ) -> float:
        """Take the measurement of step t (trained at λ_t) and set the ramp to λ* (SPEC §4.2-4).

        ``scan_mu``, if given, is μ fitted by an LR range scan of this same step. It replaces
        the point estimate only when the measured temperature is saturated (P̄_t clipped to
        0 or 1 − 1/(2B)), where ``ln λ_t − σ·Φ⁻¹(P̄_t)`` is biased by the clip; this extends
        SPEC §4.2, which has no answer for saturation (typically at step 0 with a too-large λ_0).

        Returns λ*, the rate step ``t + K`` will get. A non-finite temperature, or a λ* that
        cannot be computed, holds the rate at λ_t and sets :attr:`diverged` (SPEC §4.6);
        after that the rate stays held.
        """
        lr_t = float(lr_used)
        if self.diverged:  # once diverged, the rate stays where it was held
            held = self.lr_at(step)
            self.ramp_start, self.ramp_from, self.ramp_to = step, held, held
            return held
        self.ramp_start, self.ramp_from = step, lr_t
        if self.sigma is None:
            raise RuntimeError("sigma is not known yet: fit it from an LR range scan first")
        if not (math.isfinite(lr_t) and math.isfinite(mean_temperature) and mean_temperature >= 0):
            return self._hold(step, lr_t, f"temperature {mean_temperature!r} at lr {lr_t!r}")
        p_raw = probability_from_temperature(mean_temperature)
        p_t = clip_probability(p_raw, batch_size)
        eps = 0.5 / batch_size
        saturated = p_raw <= eps + 1e-12 or p_raw >= 1.0 - eps - 1e-12
        if saturated and scan_mu is not None and math.isfinite(scan_mu):
            mu = float(scan_mu)
        else:
            # ln λ_t needs λ_t > 0: a zero rate is read as the smallest rate allowed.
            mu = mu_from_observation(max(lr_t, self.lr_min), p_t, self.sigma)
        target = self.target_at(curve, step + self.measure_every)
        p_star = clip_probability(probability_from_temperature(target), batch_size)
        lr_star = lr_for_probability(mu, self.sigma, p_star)
        if not math.isfinite(mu) or math.isnan(lr_star):
            return self._hold(step, lr_t, f"mu={mu!r}, lr*={lr_star!r}")
        self.mu = mu
        self.ramp_to = min(max(lr_star, self.lr_min), self.lr_max)
        return self.ramp_to

    def _hold(self, step: int, lr_t: float, what: str) -> float:
        self.diverged = True
        held = lr_t if math.isfinite(lr_t) else self.lr_min
        self.ramp_from = self.ramp_to = min(max(held, self.lr_min), self.lr_max)
        logger.warning("step %d: non-finite %s; holding the learning rate (diverged)", step, what)
        return self.ramp_to

    def mark_diverged(self, step: int, reason: str) -> None:
        """Record divergence seen outside the controller (e.g. a non-finite loss) and hold
        the rate of step ``step`` from then on."""
        if not self.diverged:
            logger.warning("step %d: %s; the run has diverged", step, reason)
        self.diverged = True
        held = self.lr_at(step)
        self.ramp_start, self.ramp_from, self.ramp_to = step, held, held

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if key not in self.__dataclass_fields__:
                raise KeyError(f"unknown controller state key {key!r}")
            setattr(self, key, value)
