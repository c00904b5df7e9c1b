"""What one measurement returns: per-site counts and temperatures, and on scan steps an LR scan.

A measurement keeps what was counted and out of how many, per site and counter, so every
temperature can be recomputed from stored numbers, and re-expressed at another granularity whose
counter was counted (the flipped bits are always counted, so ``unit`` at any L always is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .fit import PatternFit, WeibullFit, fit_response_models
from .granularity import DEFAULT_GRANULARITY, Granularity
from .temperature import probability_from_temperature

__all__ = ["LRScan", "Measurement", "ScanFits", "fit_scan"]

Counts = Mapping[str, NDArray[np.int64]]


def _counter_of(granularity: Granularity, counts: Counts) -> str:
    if granularity.counter not in counts:
        raise KeyError(
            f"granularity {str(granularity)!r} needs the {granularity.counter!r} counter, which "
            f"was not counted (counted: {', '.join(counts)}); measure with "
            f"compare_with=({granularity.kind!r},)"
        )
    return granularity.counter


@dataclass(frozen=True)
class LRScan:
    """An LR range scan (docs/algorithm.md §3): one update re-evaluated at many learning rates.

    Attributes:
        lrs: the learning-rate grid, ``(R,)``.
        sites: site names, ``(S,)``.
        batch_size: samples measured (summed over ranks).
        granularity: the granularity of :attr:`temperatures`.
        counts: per counter, changed patterns (or bits), int ``(S, R)``.
        totals: per counter, how many were compared, int ``(S,)``.
        gradient_reach: the share of the trainable parameters' elements whose gradient was
            not zero in the step scanned (``None`` where unknown). Far below 1, the update
            does not reach most of the network: a zero-initialised layer (a classifier head,
            the last BatchNorm of each residual block) stops the gradient at initialisation.
    """

    lrs: NDArray[np.float64]
    sites: tuple[str, ...]
    batch_size: int
    granularity: Granularity
    counts: Counts
    totals: Counts
    gradient_reach: float | None = None

    @property
    def changed(self) -> NDArray[np.int64]:
        """The granularity's changed counts, ``(S, R)``."""
        return np.asarray(self.counts[self.granularity.counter])

    @property
    def total(self) -> NDArray[np.int64]:
        """The granularity's denominators, ``(S,)``."""
        return np.asarray(self.totals[self.granularity.counter])

    def temperatures_at(self, granularity: Granularity | str) -> NDArray[np.float64]:
        """Temperatures per site and rate, ``(S, R)``, at any counted granularity."""
        g = Granularity.parse(granularity)
        c = _counter_of(g, self.counts)
        return g.temperatures(self.counts[c], np.asarray(self.totals[c])[:, None])

    @property
    def temperatures(self) -> NDArray[np.float64]:
        """Temperature per site and rate in bits, ``(S, R)``."""
        return self.temperatures_at(self.granularity)

    @property
    def probabilities(self) -> NDArray[np.float64]:
        """Pattern-change probability ``P = 1 − 2^(−T)`` per site and rate, ``(S, R)``."""
        return np.asarray(probability_from_temperature(self.temperatures))

    @property
    def mean_temperatures(self) -> NDArray[np.float64]:
        """Mean temperature over sites per rate in bits, ``(R,)``."""
        return self.temperatures.mean(axis=0)

    @property
    def mean_probabilities(self) -> NDArray[np.float64]:
        """``P̄ = 1 − 2^(−T̄)`` per rate, ``(R,)`` (the mean is fitted through T̄)."""
        return np.asarray(probability_from_temperature(self.mean_temperatures))

    @property
    def resolutions(self) -> NDArray[np.int64]:
        """Independent patterns measured per site, ``(S,)`` (see ``Granularity.resolution``)."""
        return self.granularity.resolution(self.total)


@dataclass(frozen=True)
class ScanFits:
    """Both response models fitted to one scan, per site (aligned with ``sites``) and for the mean.

    ``per_site``/``mean`` hold the Gaussian-CDF fits (Hypothesis 1), ``weibull_per_site``/
    ``weibull_mean`` the Weibull fits; ``None`` is "no fit", with its reason in
    :attr:`reasons` under ``"<model>:<site or mean>"``.
    """

    sites: tuple[str, ...]
    per_site: tuple[PatternFit | None, ...]
    mean: PatternFit | None
    weibull_per_site: tuple[WeibullFit | None, ...] = ()
    weibull_mean: WeibullFit | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, site: str) -> PatternFit | None:
        return self.per_site[self._index(site)]

    def weibull(self, site: str) -> WeibullFit | None:
        """The Weibull fit of ``site`` (or ``"mean"``)."""
        return self.weibull_mean if site == "mean" else self.weibull_per_site[self._index(site)]

    def _index(self, site: str) -> int:
        try:
            return self.sites.index(site)
        except ValueError:
            raise KeyError(f"no site {site!r}; sites are: {', '.join(self.sites)}") from None


