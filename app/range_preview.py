"""The Design page's range test: a run's own first batch at initialisation, one real update
re-evaluated at many rates (:func:`actcool.lr_scan`), and the peak rates it points to.

ActCoolLR (``find_lr``, the default) takes its peak from λ0 of the step-0 scan: 4.5 × λ0 under
SGD with momentum 0.9, or the optimizer's rate when within 1.5 × of that
(``actcool.scale.peak_rate``); a 1-cycle peak is about 13 × λ0
(:meth:`actcool.RangeTest.suggestion`). The multiples are the optimizer's
(``actcool.scale.rate_factors``, which :func:`actcool.lr_scan` stores on its result). Pure functions of a
:class:`~trainer.config.RunConfig` and a result: no Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from actcool.finder import ADAM_HOLD_RATE, SGD_WAIT_RATE
from actcool.scale import AGREEMENT, peak_rate, rate_scale, reaches
from trainer.config import RunConfig

if TYPE_CHECKING:
    from actcool import RangeTest

__all__ = ["Peaks", "caption", "first_batch_scan", "no_fit_message", "peaks"]


def first_batch_scan(config: RunConfig) -> RangeTest:
    """:func:`actcool.lr_scan` of ``config``'s seeded model and fresh optimizer on the run's
    first training batch (epoch 0, as the run draws it), with the run's loss (cross-entropy)
    over the run's scan grid at ``config.granularity``.

    Raises:
        ValueError: a batch larger than the training set (or a config the trainer rejects).
    """
    # torch, the data and the models: imported only when a range test is asked for
    from torch import nn

    from actcool import lr_scan
    from trainer.build import epoch_batches, seeded_model
    from trainer.device import resolve_device
    from trainer.schedules import build_optimizer, scan_grid

    bundle, model = seeded_model(config, resolve_device(config.device))
    optimizer = build_optimizer(config, model)
    batch = next(iter(epoch_batches(config, bundle, 0)), None)
    if batch is None:
        raise ValueError(
            f"batch_size {config.batch_size} is larger than the training set "
            f"({len(bundle.split('train'))} samples); choose a smaller batch"
        )
    model.train()
    return lr_scan(
        model,
        optimizer,
        batch,
        nn.functional.cross_entropy,
        scan_grid(config),
        granularity=config.granularity,
    )


@dataclass(frozen=True)
class Peaks:
    """The peak rates a range test points to.

    Attributes:
        scale: λ0, the rate scale (Weibull fit of the mean ``unit:64`` temperature).
        found: ActCoolLR's finder alone, ``peak_factor`` × λ0.
        actcool: ActCoolLR's peak: the hint if within ``AGREEMENT`` × of ``found``, else it.
        kept: whether the hint (the rate typed) is kept.
        onecycle: a 1-cycle peak, ``onecycle_factor`` × λ0
            (:meth:`~actcool.RangeTest.suggestion`).
        peak_factor, onecycle_factor: the optimizer's multiples of λ0
            (``actcool.scale.rate_factors``).
    """

    scale: float
    found: float
    actcool: float
    kept: bool
    onecycle: float
    peak_factor: float
    onecycle_factor: float


def peaks(result: RangeTest, hint: float) -> Peaks | None:
    """The peaks for the optimizer's rate ``hint``, or ``None`` when the scan gives no λ0 or
    no multiples are known for the scan's optimizer. λ0 is fitted once, here."""
    peak_factor, onecycle_factor = result.peak_factor, result.onecycle_factor
    if peak_factor is None or onecycle_factor is None:
        return None
    scale = rate_scale(result.scan)
    if scale is None:
        return None
    peak = peak_rate(hint, scale, peak_factor)
    return Peaks(
        scale,
        peak_factor * scale,
        peak,
        peak == hint,
        onecycle_factor * scale,
        peak_factor,
        onecycle_factor,
    )


def caption(found: Peaks, hint: float) -> str:
    """The peaks in plain words (Markdown)."""
    verdict = "kept" if found.kept else "replaced"
    verdict += f": {'within' if found.kept else 'more than'} {AGREEMENT:g} × of {found.found:.3g}"
    return (
        f"ActCoolLR will peak at **{found.actcool:.3g}** ({found.peak_factor:g} × λ0 = "
        f"{found.peak_factor:g} × {found.scale:.3g} = {found.found:.3g}; your rate {hint:.3g} "
        f"is {verdict}). A 1-cycle schedule would peak near **{found.onecycle:.3g}** "
        f"({found.onecycle_factor:g} × λ0)."
    )


def no_fit_message(result: RangeTest, hint: float) -> str:
    """Why the scan suggests no peak, and what a run does then."""
    keep = (
        f"An ActCoolLR run would keep your rate {hint:.3g} as its peak (its finder reads only "
        "the scan before training)."
    )
    if result.peak_factor is None or result.onecycle_factor is None:
        return (
            "No peak: no multiples of λ0 are known for this optimizer (actcool.scale."
            f"rate_factors knows SGD and Adam's family), so no peak can be suggested. {keep}"
        )
    if not reaches(result.scan):
        return (
            f"No peak: this step's gradient reached "
            f"{100 * (result.scan.gradient_reach or 0.0):.2g}% of the parameters (a "
            "zero-initialised layer, e.g. a classifier head, stops it), so the scan says nothing "
            "of the rate scale. An ActCoolLR run scans again during its warm-up: under Adam's "
            f"family at its next measurement (`measure_every` steps later, training at "
            f"{ADAM_HOLD_RATE:g} meanwhile), under SGD at every "
            "measurement until λ0 stops falling, warming up meanwhile towards SGD's wait rate "
            f"({SGD_WAIT_RATE:g} at momentum 0.9), not towards your rate; where the warm-up is "
            f"shorter than a measurement it keeps your rate {hint:.3g} as its peak."
        )
    reason = result.fits.reasons.get("weibull:mean", "too little signal to fit")
    return (
        f"No fit: the mean temperature of this scan gives no rate scale λ0 (Weibull: {reason}), "
        f"so no peak can be suggested. {keep}"
    )
