"""The Gaussian-CDF model of pattern change, the paper's Hypothesis 1 (docs/algorithm.md §2).

``P(λ) = Φ((ln λ − μ) / σ)``: the probability that a sample's activation pattern changes when
one update direction is scaled to learning rate λ. ``e^μ`` is the critical learning rate at
which half of the patterns change (T = 1 bit); σ is the width of the transition in ln-units.

This departs from the paper (docs/algorithm.md §2): the paper's equation 5 writes the left side as the
probability of *no* change and its equations 6-7 use −μ; we use one sign throughout, with
P the probability of change, growing with λ.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from .temperature import clip_probability, probability_from_temperature

__all__ = ["change_probability", "gaussian_lr_at", "lr_for_probability", "mu_from_observation"]


def change_probability(lr: ArrayLike, mu: float, sigma: float) -> NDArray[np.float64]:
    """``P(λ) = Φ((ln λ − μ)/σ)`` for learning rates ``lr > 0`` (docs/algorithm.md §2)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    return ndtr((np.log(np.asarray(lr, dtype=np.float64)) - mu) / sigma)


def mu_from_observation(lr: float, probability: float, sigma: float) -> float:
    """``μ = ln λ − σ·Φ⁻¹(P)``: the μ that explains change probability ``P`` at rate ``λ`` (docs/algorithm.md §2).

    ``probability`` must already be clipped into (0, 1) (see ``clip_probability``); ``lr > 0``.
    """
    if not lr > 0:
        raise ValueError(f"learning rate must be > 0 to estimate mu, got {lr!r}")
    if not 0 < probability < 1:
        raise ValueError(f"probability must be clipped into (0, 1), got {probability!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    return math.log(lr) - sigma * float(ndtri(probability))


def lr_for_probability(mu: float, sigma: float, probability: float) -> float:
    """``λ = exp(μ + σ·Φ⁻¹(P))``: the rate at which the model predicts change probability P (docs/algorithm.md §2).

    ``probability`` must already be clipped into (0, 1). May return ``inf`` or 0 for extreme
    inputs; the caller clamps.
    """
    if not 0 < probability < 1:
        raise ValueError(f"probability must be clipped into (0, 1), got {probability!r}")
    return float(_lr(mu, sigma, probability))


def gaussian_lr_at(
    temperature: ArrayLike, mu: float, sigma: float, resolution: int
) -> NDArray[np.float64]:
    """``λ = exp(μ + σ·Φ⁻¹(clip(1 − 2^(−C), n)))``: the rate at which the model gives ``C`` bits
    (docs/algorithm.md §4.3), the probability clipped to ``[1/(2n), 1 − 1/(2n)]`` with the
    ``resolution`` n of the measurement (B for ``sample``). May be ``inf``; the caller clamps."""
    p = clip_probability(
        probability_from_temperature(np.asarray(temperature, np.float64)), resolution
    )
    return _lr(mu, sigma, p)


def _lr(mu: float, sigma: float, probability: ArrayLike) -> NDArray[np.float64]:
    # the one inverse of P(λ) = Φ((ln λ − μ)/σ); probability already inside (0, 1)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    with np.errstate(over="ignore"):
        return np.exp(mu + sigma * ndtri(np.asarray(probability, dtype=np.float64)))
