"""What one measurement returns: per-site temperatures and, on scan steps, an LR range scan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .fit import PatternFit, fit_pattern_model
from .temperature import probability_from_temperature, temperatures_from_counts

__all__ = ["LRScan", "Measurement", "ScanFits", "fit_scan"]


@dataclass(frozen=True)
class LRScan:
    """An LR range scan (SPEC §3): one update direction re-evaluated at many learning rates.

    Attributes:
        lrs: the learning-rate grid, ``(R,)``.
        sites: site names, ``(S,)``.
        batch_size: samples measured (summed over ranks).
        changed: changed-sample counts, int ``(S, R)``.
    """

    lrs: NDArray[np.float64]
    sites: tuple[str, ...]
    batch_size: int
    changed: NDArray[np.int64]

    @property
    def probabilities(self) -> NDArray[np.float64]:
        """Change probability per site and rate, ``(S, R)``."""
        return self.changed / self.batch_size

    @property
    def temperatures(self) -> NDArray[np.float64]:
        """Temperature per site and rate in bits, ``(S, R)``."""
        return temperatures_from_counts(self.changed, self.batch_size)

    @property
    def mean_temperatures(self) -> NDArray[np.float64]:
        """Mean temperature over sites per rate in bits, ``(R,)``."""
        return self.temperatures.mean(axis=0)

    @property
    def mean_probabilities(self) -> NDArray[np.float64]:
        """``P̄ = 1 − 2^(−T̄)`` per rate, ``(R,)`` (SPEC §3: the mean is fitted through T̄)."""
        return np.asarray(probability_from_temperature(self.mean_temperatures))


@dataclass(frozen=True)
class ScanFits:
    """Pattern-model fits of one scan: one per site (aligned with ``sites``) and for the mean."""

    sites: tuple[str, ...]
    per_site: tuple[PatternFit | None, ...]
    mean: PatternFit | None

    def __getitem__(self, site: str) -> PatternFit | None:
        try:
            return self.per_site[self.sites.index(site)]
        except ValueError:
            raise KeyError(f"no site {site!r}; sites are: {', '.join(self.sites)}") from None


def fit_scan(scan: LRScan) -> ScanFits:
    """Fit ``Φ((ln λ − μ)/σ)`` per site and to the mean ``P̄`` (SPEC §3)."""
    per_site = tuple(
        fit_pattern_model(scan.lrs, p, batch_size=scan.batch_size) for p in scan.probabilities
    )
    mean = fit_pattern_model(scan.lrs, scan.mean_probabilities, batch_size=scan.batch_size)
    return ScanFits(sites=scan.sites, per_site=per_site, mean=mean)


@dataclass(frozen=True)
class Measurement:
    """The activation pattern temperature of one training step (SPEC §1).

    Attributes:
        step: index of the training step measured (0-based: the step's update θ_t → θ_{t+1}).
        sites: site names in order of first call.
        changed: per site, the number of samples whose pattern changed.
        batch_size: samples measured (summed over ranks in distributed training).
        temperatures: per site, ``−log2(1 − P_l)`` in bits.
        mean_temperature: plain mean of ``temperatures``.
        scan: the LR range scan, on scan steps.
        fits: pattern-model fits of the scan, on scan steps.
    """

    step: int
    sites: tuple[str, ...]
    changed: tuple[int, ...]
    batch_size: int
    temperatures: tuple[float, ...]
    mean_temperature: float
    scan: LRScan | None = None
    fits: ScanFits | None = None

    @classmethod
    def from_counts(
        cls,
        step: int,
        sites: tuple[str, ...],
        changed: NDArray[np.int64],
        batch_size: int,
        scan: LRScan | None = None,
    ) -> Measurement:
        temps = temperatures_from_counts(changed, batch_size)
        return cls(
            step=step,
            sites=sites,
            changed=tuple(int(c) for c in changed),
            batch_size=batch_size,
            temperatures=tuple(float(t) for t in temps),
            mean_temperature=float(temps.mean()),
            scan=scan,
            fits=fit_scan(scan) if scan is not None else None,
        )
