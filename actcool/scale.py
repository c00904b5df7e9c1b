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

Held out, an MLP on Fashion-MNIST trains best at 2.7 × λ0 under SGD (the factor overshoots its
narrow optimum: 0.8-1.5 points behind the best 1-cycle) and at the Adam factor's peak under
AdamW (docs/algorithm.md §4.8).

So ActCoolLR's peak is :data:`PEAK_FACTOR` × λ0 and a 1-cycle peak about
:data:`ONECYCLE_FACTOR` × λ0 (λ0 from three batches at initialisation per set-up; the ranges
are over batches). The optimizer's rate is then a hint: kept when it lies within
:data:`AGREEMENT` × of the finder's peak, replaced by the peak otherwise.

The multiples depend on the optimizer (:func:`rate_factors`), because the scan's update is the
first step's and training's are not: SGD's momentum buffer grows from one gradient to
``1/(1 − β)``, and Adam's first step moves every weight by about its rate, later steps by less.
Adam's family has factors of its own, measured on convnet4 / Fashion-MNIST with AdamW (torch's
defaults, 1 epoch, seed 0; λ0 4.6e-5-4.8e-5 at initialisation): ActCoolLR ending 9.95% and
9.92% with its peak at 1e-3 and 3e-3 (10.07% at 1e-2, 11.54% at 3e-4), 1-cycle 9.87% and
9.90% at 3e-3 and 1e-2 (10.33% at 1e-3); the factors put each peak at the log-middle of its two
best rates: :data:`ADAM_PEAK_FACTOR` and :data:`ADAM_ONECYCLE_FACTOR`. On a network with attention
(:func:`has_attention`) Adam's steps break the attention, which has no gate for the scan to read,
at rates the gates do not feel: two transformers trained best at 6-12 × λ0, and a third, held
out, met 1-cycle's best at 9 × λ0 (:data:`ATTENTION_ADAM_FACTORS`; docs/algorithm.md §4.8).

Pure arithmetic over a scan; no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .granularity import Granularity
from .measurement import LRScan, fit_scan

__all__ = [
    "ADAM_FACTORS",
    "AGREEMENT",
    "ATTENTION_ADAM_FACTORS",
    "MIN_GRADIENT_REACH",
    "ONECYCLE_FACTOR",
    "PEAK_FACTOR",
    "SCALE_SCAN_LRS",
    "RateFactors",
    "has_attention",
    "is_adam_family",
    "peak_rate",
    "rate_factors",
    "rate_scale",
    "reaches",
]

#: λ0 is read at this granularity whatever the scan counted (a bit count is a bit count).
SCALE_GRANULARITY = Granularity.parse("unit:64")
#: The grid of the scans that find λ0 (``ActCoolLR``'s and ``lr_scan``'s default): 41 rates
#: from 1e-8 to 1e2, four a decade (the monitor's 25 from 1e-4 and 16 below them). Adam's
#: first step moves every weight by about its rate, so its λ0 lies near 5e-5, where a grid that
#: starts at 1e-4 already flips several percent of the units and cannot be fitted; under SGD the
#: 16 low rates flip nothing and λ0 moves by less than 0.1%.
SCALE_SCAN_LRS: tuple[float, ...] = tuple(np.logspace(-8, 2, 41).tolist())
#: ActCoolLR's peak (its ceiling) as a multiple of λ0.
PEAK_FACTOR = 4.5
#: A 1-cycle peak as a multiple of λ0 (:meth:`actcool.RangeTest.suggestion`).
ONECYCLE_FACTOR = 13.0
#: ActCoolLR's peak and a 1-cycle peak over λ0 for Adam's family (√(1e-3·3e-3) and
#: √(3e-3·1e-2) over convnet4's λ0 of 4.72e-5; docs/algorithm.md §4.8).
ADAM_PEAK_FACTOR = 37.0
ADAM_ONECYCLE_FACTOR = 116.0
#: The same for Adam's family on a network with attention (two transformers, docs §4.8).
ATTENTION_ADAM_PEAK_FACTOR = 9.0
ATTENTION_ADAM_ONECYCLE_FACTOR = 11.0
#: The optimizer's rate is kept when within this factor of the finder's peak.
AGREEMENT = 1.5
#: The least share of the parameters' elements the scanned step's gradient must reach for its
#: scan to give the rate scale (a zero-initialised head lets it reach 0.3%, the last BatchNorm
#: of each residual block zeroed 2%; 3×3 convolutions on 1×1 maps, whose border taps see only
#: padding, 38%).
MIN_GRADIENT_REACH = 0.1


@dataclass(frozen=True)
class RateFactors:
    """The rates that train well as multiples of λ0, for one optimizer.

    Attributes:
        peak: ActCoolLR's peak (its ceiling) over λ0.
        onecycle: a 1-cycle peak over λ0 (:meth:`actcool.RangeTest.suggestion`).
        basis: what the factors were measured or derived for, in words (for logs).
    """

    peak: float
    onecycle: float
    basis: str