def fit_scan(scan: LRScan) -> ScanFits:
    """Fit ``Φ((ln λ − μ)/σ)`` and ``1 − exp(−(λ/λ0)^k)`` per site and to the mean ``P̄``."""
    res = scan.resolutions
    mean_res = int(res.min())
    reasons: dict[str, str] = {}
    probs = list(scan.probabilities) + [scan.mean_probabilities]
    names = [*scan.sites, "mean"]
    resolutions = [*(int(r) for r in res), mean_res]
    gauss, weib = [], []
    for name, p, n in zip(names, probs, resolutions, strict=True):
        g, w, why = fit_response_models(scan.lrs, p, resolution=n)
        reasons.update({f"{model}:{name}": text for model, text in why.items()})
        gauss.append(g)
        weib.append(w)
    return ScanFits(
        sites=scan.sites,
        per_site=tuple(gauss[:-1]),
        mean=gauss[-1],
        weibull_per_site=tuple(weib[:-1]),
        weibull_mean=weib[-1],
        reasons=reasons,
    )


@dataclass(frozen=True)
class Measurement:
    """The activation pattern temperature of one training step (docs/algorithm.md §1).

    Attributes:
        step: index of the training step measured (0-based: the step's update θ_t → θ_{t+1}).
        sites: site names in order of first call.
        granularity: what one pattern is; fixes :attr:`temperatures`.
        counts: per counter (``samples``, ``positions``, ``bits``), changed counts per site.
        totals: per counter, how many patterns (or bits) were compared per site.
        batch_size: samples measured (summed over ranks in distributed training).
        temperatures: per site, in bits, at :attr:`granularity`.
        mean_temperature: plain mean of ``temperatures``.
        scan: the LR range scan, on scan steps.
        fits: response-model fits of the scan, on scan steps.
        active: per site, the units on (``> 0``) at θ_t, summed over the batch (and ranks);
            0 means the site is dark, every unit off for every sample. ``None`` where not
            counted.
    """

    step: int
    sites: tuple[str, ...]
    granularity: Granularity
    counts: Mapping[str, tuple[int, ...]]
    totals: Mapping[str, tuple[int, ...]]
    batch_size: int
    temperatures: tuple[float, ...]
    mean_temperature: float
    scan: LRScan | None = None
    fits: ScanFits | None = None
    active: tuple[int, ...] | None = None

    @property
    def changed(self) -> tuple[int, ...]:
        """Per site, the changed patterns (or flipped bits) under :attr:`granularity`."""
        return self.counts[self.granularity.counter]

    @property
    def total(self) -> tuple[int, ...]:
        """Per site, the patterns (or bits) compared under :attr:`granularity`."""
        return self.totals[self.granularity.counter]

    @property
    def flip_fractions(self) -> tuple[float, ...]:
        """Per site, the fraction of units whose sign flipped (counted at every granularity)."""
        return tuple(c / n for c, n in zip(self.counts["bits"], self.totals["bits"], strict=True))

    @property
    def resolution(self) -> int:
        """Fewest independent patterns measured at any site: ``1/(2·resolution)`` is the
        smallest change probability the mean can resolve (the controller's clip)."""
        return int(self.granularity.resolution(np.asarray(self.total)).min())

    def temperatures_at(self, granularity: Granularity | str) -> NDArray[np.float64]:
        """Per-site temperatures re-expressed at another counted granularity, ``(S,)``."""
        g = Granularity.parse(granularity)
        c = _counter_of(g, self.counts)
        return g.temperatures(self.counts[c], self.totals[c])

    @classmethod
    def from_counts(
        cls,
        step: int,
        sites: tuple[str, ...],
        counts: Mapping[str, NDArray[np.int64]],
        totals: Mapping[str, NDArray[np.int64]],
        batch_size: int,
        granularity: Granularity = DEFAULT_GRANULARITY,
        scan: LRScan | None = None,
        active: NDArray[np.int64] | None = None,
    ) -> Measurement:
        """Build a measurement from per-counter counts; ``bits`` must be among them."""
        if "bits" not in counts:
            raise ValueError("a measurement always counts flipped bits ('bits' counter missing)")
        c = _counter_of(granularity, counts)
        temps = granularity.temperatures(counts[c], totals[c])
        return cls(
            step=step,
            sites=sites,
            granularity=granularity,
            counts={k: tuple(int(x) for x in v) for k, v in counts.items()},
            totals={k: tuple(int(x) for x in v) for k, v in totals.items()},
            batch_size=int(batch_size),
            temperatures=tuple(float(t) for t in temps),
            mean_temperature=float(temps.mean()),
            scan=scan,
            fits=fit_scan(scan) if scan is not None else None,
            active=None if active is None else tuple(int(x) for x in active),
        )
