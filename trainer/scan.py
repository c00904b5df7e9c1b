"""A quick LR range scan for a model and dataset, without a run: what the Design page shows.

One training step at initialisation on one batch, then the LR range analysis of docs/algorithm.md §3 on
that batch; the fit on the mean gives μ and σ, from which a target temperature curve implies
a learning-rate schedule.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from actcool import Measurement, PatternFit, TemperatureMonitor

from .build import seeded_model
from .config import RunConfig
from .device import resolve_device
from .schedules import build_optimizer, scan_grid

__all__ = ["quick_scan", "scan_at_init"]


def scan_at_init(config: RunConfig, batch_size: int | None = None) -> Measurement:
    """One training step at initialisation on one batch, measured with an LR range scan at
    ``config.granularity``, as a run's step-0 scan: the :class:`~actcool.Measurement` with
    both response models fitted (``m.fits``)."""
    device = resolve_device(config.device)
    bundle, model = seeded_model(config, device)
    optimizer = build_optimizer(config, model)
    batch = min(batch_size or config.batch_size, len(bundle.split("train")))
    x, y = next(
        iter(
            bundle.batches(
                "train",
                batch,
                shuffle=True,
                generator=torch.Generator().manual_seed(config.seed),
                drop_last=True,
            )
        )
    )
    with TemperatureMonitor(
        model,
        measure_every=1,
        scan_lrs=scan_grid(config),
        optimizer=optimizer,
        granularity=config.granularity,
        compare_with=config.compare_granularities,
    ) as monitor:
        monitor.request_scan(0)
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        m = monitor.step(x)
    if m is None or m.fits is None:
        raise RuntimeError("the quick scan measured nothing: the model has no ReLU site reached")
    return m


def quick_scan(config: RunConfig, batch_size: int | None = None) -> tuple[PatternFit | None, int]:
    """The Gaussian-CDF fit (μ, σ) of the mean temperature at initialisation, and the batch size
    (:func:`scan_at_init` keeps everything else).

    Returns:
        ``(fit, batch_size)``; ``fit`` is None when the scan shows too little signal.
    """
    m = scan_at_init(config, batch_size)
    fit = m.fits.mean
    if fit is not None and not (math.isfinite(fit.mu) and math.isfinite(fit.sigma)):
        fit = None
    return fit, m.batch_size
