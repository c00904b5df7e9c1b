"""A quick LR range scan for a model and dataset, without a run: what the Design page shows.

One training step at initialisation on one batch (the run's own step, trainer/steps.py), then
the LR range analysis of docs/algorithm.md §3 on that batch; the fit on the mean gives μ and
σ, from which a target temperature curve implies a learning-rate schedule.
"""

from __future__ import annotations

import torch

from actcool import Measurement, TemperatureMonitor

from .build import seeded_model
from .config import RunConfig
from .device import resolve_device
from .schedules import build_optimizer, scan_grid
from .steps import training_steps

__all__ = ["scan_at_init"]


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
        (trained,) = training_steps(model, optimizer, [(x, y)], lambda x, loss: monitor.step(x))
    m = trained.measurement
    if m is None or m.fits is None:
        raise RuntimeError("the quick scan measured nothing: the model has no ReLU site reached")
    return m
