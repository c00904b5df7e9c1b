"""Fit the two response models to an LR range scan (docs/algorithm.md §2-3).

- the Gaussian CDF of Hypothesis 1, ``P(λ) = Φ((ln λ − μ)/σ)`` (:func:`fit_pattern_model`);
- the Weibull form ``P(λ) = 1 − exp(−(λ/λ0)^k)`` (:func:`fit_weibull_model`).

Both fit in probability space by least squares (``scipy.optimize.curve_fit``). "No fit" is a
normal answer: the functions return ``None`` and log why (:func:`fit_response_models` also
returns the reason), and never raise into a training loop for lack of signal.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import ndtr

__all__ = [
    "PatternFit",
    "WeibullFit",
    "fit_pattern_model",
    "fit_response_models",
    "fit_weibull_model",
]

logger = logging.getLogger(__name__)

# σ is bounded away from 0 so that the model stays a smooth CDF the optimiser can move.
_SIGMA_FLOOR = 1e-3
_MIN_INFORMATIVE = 3
# k of the Weibull form: measured scans give k ≈ 0.9-1.1; the bounds only keep it finite.
_K_FLOOR, _K_CEIL = 0.05, 20.0


@dataclass(frozen=True)
class PatternFit:
    """Result of fitting ``P(λ) = Φ((ln λ − μ)/σ)`` (docs/algorithm.md §2-3).

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


