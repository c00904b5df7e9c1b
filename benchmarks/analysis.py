"""The statistics behind the reproduction report: pure NumPy/SciPy, no storage, no plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


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
