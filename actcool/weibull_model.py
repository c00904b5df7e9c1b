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

__all__ = ["weibull_lr_for_temperature", "weibull_probability", "weibull_temperature"]


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
        return (np.asarray(lr, dtype=np.float64) / lambda0) ** k / math.log(2)


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
    try:
        return lr_t * (target / temperature) ** (1.0 / k)
    except OverflowError:
        return math.inf
