"""The statistics behind the reproduction report: pure NumPy/SciPy, no storage, no plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy import stats

K = TypeVar("K")


@dataclass(frozen=True)
class Spread:
    """Mean of a few repeats with their range (2-3 seeds: the range says more than a std)."""

    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a"
        if self.n == 1:
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} ({self.low:.2f}–{self.high:.2f})"


def spread(values: Sequence[float]) -> Spread:
    """Mean, min and max of the finite values (``n`` counts them)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return Spread(float("nan"), float("nan"), float("nan"), 0)
    return Spread(float(v.mean()), float(v.min()), float(v.max()), int(v.size))


def linear_r2(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares line ``y ≈ a + b·x``: returns ``(r2, a, b)``.

    R² = 1 − SS_res/SS_tot; NaN when fewer than 3 points or ``y`` is constant.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(y) == 0 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan")
    b, a = np.polyfit(x, y, 1)
    ss_res = float(np.sum((y - (a + b * x)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot, float(a), float(b)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ over the finite pairs; NaN with fewer than 3 of them."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def smooth(y: Sequence[float], window: int) -> np.ndarray:
    """Centered moving average (edges average what exists), for noisy per-step curves."""
    y = np.asarray(y, dtype=float)
    window = min(window, y.size)
    if window <= 1:
        return y.copy()
    kernel = np.ones(window)
    num = np.convolve(np.nan_to_num(y), kernel, mode="same")
    den = np.convolve(np.isfinite(y).astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def relative_variation(values: Sequence[float]) -> float:
    """Coefficient of variation std/|mean| of the finite values (NaN if fewer than 2)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.mean() == 0:
        return float("nan")
    return float(v.std() / abs(v.mean()))


def at_most(value: float | None, goal: float) -> bool | None:
    """``value <= goal``; ``None`` (no verdict) when the value is missing or not finite."""
    if value is None or not np.isfinite(value):
        return None
    return bool(value <= goal)


def best_of(values: Mapping[K, float | None]) -> K | None:
    """The key with the lowest finite value (the first of equal ones); ``None`` if none."""
    best, low = None, np.inf
    for key, v in values.items():
        if v is not None and np.isfinite(v) and v < low:
            best, low = key, float(v)
    return best


def beyond_noise(difference: float, *spreads: Spread) -> bool | None:
    """Whether ``|difference|`` exceeds the widest seed range (high − low) of ``spreads``.

    With two seeds the range is the seed-to-seed difference: a gap inside it could be one
    seed's luck. ``None`` when no spread has two or more values, or the difference is NaN.
    """
    ranges = [s.high - s.low for s in spreads if s.n >= 2]
    if not ranges or difference is None or not np.isfinite(difference):
        return None
    return bool(abs(difference) > max(ranges))


def out_of_reach(
    lr: Sequence[float],
    measured: Sequence[float],
    target: Sequence[float],
    lr_min: float,
    lr_max: float,
) -> np.ndarray:
    """Which measurements the controller could not act on: trained at the rate ceiling while
    colder than the target, or at the floor while hotter (a relative tolerance of 1e-6)."""
    r = np.asarray(lr, dtype=float)
    t, c = np.asarray(measured, dtype=float), np.asarray(target, dtype=float)
    return ((r >= lr_max * (1 - 1e-6)) & (t < c)) | ((r <= lr_min * (1 + 1e-6)) & (t > c))


def relative_tracking_error(
    fraction: Sequence[float],
    measured: Sequence[float],
    target: Sequence[float],
    low: float = 0.1,
    high: float = 0.9,
    window: int = 1,
    keep: Sequence[bool] | None = None,
) -> float:
    """How far a measured temperature stays from its target: mean |T̄ − C| / mean C.

    Over the measurements with ``low <= fraction <= high``, a finite target and, if given,
    ``keep`` true (e.g. only those the controller could act on). With
    ``window > 1`` the measured series is first smoothed by a centered moving average of that
    many measurements (:func:`smooth`, over the whole series so the window's edges use their
    neighbours), which takes out the noise of single measurements. NaN when no measurement
    qualifies or the mean target is not > 0.
    """
    f = np.asarray(fraction, dtype=float)
    t = smooth(np.asarray(measured, dtype=float), window)
    c = np.asarray(target, dtype=float)
    if not (f.shape == t.shape == c.shape):
        raise ValueError(
            f"fraction, measured and target differ in length: {f.size}, {t.size}, {c.size}"
        )
    ok = (f >= low) & (f <= high) & np.isfinite(t) & np.isfinite(c)
    if keep is not None:
        ok &= np.asarray(keep, dtype=bool)
    if not ok.any():
        return float("nan")
    scale = float(c[ok].mean())
    if not scale > 0:
        return float("nan")
    return float(np.mean(np.abs(t[ok] - c[ok])) / scale)