#: Adam, AdamW, NAdam, RAdam and Adamax: their first step moves each weight by about the rate
#: whatever its gradient, later steps by less (docs/algorithm.md §4.8).
ADAM_FACTORS = RateFactors(peak=ADAM_PEAK_FACTOR, onecycle=ADAM_ONECYCLE_FACTOR, basis="Adam")
#: Adam's family on a network with attention. The scan reads the gates (the MLPs' activations);
#: attention's softmax has none, and under Adam's steps, which move every weight of the queries
#: and keys by about the rate, it is the part that breaks first: two transformers trained best
#: at 6-12 × λ0 where the other networks want 37 × (docs/algorithm.md §4.8).
ATTENTION_ADAM_FACTORS = RateFactors(
    peak=ATTENTION_ADAM_PEAK_FACTOR,
    onecycle=ATTENTION_ADAM_ONECYCLE_FACTOR,
    basis="Adam on a network with attention",
)
#: torch.optim classes whose steps are Adam's (``AdamW`` is not a subclass of ``Adam`` in every
#: torch version this package admits, so each is named).
_ADAM_FAMILY = ("Adam", "AdamW", "NAdam", "RAdam", "Adamax")
#: SGD's reference momentum: the factors above were measured at it.
_SGD_MOMENTUM = 0.9


def is_adam_family(optimizer: Any) -> bool:
    """Whether ``optimizer`` takes Adam's steps (Adam, AdamW, NAdam, RAdam, Adamax)."""
    import torch

    adam = tuple(getattr(torch.optim, name) for name in _ADAM_FAMILY if hasattr(torch.optim, name))
    return isinstance(optimizer, adam)


def has_attention(model: Any) -> bool:
    """Whether ``model`` holds an attention layer: a ``torch.nn.MultiheadAttention``, or a
    module whose class name ends in ``Attention`` (timm's ``Attention`` and ``WindowAttention``,
    Hugging Face's ``*SelfAttention``, ``LlamaAttention``, ...). Attention written inline in a
    module of another name is not seen."""
    import torch

    modules = model.modules() if isinstance(model, torch.nn.Module) else ()
    return any(
        isinstance(m, torch.nn.MultiheadAttention) or type(m).__name__.endswith("Attention")
        for m in modules
    )


def rate_factors(optimizer: Any, model: Any = None) -> RateFactors | None:
    """The λ0 multiples for ``optimizer`` (training ``model``); ``None`` where none are known.

    SGD: the scan's update is the first step's (the momentum buffer starts at the gradient,
    ``(1 + β)`` times it with Nesterov), training's the buffer's steady state,
    ``(1 − dampening)/(1 − β)`` gradients: the factors measured at β = 0.9 are rescaled by the
    ratio of the two (× 1 at β = 0.9; × 10 without momentum, derived, not measured). Adam's
    family: :data:`ADAM_FACTORS`, or :data:`ATTENTION_ADAM_FACTORS` where ``model`` has
    attention (:func:`has_attention`; both measured). Any other optimizer: ``None``.
    """
    import torch

    if is_adam_family(optimizer):
        return (
            ATTENTION_ADAM_FACTORS if model is not None and has_attention(model) else ADAM_FACTORS
        )
    if not isinstance(optimizer, torch.optim.SGD):
        return None
    group = optimizer.param_groups[0]
    beta = float(group.get("momentum", 0.0))
    dampening = float(group.get("dampening", 0.0))
    nesterov = bool(group.get("nesterov", False))
    amplification = _amplification(beta, dampening, nesterov)
    rescale = _amplification(_SGD_MOMENTUM, 0.0, False) / amplification
    basis = f"SGD momentum {beta:g}" + (", Nesterov" if nesterov else "")
    return RateFactors(PEAK_FACTOR * rescale, ONECYCLE_FACTOR * rescale, basis)


def _amplification(beta: float, dampening: float, nesterov: bool) -> float:
    """How many times the first step's update SGD's steady steps are, per unit rate."""
    if beta <= 0:
        return 1.0
    steady = (1.0 - dampening) / (1.0 - beta)
    first = 1.0 + beta if nesterov else 1.0
    return steady / first


def reaches(scan: LRScan) -> bool:
    """Whether the scanned step's gradient reached :data:`MIN_GRADIENT_REACH` of the
    parameters' elements (``True`` where the scan does not say): below it, a zero-initialised
    layer stopped the gradient and the update moved a few layers only."""
    reach = scan.gradient_reach
    return reach is None or reach >= MIN_GRADIENT_REACH


def rate_scale(scan: LRScan) -> float | None:
    """λ0 of the Weibull fit of the scan's mean ``unit:64`` temperature (re-counted from the
    flipped bits when the scan used another granularity); ``None`` without a fit, where the
    fit puts λ0 outside the scanned rates (exact zeros at a site's input, which any update
    flips, gave 1e-36), or where the scanned step's gradient reached under
    :data:`MIN_GRADIENT_REACH` of the parameters (:func:`reaches`)."""
    if not reaches(scan):
        return None
    if scan.granularity != SCALE_GRANULARITY:
        scan = replace(scan, granularity=SCALE_GRANULARITY)
    fit = fit_scan(scan).weibull_mean
    if fit is None or not (math.isfinite(fit.lambda0) and fit.lambda0 > 0):
        return None
    lrs = np.asarray(scan.lrs, dtype=np.float64)
    if not lrs.min() <= fit.lambda0 <= lrs.max():
        return None  # extrapolated: the scan never saw the rate it names
    return float(fit.lambda0)


def peak_rate(hint: float, scale: float, factor: float = PEAK_FACTOR) -> float:
    """The peak rate from the optimizer's rate ``hint`` and the network's λ0 ``scale``:
    ``hint`` where it lies within :data:`AGREEMENT` × of ``factor × scale``, else that product."""
    found = factor * scale
    if found / AGREEMENT <= hint <= found * AGREEMENT:
        return float(hint)
    return float(found)
