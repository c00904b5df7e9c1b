"""The Weibull response model: ``P(λ) = 1 − exp(−(λ/λ0)^k)`` (docs/algorithm.md §2).

In bits, ``T(λ) = −log2(1 − P) = (λ/λ0)^k / ln 2``: with ``k ≈ 1`` (what measured scans show)
the temperature is close to proportional to the learning rate. Measured scans fit it 2-10x
better than the Gaussian CDF. Its control law needs no quantile and no clipping: to move a
temperature ``T`` measured at rate ``λ_t`` to a target ``C``, use ``λ* = λ_t·(C/T)^(1/k)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "weibull_log_gain",
    "weibull_lr_at",
    "weibull_lr_for_gain",
    "weibull_lr_for_temperature",
    "weibull_probability",
    "weibull_temperature",
]

LN2 = math.log(2.0)


def _check(lambda0: float, k: float) -> None:
    if not (math.isfinite(lambda0) and lambda0 > 0):
        raise ValueError(f"lambda0 must be a finite number > 0, got {lambda0!r}")
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a finite number > 0, got {k!r}")


def weibull_probability(lr: ArrayLike, lambda0: float, k: float) -> NDArray[np.float64]:
    """``P(λ) = 1 − exp(−(λ/λ0)^k)`` for rates ``lr >= 0``."""
    _check(lambda0, k)
    with np.errstate(over="ignore"):
        return -np.expm1(-((np.asarray(lr, dtype=np.float64) / lambda0) ** k))


def weibull_temperature(lr: ArrayLike, lambda0: float, k: float) -> NDArray[np.float64]:
    """``T(λ) = (λ/λ0)^k / ln 2`` bits."""
    _check(lambda0, k)
    with np.errstate(over="ignore"):
        return (np.asarray(lr, dtype=np.float64) / lambda0) ** k / LN2


def weibull_log_gain(lr: float, temperature: float, k: float) -> float:
    """``ln a = ln T − k·ln λ``: the gain of ``T = a·λ^k`` that explains temperature ``T`` at
    rate ``λ`` (``a = 1/(λ0^k·ln 2)``). Needs ``λ > 0`` and ``T > 0``."""
    return math.log(temperature) - k * math.log(lr)


def weibull_lr_for_gain(target: ArrayLike, log_gain: float, k: float) -> NDArray[np.float64]:
    """``λ = (C/a)^(1/k) = exp((ln C − ln a)/k)``: the rate at which ``T = a·λ^k`` gives ``C``
    bits; the one inverse of the model, which every other form calls. ``C <= 0`` gives 0 and
    NaN stays NaN; may give ``inf`` (the caller clamps)."""
    c = np.asarray(target, dtype=np.float64)
    positive = c > 0
    with np.errstate(over="ignore"):
        lr = np.exp((np.log(np.where(positive, c, 1.0)) - log_gain) / k)
    return np.where(positive, lr, np.where(c <= 0, 0.0, np.nan))


def weibull_lr_at(temperature: ArrayLike, lambda0: float, k: float) -> NDArray[np.float64]:
    """``λ = λ0·(C·ln 2)^(1/k)``: the rate at which ``T(λ) = (λ/λ0)^k / ln 2`` gives ``C`` bits
    (``C <= 0``: rate 0; may be ``inf``, the caller clamps)."""
    _check(lambda0, k)
    return weibull_lr_for_gain(temperature, -k * math.log(lambda0) - math.log(LN2), k)


def weibull_lr_for_temperature(lr_t: float, temperature: float, target: float, k: float) -> float:
    """``λ* = λ_t·(C/T)^(1/k)``: the rate that moves temperature ``T`` (at ``λ_t``) to ``C``.

    Needs ``λ_t > 0`` and ``T > 0`` (a measurement of exactly 0 carries no information about
    the scale); ``C = 0`` gives 0. May return ``inf``; the caller clamps.
    """
    if not (math.isfinite(lr_t) and lr_t > 0):
        raise ValueError(f"the measured learning rate must be finite and > 0, got {lr_t!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"the measured temperature must be finite and > 0, got {temperature!r}")
    if not (math.isfinite(target) and target >= 0):
        raise ValueError(f"the target temperature must be finite and >= 0, got {target!r}")
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a finite number > 0, got {k!r}")
    return float(weibull_lr_for_gain(target, weibull_log_gain(lr_t, temperature, k), k))
