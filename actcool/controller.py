"""The ActCoolLR control law as a pure state machine over plain numbers (docs/algorithm.md §4).

:class:`TemperatureController` knows nothing about models or optimizers: it is told what was
measured and answers which learning rate each step gets. :class:`~actcool.ActCoolLR` wraps it
with a :class:`~actcool.TemperatureMonitor`.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import warnings
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .calibration import warmup_lr
from .curves import TargetCurve
from .pattern_model import gaussian_lr_at, mu_from_observation
from .temperature import (
    clip_probability,
    probability_from_temperature,
    temperature_from_probability,
)
from .weibull_model import weibull_log_gain, weibull_lr_for_gain

__all__ = ["LEGACY_NAMES", "MAX_RISE", "RESPONSE_MODELS", "TemperatureController", "segment_lr"]

#: The response models the controller can invert (docs/algorithm.md §2, §4).
RESPONSE_MODELS = ("weibull", "gaussian")
#: The default limit of one rise: λ* ≤ MAX_RISE × λ_t.
MAX_RISE = 2.0
#: Field names before the words were settled (docs/algorithm.md, "Words"): the segment was
#: called a ramp and the opening a warm-up. Old states load, old keyword arguments still work.
LEGACY_NAMES = {
    "ramp_start": "segment_start",
    "ramp_from": "segment_from",
    "ramp_to": "segment_to",
    "warmup_steps": "opening_steps",
    "warmup_floor": "opening_floor",
}

logger = logging.getLogger(__name__)


def segment_lr(lr_from: float, lr_to: float, steps_since: int, period: int) -> float:
    """Rate ``steps_since`` steps after a measurement on a linear segment of ``period`` steps.

    Reaches ``lr_to`` exactly (not up to rounding) at ``steps_since == period`` and holds it
    afterwards (docs/algorithm.md §4.4).
    """
    if steps_since >= period:
        return lr_to
    return lr_from + (lr_to - lr_from) * steps_since / period


@dataclass
class TemperatureController:
    """docs/algorithm.md §4 as arithmetic: measured temperature in, learning rate per step out.

    Two control laws, by ``response``:

    - ``"weibull"``: ``T = a·λ^k``. Each measurement gives ``ln a_t = ln T̄_t − k·ln λ_t``; the
      controller smooths it, ``ln â ← β·ln â + (1 − β)·ln a_t`` (β = ``smoothing``), and aims
      at ``λ* = (C/â)^(1/k)``. With β = 0 that is exactly ``λ* = λ_t·(C/T̄_t)^(1/k)``.
    - ``"gaussian"`` (the paper's): ``μ_t = ln λ_t − σ·Φ⁻¹(P̄_t)``, smoothed the same way, and
      ``λ* = exp(μ̂ + σ·Φ⁻¹(P(C)))``.

    A single measurement is noisy (about 20% relative); the smoothing averages the model's
    one free parameter, not the temperature, so it does not lag behind rate changes.

    Attributes:
        lr_initial: λ_0, the rate of every step up to the first measurement.
        total_steps: N; the target is read at fraction ``min(t/N, 1)``.
        measure_every: K.
        lr_min, lr_max: clamp of λ*.
        response: ``"weibull"`` or ``"gaussian"``.
        smoothing: β in [0, 1), weight of the past in the parameter estimate.
        sigma: σ of the Gaussian model, or ``None`` until fitted.
        k: exponent of the Weibull model, or ``None`` until fitted.
        mu: the (smoothed) estimate of μ (Gaussian).
        log_gain: the (smoothed) estimate of ``ln a`` (Weibull).
        segment_start: step t of the last measurement (``None`` before the first).
        segment_from: λ_t, the rate trained with at that step.
        segment_to: λ*, reached at step t + K.
        diverged: set when a measured temperature, loss or rate was not finite.
        max_rise: λ* is at most ``max_rise × λ_t`` (``None``: no limit). A single cold
            measurement (noise, or a batch the network already fits) then cannot multiply the
            rate; falls are not limited.
        opening_steps, opening_floor: the opening, the rates before the first observation:
            linear from ``opening_floor·λ_0`` to λ_0 over ``opening_steps`` (0: λ_0
            throughout). ActCoolLR opens with the ``ramp`` calibration's warm-up, or else with
            the cold start's one step at ``start_factor·λ_0``.
        opening_from: ``(step, rate)`` once the peak moved during the opening
            (:meth:`continue_opening`): after ``step`` the opening rises linearly from ``rate``
            to the peak at its end instead.

    Each measurement starts a *segment*: the rate moves linearly from λ_t to λ* over the next K
    steps (:func:`segment_lr`). States and keyword arguments with the names these had before
    (``ramp_start``, ``ramp_from``, ``ramp_to``, ``warmup_steps``, ``warmup_floor``) still
    work: :data:`LEGACY_NAMES`.
    """

    lr_initial: float
    total_steps: int
    measure_every: int = 10
    lr_min: float = 1e-6
    lr_max: float = 10.0
    response: str = "weibull"
    smoothing: float = 0.5
    sigma: float | None = None
    k: float | None = None
    mu: float | None = None
    log_gain: float | None = None
    opening_steps: int = 0
    opening_floor: float = 1.0
    max_rise: float | None = MAX_RISE
    opening_from: tuple[int, float] | None = None
    segment_start: int | None = None
    segment_from: float = 0.0
    segment_to: float = 0.0
    diverged: bool = False

    #: The fields that are settings, not state: ActCoolLR.load_state_dict keeps its own.
    SETTINGS: ClassVar[tuple[str, ...]] = (
        "total_steps",
        "measure_every",
        "lr_min",
        "response",
        "smoothing",
        "max_rise",
        "opening_steps",
        "opening_floor",
    )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr_min) and math.isfinite(self.lr_max)):
            raise ValueError(f"lr_min and lr_max must be finite, got {self.lr_min}, {self.lr_max}")
        if not 0 < self.lr_min <= self.lr_max:
            raise ValueError(
                f"need 0 < lr_min <= lr_max, got lr_min={self.lr_min}, lr_max={self.lr_max}"
            )
        for name in ("total_steps", "measure_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))  # plain ints in state_dict()
        if isinstance(self.opening_steps, bool) or not (
            isinstance(self.opening_steps, int) and self.opening_steps >= 0
        ):
            raise ValueError(f"opening_steps must be an integer >= 0, got {self.opening_steps!r}")
        if not (isinstance(self.opening_floor, (int, float)) and 0 < self.opening_floor <= 1):
            raise ValueError(f"opening_floor must lie in (0, 1], got {self.opening_floor!r}")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be a finite number > 0, got {self.sigma!r}")
        if self.k is not None and not (math.isfinite(self.k) and self.k > 0):
            raise ValueError(f"k must be a finite number > 0, got {self.k!r}")
        if self.response not in RESPONSE_MODELS:
            raise ValueError(
                f"unknown response model {self.response!r}; choose one of: "
                + ", ".join(RESPONSE_MODELS)
            )
        if self.max_rise is not None and not (math.isfinite(self.max_rise) and self.max_rise >= 1):
            raise ValueError(
                f"max_rise must be a finite number >= 1 or None, got {self.max_rise!r}"
            )
        if not (isinstance(self.smoothing, (int, float)) and 0 <= self.smoothing < 1):
            raise ValueError(f"smoothing must lie in [0, 1), got {self.smoothing!r}")

    @property
    def lr_peak(self) -> float:
        """The rate the opening rises to: λ_0, or the ceiling where that is lower (a user's
        ``lr_max`` below the optimizer's rate, or a ceiling the guard lowered)."""
        return min(self.lr_initial, self.lr_max)

    def lr_at(self, step: int) -> float:
        """The reference learning rate of training step ``step``."""
        if self.segment_start is None:
            if self.opening_from is not None and step > self.opening_from[0]:
                start, lr = self.opening_from
                return segment_lr(
                    lr, self.lr_peak, step - start, max(1, self.opening_steps - start)
                )
            return warmup_lr(step, self.opening_steps, self.lr_peak, self.opening_floor)
        if step <= self.segment_start:
            return self.segment_from
        since = step - self.segment_start
        return segment_lr(self.segment_from, self.segment_to, since, self.measure_every)

    def target_at(self, curve: TargetCurve, step: int) -> float:
        return curve(min(step / self.total_steps, 1.0))

    def observe(
        self,
        step: int,
        lr_used: float,
        mean_temperature: float,
        resolution: int,
        curve: TargetCurve,
        scan_mu: float | None = None,
    ) -> float:
        """Take the measurement of step t (trained at λ_t) and aim the segment at λ*
        (docs/algorithm.md §4.2-4).

        ``resolution`` is the number of independent patterns behind the mean temperature
        (``Measurement.resolution``: B for ``sample``); probabilities are clipped to
        ``[1/(2n), 1 − 1/(2n)]`` with it before ``Φ⁻¹``.

        ``scan_mu``, if given, is μ fitted by an LR range scan of this same step. It replaces
        the point estimate only when the measured temperature is saturated (P̄_t clipped to
        0 or 1 − 1/(2n)), where ``ln λ_t − σ·Φ⁻¹(P̄_t)`` is biased by the clip; this extends
        docs/algorithm.md §4.2, which has no answer for saturation (typically at step 0 with a too-large λ_0).

        Returns λ*, the rate step ``t + K`` will get. A non-finite temperature, or a λ* that
        cannot be computed, holds the rate at λ_t and sets :attr:`diverged` (docs/algorithm.md §4.6);
        after that the rate stays held.
        """
        lr_t = float(lr_used)
        if self.diverged:  # once diverged, the rate stays where it was held
            held = self.lr_at(step)
            self.segment_start, self.segment_from, self.segment_to = step, held, held
            return held
        self.segment_start, self.segment_from = step, lr_t
        if not (math.isfinite(lr_t) and math.isfinite(mean_temperature) and mean_temperature >= 0):
            return self._hold(step, lr_t, f"temperature {mean_temperature!r} at lr {lr_t!r}")
        target = self.target_at(curve, step + self.measure_every)
        if self.response == "weibull":
            lr_star = self._weibull(lr_t, mean_temperature, resolution, target)
        else:
            lr_star = self._gaussian(lr_t, mean_temperature, resolution, target, scan_mu)
        if lr_star is None or math.isnan(lr_star):
            return self._hold(
                step, lr_t, f"mu={self.mu!r}, ln a={self.log_gain!r}, lr*={lr_star!r}"
            )
        if self.max_rise is not None and lr_t > 0:
            lr_star = min(lr_star, self.max_rise * lr_t)
        self.segment_to = min(max(lr_star, self.lr_min), self.lr_max)
        return self.segment_to

    def _smooth(self, previous: float | None, value: float) -> float:
        if previous is None or not math.isfinite(previous):
            return value
        return self.smoothing * previous + (1.0 - self.smoothing) * value

    def _weibull(
        self, lr_t: float, temperature: float, resolution: int, target: float
    ) -> float | None:
        if self.k is None:
            raise RuntimeError("k is not known yet: fit it from an LR range scan first")
        # A temperature of 0 means "below what the measurement resolves": read it as the
        # smallest temperature it can tell from 0, so that the rate rises rather than stalls.
        floor = temperature_from_probability(0.5 / resolution)
        gain = self.log_gain
        if temperature <= 0 < target < floor and gain is not None and math.isfinite(gain):
            # Below the floor the target cannot be told from 0 either: the reading says nothing
            # of the gain, and the floor read as the temperature would push the rate down each
            # measurement as if the network ran hot (an autoencoder whose 8 bottleneck units
            # died went to lr_min in 80 steps). The rate follows the target with the gain as
            # last measured.
            return float(weibull_lr_for_gain(target, gain, self.k))
        log_gain = weibull_log_gain(max(lr_t, self.lr_min), max(temperature, floor), self.k)
        if not math.isfinite(log_gain):
            return None
        self.log_gain = self._smooth(self.log_gain, log_gain)
        if target <= 0:
            return self.lr_min
        return float(weibull_lr_for_gain(target, self.log_gain, self.k))

    def _gaussian(
        self, lr_t: float, temperature: float, resolution: int, target: float, scan_mu: float | None
    ) -> float | None:
        if self.sigma is None:
            raise RuntimeError("sigma is not known yet: fit it from an LR range scan first")
        p_raw = probability_from_temperature(temperature)
        p_t = clip_probability(p_raw, resolution)
        eps = 0.5 / resolution
        saturated = p_raw <= eps + 1e-12 or p_raw >= 1.0 - eps - 1e-12
        if saturated and scan_mu is not None and math.isfinite(scan_mu):
            mu = float(scan_mu)
        else:
            # ln λ_t needs λ_t > 0: a zero rate is read as the smallest rate allowed.
            mu = mu_from_observation(max(lr_t, self.lr_min), p_t, self.sigma)
        if not math.isfinite(mu):
            return None
        self.mu = self._smooth(self.mu, mu)
        return float(gaussian_lr_at(target, self.mu, self.sigma, resolution))

    def _hold(self, step: int, lr_t: float, what: str) -> float:
        self.diverged = True
        held = lr_t if math.isfinite(lr_t) else self.lr_min
        self.segment_from = self.segment_to = min(max(held, self.lr_min), self.lr_max)
        logger.warning("step %d: non-finite %s; holding the learning rate (diverged)", step, what)
        return self.segment_to

    def continue_opening(self, step: int, lr: float) -> None:
        """From step ``step`` (trained at ``lr``) the opening rises linearly to the peak at its
        end (after the peak was moved during the opening, e.g. by a branch search)."""
        self.opening_from = (int(step), float(lr))

    def lower_ceiling(self, step: int, ceiling: float) -> None:
        """Cut the rate to at most ``ceiling`` from step ``step + 1`` on and keep it there for the
        rest of the run (the guard's answer to a rate that is breaking the network, §4.7).
        The ceiling never rises again and never falls below ``lr_min``."""
        self.lr_max = min(self.lr_max, max(float(ceiling), self.lr_min))
        if self.segment_start is not None:
            if self.segment_start < step:  # cut now, not at the end of the segment
                self.segment_start, self.segment_from = step, self.lr_at(step)
            self.segment_from = min(self.segment_from, self.lr_max)
            self.segment_to = min(self.segment_to, self.lr_max)

    def mark_diverged(self, step: int, reason: str) -> None:
        """Record divergence seen outside the controller (e.g. a non-finite loss) and hold
        the rate of step ``step`` from then on."""
        if not self.diverged:
            logger.warning("step %d: %s; the run has diverged", step, reason)
        self.diverged = True
        held = self.lr_at(step)
        self.segment_start, self.segment_from, self.segment_to = step, held, held

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any], keep_settings: bool = False) -> None:
        """Restore :meth:`state_dict`; with ``keep_settings``, the fields in :attr:`SETTINGS`
        keep their values (a state from before the Weibull law still brings its law)."""
        state = {LEGACY_NAMES.get(k, k): v for k, v in state.items()}  # older names
        if "response" not in state:
            # Saved before the Weibull law existed: the Gaussian law, without smoothing.
            state = {**state, "response": "gaussian", "smoothing": 0.0, "max_rise": None}
        elif keep_settings:
            state = {k: v for k, v in state.items() if k not in self.SETTINGS}
        for key, value in state.items():
            if key not in self.__dataclass_fields__:
                raise KeyError(f"unknown controller state key {key!r}")
            setattr(self, key, value)
        if self.opening_from is not None:  # a list after a round trip through JSON
            self.opening_from = (int(self.opening_from[0]), float(self.opening_from[1]))


