"""The default target's start temperature, calibrated for the run (docs/algorithm.md §5).

``ActCoolLR(optimizer, model, total_steps=N)`` with no target follows a linear cool-down
(power curve, γ = 1). Its start temperature is not the paper's
(:data:`~actcool.curves.PAPER_T_START` bits, a number of the paper's measure on the paper's
models) but comes from one of two calibrations:

- ``fixed``: ``T_start`` = 2 bits of ``unit:64`` (what a well-tuned 1-cycle reaches at its peak
  rate on this project's models), scaled with the pattern length for ``unit:L`` (for small
  flip rates ``T`` is proportional to L). Holding a target from step 0 needs no warm-up (the
  cold start): the temperature per unit rate is large early, so the controller starts with
  small rates.
- ``ramp``: the rate warms up linearly from ``λ_peak·floor`` to the optimizer's rate
  ``λ_peak`` over the first ``fraction`` of training while the temperature is measured; then
  ``T_start = λ_peak × median(T̄/λ)`` over the second half of the warm-up, and the target
  cools linearly from ``T_start`` at the end of the warm-up to 0 at the end of training.

Either cools along a power curve of exponent ``gamma`` instead when given one (``"ramp:0.25:2"``:
hotter for longer).

``"auto"`` (the default) is ``ramp``: in the reproduction it matched the best tuned 1-cycle on
ResNet-20/CIFAR-10 where ``fixed`` lost 8.6 points, and was level with ``fixed`` on
convnet4/Fashion-MNIST (docs/algorithm.md §5 has the numbers and why).

Everything here is pure arithmetic; :class:`~actcool.ActCoolLR` holds the state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .curves import PowerCurve, TargetCurve
from .granularity import DEFAULT_PATTERN_LENGTH, Granularity

__all__ = [
    "AUTO",
    "CALIBRATIONS",
    "START_FACTOR",
    "Calibration",
    "ramp_start_temperature",
    "warmup_lr",
]

CALIBRATIONS = ("fixed", "ramp")
#: What ``"auto"``, the default, means.
AUTO = "ramp"
#: T_start of the ``fixed`` calibration, in bits of unit:64.
DEFAULT_START_BITS = 2.0
#: Where a run's rate starts, as a share of the optimizer's rate: 1-cycle's first rate (1/25).
START_FACTOR = 0.04


@dataclass(frozen=True)
class Calibration:
    """How the default target's start temperature is found.

    ``Calibration()`` is what ``ActCoolLR`` uses by default (``"auto"``: :data:`AUTO`).

    Attributes:
        kind: ``"fixed"`` or ``"ramp"`` (default :data:`AUTO`).
        start_bits: ``fixed``: the start temperature in bits of ``unit:64``.
        fraction: ``ramp``: the warm-up's share of training, in (0, 1).
        floor: ``ramp``: the warm-up starts at ``floor × λ_peak`` (1-cycle's 1/25 by default).
        gamma: the cool-down's exponent (the power curve's γ): 1 is linear, > 1 stays hotter
            for longer, < 1 cools early.
    """

    kind: str = AUTO
    start_bits: float = DEFAULT_START_BITS
    fraction: float = 0.25
    floor: float = START_FACTOR
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in CALIBRATIONS:
            raise ValueError(
                f"unknown calibration {self.kind!r}; choose one of: {', '.join(CALIBRATIONS)}"
            )
        if not (math.isfinite(self.start_bits) and self.start_bits > 0):
            raise ValueError(f"start_bits must be a finite number > 0, got {self.start_bits!r}")
        if not 0 < self.fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1), got {self.fraction!r}")
        if not 0 < self.floor <= 1:
            raise ValueError(f"floor must lie in (0, 1], got {self.floor!r}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a finite number > 0, got {self.gamma!r}")

    @classmethod
    def parse(cls, value: str | Calibration | dict[str, Any]) -> Calibration:
        """``"auto"`` (the default: :data:`AUTO`), ``"fixed"``, ``"fixed:2.5"`` (start bits),
        ``"ramp"``, ``"ramp:0.3"`` (fraction), either with a second number for the cool-down's
        γ (``"ramp:0.25:2"``), a :class:`Calibration` or its :meth:`to_dict`."""
        if isinstance(value, Calibration):
            return value
        if isinstance(value, dict):
            return cls(**value)
        if not isinstance(value, str):
            raise TypeError(
                f"calibration must be 'fixed', 'ramp' (optionally ':number') or a Calibration, "
                f"got {type(value).__name__}"
            )
        kind, *numbers = value.strip().split(":")
        if kind == "auto":
            if numbers:
                raise ValueError(f"bad calibration {value!r}: auto takes no number")
            return cls(AUTO)
        if len(numbers) > 2:
            raise ValueError(
                f"bad calibration {value!r}: at most two numbers, e.g. 'ramp:0.25:2' "
                "(the warm-up's share, the cool-down's gamma)"
            )
        try:
            xs = [float(x) for x in numbers]
        except ValueError:
            raise ValueError(
                f"bad calibration {value!r}: the parts after ':' must be numbers"
            ) from None
        if not xs:
            return cls(kind)
        first = {"start_bits": xs[0]} if kind == "fixed" else {"fraction": xs[0]}
        return cls(kind, **first, **({"gamma": xs[1]} if len(xs) == 2 else {}))

    def __str__(self) -> str:
        first = self.start_bits if self.kind == "fixed" else self.fraction
        gamma = f":{self.gamma:g}" if self.gamma != 1.0 else ""
        return f"{self.kind}:{first:g}{gamma}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fixed_start(self, granularity: Granularity) -> float:
        """The ``fixed`` start temperature in bits of ``granularity``.

        Raises:
            ValueError: a pattern granularity (``sample``, ``position``): its bits depend on
                the network's width, so no fixed number carries over; use ``ramp`` or a target.
        """
        if granularity.kind != "unit":
            raise ValueError(
                f"a fixed start temperature is defined for the unit granularity, not "
                f"{str(granularity)!r} (its temperature depends on the layer widths); pass "
                "calibration='ramp' or an explicit target"
            )
        return self.start_bits * granularity.pattern_length / DEFAULT_PATTERN_LENGTH

    def fixed_target(self, granularity: Granularity) -> TargetCurve:
        """The default target of the ``fixed`` calibration: the power curve from its start."""
        return PowerCurve(self.fixed_start(granularity), self.gamma)

    def ramp_steps(self, total_steps: int) -> int:
        """Length of the ``ramp`` warm-up in steps (at least 1)."""
        return max(1, round(self.fraction * total_steps))


def warmup_lr(step: int, ramp_steps: int, lr_peak: float, floor: float) -> float:
    """Rate of ``step`` on the linear warm-up from ``floor·λ_peak`` (step 0) to ``λ_peak``."""
    if step >= ramp_steps:
        return lr_peak
    return lr_peak * (floor + (1.0 - floor) * step / ramp_steps)


def ramp_start_temperature(
    lrs: Sequence[float], temperatures: Sequence[float], lr_peak: float
) -> float | None:
    """``λ_peak × median(T̄/λ)`` over the second half of the warm-up's measurements.

    Measurements at a zero or non-finite rate, or with a non-finite temperature, are skipped.
    ``None`` when none is left (the caller then falls back, e.g. to the fixed start).
    """
    pairs = [
        (lr, t)
        for lr, t in zip(lrs, temperatures, strict=True)
        if math.isfinite(lr) and lr > 0 and math.isfinite(t) and t >= 0
    ]
    if not pairs:
        return None
    late = pairs[len(pairs) // 2 :]
    return float(lr_peak * np.median([t / lr for lr, t in late]))


def cooldown_after(t_start: float, fraction: float, gamma: float = 1.0) -> TargetCurve:
    """Hold ``t_start`` until ``fraction`` of training, then cool to 0 at the end along the
    power curve of exponent ``gamma`` (1: linearly)."""
    return PowerCurve(t_start, gamma, hold=fraction)
