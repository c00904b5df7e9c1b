"""Fit the Gaussian-CDF pattern model to an LR range scan (SPEC §3, "Fitting μ and σ").

"No fit" is a normal answer: :func:`fit_pattern_model` returns ``None`` and logs why, and never
raises into a training loop for lack of signal.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import ndtr

__all__ = ["PatternFit", "fit_pattern_model"]

logger = logging.getLogger(__name__)

# σ is bounded away from 0 so that the model stays a smooth CDF the optimiser can move.
_SIGMA_FLOOR = 1e-3
_MIN_INFORMATIVE = 3


@dataclass(frozen=True)
class PatternFit:
    """Result of fitting ``P(λ) = Φ((ln λ − μ)/σ)`` (SPEC §2-3).

    Attributes:
        mu: ln of the critical learning rate ``e^μ`` where half the patterns change.
        sigma: width of the transition in ln-units (> 0).
        rmse: root-mean-square error of the fit, in probability units, over all points.
        n_informative: number of points that were neither 0 nor 1.
    """

    mu: float
    sigma: float
    rmse: float
    n_informative: int

    @property
    def critical_lr(self) -> float:
        """``e^μ``: the learning rate at which half of the patterns change (T = 1 bit)."""
        return math.exp(self.mu)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _model(log_lr: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return ndtr((log_lr - mu) / sigma)


def _nearest(log_lr: np.ndarray, p: np.ndarray, level: float) -> float:
    return float(log_lr[np.argmin(np.abs(p - level))])


def fit_pattern_model(
    lrs: ArrayLike, probabilities: ArrayLike, batch_size: int | None = None
) -> PatternFit | None:
    """Least-squares fit of ``Φ((ln λ − μ)/σ)`` to measured change probabilities (SPEC §3).

    The fit runs in probability space with ``scipy.optimize.curve_fit``, σ bounded positive,
    starting from the grid point nearest P = 0.5 (for μ) and the spread between the points
    nearest 0.16 and 0.84 (for σ).

    Args:
        lrs: learning rates of the scan, all > 0, shape ``(R,)``.
        probabilities: measured change probabilities in [0, 1], shape ``(R,)``. For the mean
            over sites pass ``1 - 2**(-T̄)``.
        batch_size: if given, probabilities within ``1/(2B)`` of 0 or 1 (what the temperature
            regulariser leaves of an all-changed batch) count as saturated, not informative.

    Returns:
        A :class:`PatternFit`, or ``None`` (with the reason logged at INFO) when every point is
        0 or 1, fewer than 3 points are informative, or the optimiser does not converge.

    Raises:
        ValueError: inputs of different lengths, non-positive rates or probabilities outside
            [0, 1] — these are caller bugs, not lack of signal.
    """
    lr = np.asarray(lrs, dtype=np.float64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if lr.shape != p.shape:
        raise ValueError(f"lrs and probabilities differ in length: {lr.size} vs {p.size}")
    if lr.size == 0:
        raise ValueError("cannot fit an empty scan: pass at least 3 learning rates")
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise ValueError(f"learning rates must be finite and > 0, got {lr.tolist()}")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"probabilities must be finite and in [0, 1], got {p.tolist()}")

    eps = 0.5 / batch_size if batch_size else 0.0
    informative = (p > eps + 1e-12) & (p < 1.0 - eps - 1e-12)
    n_inf = int(informative.sum())
    if n_inf < _MIN_INFORMATIVE:
        logger.info(
            "no pattern-model fit: only %d of %d scan points lie strictly between 0 and 1 "
            "(need %d); widen the learning-rate grid",
            n_inf,
            p.size,
            _MIN_INFORMATIVE,
        )
        return None

    log_lr = np.log(lr)
    mu0 = _nearest(log_lr, p, 0.5)
    sigma0 = 0.5 * (_nearest(log_lr, p, 0.84) - _nearest(log_lr, p, 0.16))
    if not sigma0 > _SIGMA_FLOOR:
        # Points nearest 0.16/0.84 coincide or are inverted by noise: start from the grid step.
        sigma0 = max(float(np.median(np.abs(np.diff(np.sort(log_lr))))), 0.1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            (mu, sigma), _ = curve_fit(
                _model,
                log_lr,
                p,
                p0=(mu0, sigma0),
                bounds=([-np.inf, _SIGMA_FLOOR], [np.inf, np.inf]),
                maxfev=10_000,
            )
    except (RuntimeError, OptimizeWarning, ValueError) as exc:
        logger.info("no pattern-model fit: the optimiser failed (%s)", exc)
        return None
    if not (np.isfinite(mu) and np.isfinite(sigma)):
        logger.info("no pattern-model fit: non-finite parameters mu=%r sigma=%r", mu, sigma)
        return None
    rmse = float(np.sqrt(np.mean((_model(log_lr, mu, sigma) - p) ** 2)))
    return PatternFit(mu=float(mu), sigma=float(sigma), rmse=rmse, n_informative=n_inf)
