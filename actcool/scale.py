"""The rate scale of a network, read off an LR range scan: the finder of the peak rate.

The temperature cannot choose the peak rate during training (docs/algorithm.md §5: under
BatchNorm the temperature a rate produces depends on the history of rates). Before training
it can: the Weibull fit ``T = (λ/λ0)^k / ln 2`` of the step-0 scan gives λ0, the rate at which
one update flips about 1.5% of the units (1.44 bits of ``unit:64``), and the rates that train
well are a fixed multiple of it on every network measured so far (docs/algorithm.md §4.8):

========================  ==============  =====================  ==========================
set-up (SGD momentum 0.9)  λ0 at step 0    best ActCoolLR ceiling  best 1-cycle peak
========================  ==============  =====================  ==========================
convnet4 / Fashion-MNIST   0.0061-0.0075   0.03 (1 epoch)          0.03-0.1 (1 ep), 0.05 (2)
4-layer CNN without BN     0.019-0.026     0.1 (1 epoch)           0.1 (1 epoch)
ResNet-20 / CIFAR-10       0.0074-0.0115   0.05 (2 epochs, ahead   0.1-0.5 (2 epochs)
                                           of the best 1-cycle)
========================  ==============  =====================  ==========================

So ActCoolLR's peak is :data:`PEAK_FACTOR` × λ0 and a 1-cycle peak about
:data:`ONECYCLE_FACTOR` × λ0 (λ0 from three batches at initialisation per set-up; the ranges
are over batches). The optimizer's rate is then a hint: kept when it lies within
:data:`AGREEMENT` × of the finder's peak, replaced by the peak otherwise.

Pure arithmetic over a scan; no state.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .granularity import Granularity
from .measurement import LRScan, fit_scan

__all__ = ["AGREEMENT", "ONECYCLE_FACTOR", "PEAK_FACTOR", "peak_rate", "rate_scale"]

#: λ0 is read at this granularity whatever the scan counted (a bit count is a bit count).
SCALE_GRANULARITY = Granularity.parse("unit:64")
#: ActCoolLR's peak (its ceiling) as a multiple of λ0.
PEAK_FACTOR = 4.5
#: A 1-cycle peak as a multiple of λ0 (:meth:`actcool.RangeTest.suggestion`).
ONECYCLE_FACTOR = 13.0
#: The optimizer's rate is kept when within this factor of the finder's peak.
AGREEMENT = 1.5


def rate_scale(scan: LRScan) -> float | None:
    """λ0 of the Weibull fit of the scan's mean ``unit:64`` temperature (re-counted from the
    flipped bits when the scan used another granularity); ``None`` without a fit."""
    if scan.granularity != SCALE_GRANULARITY:
        scan = replace(scan, granularity=SCALE_GRANULARITY)
    fit = fit_scan(scan).weibull_mean
    if fit is None or not (math.isfinite(fit.lambda0) and fit.lambda0 > 0):
        return None
    return float(fit.lambda0)


def peak_rate(hint: float, scale: float, factor: float = PEAK_FACTOR) -> float:
    """The peak rate from the optimizer's rate ``hint`` and the network's λ0 ``scale``:
    ``hint`` where it lies within :data:`AGREEMENT` × of ``factor × scale``, else that product."""
    found = factor * scale
    if found / AGREEMENT <= hint <= found * AGREEMENT:
        return float(hint)
    return float(found)