def _renamed(old: str, new: str) -> str:
    return f"TemperatureController's {old!r} is now {new!r}"


_generated_init = TemperatureController.__init__


@functools.wraps(_generated_init)
def _init(self: TemperatureController, *args: Any, **kwargs: Any) -> None:
    renamed = [(old, new) for old, new in LEGACY_NAMES.items() if old in kwargs]
    for old, new in renamed:
        if new in kwargs:
            raise TypeError(f"give {new!r}, not both {new!r} and {old!r}")
        kwargs[new] = kwargs.pop(old)
    if renamed:
        message = "; ".join(_renamed(old, new) for old, new in renamed)
        warnings.warn(message, FutureWarning, stacklevel=2)
    _generated_init(self, *args, **kwargs)


TemperatureController.__init__ = _init  # type: ignore[method-assign]


def _legacy_property(old: str, new: str) -> property:
    def get(self: TemperatureController) -> Any:
        warnings.warn(_renamed(old, new), FutureWarning, stacklevel=2)
        return getattr(self, new)

    def set_(self: TemperatureController, value: Any) -> None:
        warnings.warn(_renamed(old, new), FutureWarning, stacklevel=2)
        setattr(self, new, value)

    return property(get, set_, doc=f"Deprecated name of :attr:`{new}`.")


for _old, _new in LEGACY_NAMES.items():
    setattr(TemperatureController, _old, _legacy_property(_old, _new))