@dataclass(frozen=True)
class WeibullFit:
    """Result of fitting ``P(λ) = 1 − exp(−(λ/λ0)^k)``, i.e. ``T = (λ/λ0)^k / ln 2`` bits.

    Attributes:
        lambda0: the rate at which ``T = 1/ln 2 ≈ 1.44`` bits (63% of patterns change).
        k: the exponent; ``k = 1`` is temperature proportional to the rate.
        rmse: root-mean-square error of the fit, in probability units, over all points.
        n_informative: number of points that were neither 0 nor 1.
    """

    lambda0: float
    k: float
    rmse: float
    n_informative: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _model(log_lr: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return ndtr((log_lr - mu) / sigma)


def _nearest(log_lr: np.ndarray, p: np.ndarray, level: float) -> float:
    return float(log_lr[np.argmin(np.abs(p - level))])


def _check_scan(lrs: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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
    return lr, p


def _informative(p: np.ndarray, resolution: int | None) -> np.ndarray:
    """Points strictly inside (0, 1), beyond what the clip of an all-changed batch leaves."""
    eps = 0.5 / resolution if resolution else 0.0
    return (p > eps + 1e-12) & (p < 1.0 - eps - 1e-12)


def _too_few(n_inf: int, n: int) -> str | None:
    if n_inf >= _MIN_INFORMATIVE:
        return None
    return (
        f"only {n_inf} of {n} scan points lie strictly between 0 and 1 (need "
        f"{_MIN_INFORMATIVE}); widen the learning-rate grid"
    )


def _least_squares(
    model: Any, x: np.ndarray, y: np.ndarray, p0: tuple[float, float]
) -> tuple[float, float] | str:
    """``curve_fit`` of a two-parameter model, unbounded (so the fast Levenberg-Marquardt
    solver applies; positive parameters are fitted as logs), or the reason it failed."""
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore", OptimizeWarning)  # the covariance is not used
            (a, b), _ = curve_fit(model, x, y, p0=p0, maxfev=10_000)
    except (RuntimeError, OptimizeWarning, ValueError) as exc:
        return f"the optimiser failed ({exc})"
    return float(a), float(b)


def _fit_gaussian(lr: np.ndarray, p: np.ndarray, resolution: int | None) -> PatternFit | str:
    n_inf = int(_informative(p, resolution).sum())
    if (reason := _too_few(n_inf, p.size)) is not None:
        return reason
    log_lr = np.log(lr)
    mu0 = _nearest(log_lr, p, 0.5)
    sigma0 = 0.5 * (_nearest(log_lr, p, 0.84) - _nearest(log_lr, p, 0.16))
    if not sigma0 > _SIGMA_FLOOR:
        # Points nearest 0.16/0.84 coincide or are inverted by noise: start from the grid step.
        sigma0 = max(float(np.median(np.abs(np.diff(np.sort(log_lr))))), 0.1)
    # σ = exp(s) keeps σ > 0 without bounds
    fitted = _least_squares(
        lambda x, m, s: _model(x, m, np.exp(s)), log_lr, p, (mu0, math.log(sigma0))
    )
    if isinstance(fitted, str):
        return fitted
    mu, sigma = fitted[0], float(np.exp(fitted[1]))
    if sigma < _SIGMA_FLOOR:
        return f"the transition is sharper than the grid resolves (sigma={sigma:.2g})"
    if not (np.isfinite(mu) and np.isfinite(sigma)):
        return f"non-finite parameters mu={mu!r} sigma={sigma!r}"
    rmse = float(np.sqrt(np.mean((_model(log_lr, mu, sigma) - p) ** 2)))
    return PatternFit(mu=float(mu), sigma=float(sigma), rmse=rmse, n_informative=n_inf)


def _fit_weibull(lr: np.ndarray, p: np.ndarray, resolution: int | None) -> WeibullFit | str:
    informative = _informative(p, resolution)
    n_inf = int(informative.sum())
    if (reason := _too_few(n_inf, p.size)) is not None:
        return reason
    log_lr = np.log(lr)
    # Start from the straight line ln(−ln(1 − P)) = k·ln λ − k·ln λ0 through the informative points.
    y = np.log(-np.log1p(-p[informative]))
    slope, intercept = np.polyfit(log_lr[informative], y, 1)
    k0 = float(np.clip(slope, 0.05, 20.0))
    log_l0 = float(-intercept / slope) if slope > 0 else float(np.median(log_lr[informative]))

    def model(x: np.ndarray, log_lambda0: float, k: float) -> np.ndarray:
        # (λ/λ0)^k in log space: no overflow for any ln λ0 the optimiser tries
        return -np.expm1(-np.exp(np.minimum(k * (x - log_lambda0), 700.0)))

    # k = exp(log k), unbounded
    fitted = _least_squares(
        lambda x, a, b: model(x, a, np.exp(b)), log_lr, p, (log_l0, math.log(k0))
    )
    if isinstance(fitted, str):
        return fitted
    log_lambda0, k = fitted[0], float(np.exp(fitted[1]))
    if not _K_FLOOR <= k <= _K_CEIL:
        return f"k={k:.3g} outside [{_K_FLOOR}, {_K_CEIL}]"
    if not (np.isfinite(log_lambda0) and np.isfinite(k)):
        return f"non-finite parameters ln lambda0={log_lambda0!r} k={k!r}"
    with np.errstate(over="ignore"):
        rmse = float(np.sqrt(np.mean((model(log_lr, log_lambda0, k) - p) ** 2)))
    if not -700 < log_lambda0 < 700:
        return f"lambda0 outside the float range (ln lambda0 = {log_lambda0:.3g})"
    return WeibullFit(
        lambda0=float(math.exp(log_lambda0)), k=float(k), rmse=rmse, n_informative=n_inf
    )


def fit_pattern_model(
    lrs: ArrayLike, probabilities: ArrayLike, batch_size: int | None = None
) -> PatternFit | None:
    """Least-squares fit of ``Φ((ln λ − μ)/σ)`` to measured change probabilities.

    The fit runs in probability space with ``scipy.optimize.curve_fit``, σ bounded positive,
    starting from the grid point nearest P = 0.5 (for μ) and the spread between the points
    nearest 0.16 and 0.84 (for σ).

    Args:
        lrs: learning rates of the scan, all > 0, shape ``(R,)``.
        probabilities: measured change probabilities in [0, 1], shape ``(R,)``. For the mean
            over sites pass ``1 - 2**(-T̄)``.
        batch_size: the number of independent patterns measured (B for ``sample``; see
            ``Granularity.resolution``); if given, probabilities within ``1/(2B)`` of 0 or 1
            (what the temperature's clip leaves of an all-changed batch) are not informative.

    Returns:
        A :class:`PatternFit`, or ``None`` (with the reason logged at INFO) when every point is
        0 or 1, fewer than 3 points are informative, or the optimiser does not converge.

    Raises:
        ValueError: inputs of different lengths, non-positive rates or probabilities outside
            [0, 1] — these are caller bugs, not lack of signal.
    """
    lr, p = _check_scan(lrs, probabilities)
    fit = _fit_gaussian(lr, p, batch_size)
    if isinstance(fit, str):
        logger.info("no Gaussian-CDF fit: %s", fit)
        return None
    return fit


def fit_weibull_model(
    lrs: ArrayLike, probabilities: ArrayLike, resolution: int | None = None
) -> WeibullFit | None:
    """Least-squares fit of ``1 − exp(−(λ/λ0)^k)`` to measured change probabilities.

    Fitted over ``(ln λ0, k)`` with ``k`` bounded to ``[0.05, 20]``, starting from the
    straight line through ``ln(−ln(1 − P))`` against ``ln λ``. Arguments, ``None`` and errors
    as in :func:`fit_pattern_model` (``resolution`` is its ``batch_size``).
    """
    lr, p = _check_scan(lrs, probabilities)
    fit = _fit_weibull(lr, p, resolution)
    if isinstance(fit, str):
        logger.info("no Weibull fit: %s", fit)
        return None
    return fit


def fit_response_models(
    lrs: ArrayLike, probabilities: ArrayLike, resolution: int | None = None
) -> tuple[PatternFit | None, WeibullFit | None, dict[str, str]]:
    """Both fits of one scan curve, and the reason for each that is ``None``.

    Returns ``(gaussian, weibull, reasons)`` with ``reasons`` keyed ``"gaussian"``/``"weibull"``.
    """
    lr, p = _check_scan(lrs, probabilities)
    gauss, weib = _fit_gaussian(lr, p, resolution), _fit_weibull(lr, p, resolution)
    reasons = {
        name: f for name, f in (("gaussian", gauss), ("weibull", weib)) if isinstance(f, str)
    }
    return (
        None if isinstance(gauss, str) else gauss,
        None if isinstance(weib, str) else weib,
        reasons,
    )
