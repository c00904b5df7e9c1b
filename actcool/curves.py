"""Target temperature curves C(f) in bits over the fraction of training f ∈ [0, 1] (docs/algorithm.md §5).

A curve is data, never code: every curve serialises to a plain dict with :meth:`to_dict` and
is rebuilt with :func:`curve_from_dict`, so it can be stored in a checkpoint, a database or a
JSON file. Evaluation is a pure function of the fraction.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ConstantCurve",
    "CosineCurve",
    "DrawnCurve",
    "PowerCurve",
    "ReplayCurve",
    "TargetCurve",
    "curve_from_dict",
]

# The paper's starting temperature: 89% of patterns change per step.
PAPER_T_START = 3.17


def _finite_nonneg(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


class TargetCurve(ABC):
    """A target temperature curve: ``curve(fraction) -> bits``.

    Call with a float (returns a float) or an array of fractions (returns an array). Fractions
    outside [0, 1] are clamped to it.
    """

    kind: ClassVar[str]

    def __call__(self, fraction: float | ArrayLike) -> Any:
        scalar = np.ndim(fraction) == 0
        f = np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0)
        if np.any(np.isnan(f)):
            raise ValueError("fraction of training must not be NaN")
        out = np.maximum(self._evaluate(f), 0.0)
        return float(out) if scalar else out

    @abstractmethod
    def _evaluate(self, f: NDArray[np.float64]) -> NDArray[np.float64]: ...

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Plain-data definition (JSON-serialisable); inverse of :func:`curve_from_dict`."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TargetCurve) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "kind")
        return f"{type(self).__name__}({params})"


class PowerCurve(TargetCurve):
    """The paper's cool-down family ``C(f) = T_start · (1 − f^γ)`` (docs/algorithm.md §5).

    γ = 1 is linear cooling; γ > 1 stays hot longer; γ < 1 cools early. With ``hold`` = h > 0
    the start is held over the first h of training (the ``ramp`` calibration's warm-up) and the
    cool-down spans the rest: ``C(f) = T_start`` for f ≤ h,
    ``T_start · (1 − ((f − h)/(1 − h))^γ)`` after.

    Args:
        t_start: temperature at the start of the cool-down in bits (paper: 3.17).
        gamma: exponent, > 0.
        hold: fraction of training before the cool-down starts, in [0, 1).
    """

    kind = "power"

    def __init__(
        self, t_start: float = PAPER_T_START, gamma: float = 1.0, hold: float = 0.0
    ) -> None:
        self.t_start = _finite_nonneg("t_start", t_start)
        g = float(gamma)
        if not math.isfinite(g) or g <= 0:
            raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
        self.gamma = g
        h = float(hold)
        if not 0.0 <= h < 1.0:
            raise ValueError(f"hold must lie in [0, 1), got {hold!r}")
        self.hold = h

    def _evaluate(self, f: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.clip((f - self.hold) / (1.0 - self.hold), 0.0, 1.0)
        return self.t_start * (1.0 - x**self.gamma)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "t_start": self.t_start, "gamma": self.gamma}
        return {**d, "hold": self.hold} if self.hold > 0 else d


class ConstantCurve(TargetCurve):
    """A constant target temperature."""

    kind = "constant"

    def __init__(self, temperature: float) -> None:
        self.temperature = _finite_nonneg("temperature", temperature)

    def _evaluate(self, f: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.full_like(f, self.temperature)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "temperature": self.temperature}


class CosineCurve(TargetCurve):
    """Half-cosine cool-down from ``t_start`` to ``t_end``: ``t_end + (t_start − t_end)(1 + cos πf)/2``."""

    kind = "cosine"

    def __init__(self, t_start: float = PAPER_T_START, t_end: float = 0.0) -> None:
        self.t_start = _finite_nonneg("t_start", t_start)
        self.t_end = _finite_nonneg("t_end", t_end)

    def _evaluate(self, f: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.t_end + (self.t_start - self.t_end) * 0.5 * (1.0 + np.cos(np.pi * f))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "t_start": self.t_start, "t_end": self.t_end}


def _validate_points(
    fractions: Sequence[float], temperatures: Sequence[float], what: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate control points (docs/algorithm.md §5); report problems, never reorder silently."""
    fr, te = list(fractions), list(temperatures)
    if len(fr) != len(te):
        raise ValueError(f"{what}: {len(fr)} fractions but {len(te)} temperatures")
    if len(fr) < 2:
        raise ValueError(f"{what}: need at least two points, got {len(fr)}")
    out_f, out_t = [], []
    for i, (f, t) in enumerate(zip(fr, te, strict=True)):
        try:
            fv, tv = float(f), float(t)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: point {i} ({f!r}, {t!r}) is not a pair of numbers") from None
        if not (math.isfinite(fv) and math.isfinite(tv)):
            raise ValueError(f"{what}: point {i} ({f!r}, {t!r}) is not finite")
        if not 0.0 <= fv <= 1.0:
            raise ValueError(
                f"{what}: point {i} has fraction {fv!r}; fractions of training must lie in [0, 1]"
            )
        if tv < 0:
            raise ValueError(f"{what}: point {i} has temperature {tv!r}; temperatures must be >= 0")
        if out_f and fv == out_f[-1]:
            raise ValueError(f"{what}: points {i - 1} and {i} share the fraction {fv!r}")
        if out_f and fv < out_f[-1]:
            raise ValueError(
                f"{what}: point {i} (fraction {fv!r}) comes before point {i - 1} "
                f"(fraction {out_f[-1]!r}); give the points sorted by fraction"
            )
        out_f.append(fv)
        out_t.append(tv)
    return np.asarray(out_f), np.asarray(out_t)


class DrawnCurve(TargetCurve):
    """A curve through control points ``(fraction, temperature)`` (docs/algorithm.md §5).

    ``interpolation="linear"`` is piecewise linear; ``"pchip"`` is SciPy's shape-preserving
    monotone cubic (no overshoot, so never below 0). Constant before the first and after the
    last point.

    Args:
        points: sequence of ``(fraction, temperature)`` pairs, sorted by fraction, fractions
            in [0, 1] and distinct, temperatures finite and >= 0, at least two.
        interpolation: ``"linear"`` or ``"pchip"``.

    Raises:
        ValueError: naming the offending point.
    """

    kind = "drawn"
    INTERPOLATIONS = ("linear", "pchip")

    def __init__(self, points: Sequence[Sequence[float]], interpolation: str = "linear") -> None:
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(
                f"unknown interpolation {interpolation!r}; choose one of: "
                + ", ".join(self.INTERPOLATIONS)
            )
        pts = list(points)
        for i, p in enumerate(pts):
            if not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 2:
                raise ValueError(
                    f"drawn curve: point {i} ({p!r}) is not a (fraction, temperature) pair"
                )
        self.fractions, self.temperatures = _validate_points(
            [p[0] for p in pts], [p[1] for p in pts], "drawn curve"
        )
        self.interpolation = interpolation
        self._pchip = None
        if interpolation == "pchip":
            from scipy.interpolate import PchipInterpolator

            self._pchip = PchipInterpolator(self.fractions, self.temperatures, extrapolate=False)

    @property
    def points(self) -> list[tuple[float, float]]:
        return list(zip(self.fractions.tolist(), self.temperatures.tolist(), strict=True))

    def _evaluate(self, f: NDArray[np.float64]) -> NDArray[np.float64]:
        if self._pchip is None:
            return np.interp(f, self.fractions, self.temperatures)
        inside = np.clip(f, self.fractions[0], self.fractions[-1])
        return np.asarray(self._pchip(inside), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "points": [list(p) for p in self.points],
            "interpolation": self.interpolation,
        }


#: Bins of :meth:`ReplayCurve.from_measurements`: each averages 5% of the measured run.
REPLAY_POINTS = 20


class ReplayCurve(TargetCurve):
    """Replay of a measured mean-temperature profile, resampled to a new run's length (docs/algorithm.md §5).

    Linear interpolation between the given samples; constant outside them.

    Args:
        fractions: fractions of training at which the profile was measured, sorted, in [0, 1].
        temperatures: measured mean temperatures in bits, >= 0.
    """

    kind = "replay"

    def __init__(self, fractions: Sequence[float], temperatures: Sequence[float]) -> None:
        self.fractions, self.temperatures = _validate_points(
            fractions, temperatures, "replay curve"
        )

    @classmethod
    def from_measurements(
        cls,
        steps: ArrayLike,
        temperatures: ArrayLike,
        total_steps: int | None = None,
        points: int = REPLAY_POINTS,
    ) -> ReplayCurve:
        """Build a replay from a run's measured ``(step, mean temperature)`` series.

        The series is averaged into at most ``points`` equal bins of training and normalised
        by ``total_steps`` (default: the last step); non-finite measurements are dropped. A
        single measurement is noisy (20–40% relative), so the default bins are wide (5% of
        training): a replay that followed every measurement would chase the source run's
        noise with its own (docs/algorithm.md §5).
        """
        s = np.asarray(steps, dtype=np.float64).ravel()
        t = np.asarray(temperatures, dtype=np.float64).ravel()
        if s.shape != t.shape:
            raise ValueError(f"steps and temperatures differ in length: {s.size} vs {t.size}")
        keep = np.isfinite(s) & np.isfinite(t)
        s, t = s[keep], t[keep]
        if s.size < 2:
            raise ValueError("replay curve: need at least two finite measurements")
        n = float(total_steps) if total_steps else float(s.max())
        if not n > 0:
            raise ValueError(f"total_steps must be > 0, got {total_steps!r}")
        f = np.clip(s / n, 0.0, 1.0)
        if points < 2:
            raise ValueError(f"points must be >= 2, got {points}")
        idx = np.minimum((f * points).astype(np.int64), points - 1)  # bin b: [b, b+1)/points
        fr, te = [], []
        for b in range(points):
            sel = idx == b
            if sel.any():
                fr.append(float(f[sel].mean()))
                te.append(float(max(t[sel].mean(), 0.0)))
        if len(fr) < 2:
            raise ValueError("replay curve: the measurements span less than two bins")
        return cls(fr, te)

    def _evaluate(self, f: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.interp(f, self.fractions, self.temperatures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fractions": self.fractions.tolist(),
            "temperatures": self.temperatures.tolist(),
        }


_KINDS: dict[str, type[TargetCurve]] = {
    c.kind: c for c in (PowerCurve, ConstantCurve, CosineCurve, DrawnCurve, ReplayCurve)
}


def curve_from_dict(d: dict[str, Any]) -> TargetCurve:
    """Rebuild a curve from :meth:`TargetCurve.to_dict` output.

    Raises:
        ValueError: unknown kind, or invalid parameters (naming them).
        TypeError: ``d`` is not a dict.
    """
    if not isinstance(d, dict):
        raise TypeError(f"a curve definition must be a dict, got {type(d).__name__}")
    kind = d.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown curve kind {kind!r}; choose one of: {', '.join(_KINDS)}")
    params = {k: v for k, v in d.items() if k != "kind"}
    try:
        return _KINDS[kind](**params)
    except TypeError as exc:
        raise ValueError(f"invalid parameters for a {kind!r} curve: {exc}") from None
