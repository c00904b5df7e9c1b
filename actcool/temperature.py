"""Activation pattern temperature: pure conversions between probabilities and bits (docs/algorithm.md §1-2).

A site's temperature is ``T = -log2(1 - P)`` where ``P`` is the fraction of samples in the
measured batch whose activation pattern changed. Every function here works on Python
floats and on NumPy arrays alike and has no state.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "clip_probability",
    "probability_from_temperature",
    "temperature_from_probability",
    "temperatures_from_counts",
]

FloatOrArray = float | NDArray[np.float64]


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def _unwrap(x: NDArray[np.float64], scalar: bool) -> FloatOrArray:
    return float(x) if scalar else x


@overload
def temperature_from_probability(p: float, batch_size: int | None = None) -> float: ...
@overload
def temperature_from_probability(p: ArrayLike, batch_size: int | None = None) -> FloatOrArray: ...
def temperature_from_probability(p, batch_size=None):
    """Temperature in bits of a pattern-change probability: ``T = -log2(1 - P)`` (docs/algorithm.md §1).

    With ``batch_size`` B, a probability of 1 (every pattern changed) is counted as if half a
    sample had not changed, ``P = 1 - 1/(2B)``, so the result is at most ``log2(2B)``
    (the paper's regulariser). Without it, ``P = 1`` gives ``inf``.

    Args:
        p: probability or array of probabilities in [0, 1].
        batch_size: number of samples the probability was measured on (summed over ranks).

    Raises:
        ValueError: a probability outside [0, 1] or not finite.
    """
    scalar = np.ndim(p) == 0
    arr = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        bad = arr[~(np.isfinite(arr) & (arr >= 0) & (arr <= 1))].flat[0]
        raise ValueError(f"probability must be a finite number in [0, 1], got {bad!r}")
    if batch_size is not None:
        _check_batch_size(batch_size)
        arr = np.minimum(arr, 1.0 - 1.0 / (2 * batch_size))
    with np.errstate(divide="ignore"):
        t = -np.log2(1.0 - arr)
    # -log2(1) is -0.0; report a clean 0.
    t = t + 0.0
    return _unwrap(t, scalar)


@overload
def probability_from_temperature(t: float) -> float: ...
@overload
def probability_from_temperature(t: ArrayLike) -> FloatOrArray: ...
def probability_from_temperature(t):
    """Pattern-change probability of a temperature in bits: ``P = 1 - 2^(-T)`` (docs/algorithm.md §2).

    Raises:
        ValueError: a negative or NaN temperature (``inf`` maps to 1).
    """
    scalar = np.ndim(t) == 0
    arr = np.asarray(t, dtype=np.float64)
    if np.any(np.isnan(arr)) or np.any(arr < 0):
        bad = arr[np.isnan(arr) | (arr < 0)].flat[0]
        raise ValueError(f"temperature must be >= 0 bits, got {bad!r}")
    return _unwrap(1.0 - np.exp2(-arr), scalar)


@overload
def clip_probability(p: float, batch_size: int) -> float: ...
@overload
def clip_probability(p: ArrayLike, batch_size: int) -> FloatOrArray: ...
def clip_probability(p, batch_size):
    """Clip probabilities to ``[1/(2B), 1 - 1/(2B)]`` so that the normal quantile is finite (docs/algorithm.md §2)."""
    _check_batch_size(batch_size)
    scalar = np.ndim(p) == 0
    eps = 1.0 / (2 * batch_size)
    return _unwrap(np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps), scalar)


def temperatures_from_counts(changed: ArrayLike, batch_size: int) -> NDArray[np.float64]:
    """Per-site temperatures in bits from changed-sample counts (docs/algorithm.md §1).

    Args:
        changed: integer counts of samples whose pattern changed, any shape (e.g. ``(S,)`` per
            site or ``(S, R)`` per site and learning rate), each in ``[0, batch_size]``.
        batch_size: number of samples measured.
    """
    _check_batch_size(batch_size)
    counts = np.asarray(changed)
    if counts.size and (counts.min() < 0 or counts.max() > batch_size):
        raise ValueError(f"changed counts must lie in [0, {batch_size}], got {counts!r}")
    return np.asarray(temperature_from_probability(counts / batch_size, batch_size))
