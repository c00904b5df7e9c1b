"""What one run trains, built the same way by a run (trainer/run.py) and by a preview of its
first steps (trainer/warmup.py): the data, the model at its seeded initialisation, the step
count, the optimizer and the schedule; the batches of an epoch. The steps themselves are
trained by trainer/steps.py.

Sharing these keeps a preview exact: with the same config it trains the very steps the run
will train.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim import Optimizer

from actcool.branches import BranchFinder

from .compute import model_memory_format
from .config import RunConfig
from .data import DatasetBundle, epoch_generator, load_dataset
from .errors import ConfigError
from .models import build_model
from .schedules import Schedule, build_optimizer, build_schedule

__all__ = [
    "RunParts",
    "build_run",
    "epoch_batches",
    "scans_at_epoch",
    "seeded_model",
]


@dataclass
class RunParts:
    """The pieces of one run, freshly built (step 0)."""

    bundle: DatasetBundle
    model: nn.Module
    steps_per_epoch: int
    total_steps: int
    optimizer: Optimizer
    schedule: Schedule


def seeded_model(config: RunConfig, device: torch.device) -> tuple[DatasetBundle, nn.Module]:
    """Seed torch with ``config.seed``, load the data and build the model on ``device`` (in
    channels-last format with ``config.channels_last``): the same initial weights on every
    rank, in a preview and in a quick scan."""
    torch.manual_seed(config.seed)
    bundle = load_dataset(
        config.dataset,
        config.data_dir,
        val_fraction=config.val_fraction,
        seed=config.seed,
        download=config.download,
    ).to(device)
    model = build_model(config.model, bundle.in_channels, bundle.num_classes, bundle.image_size)
    return bundle, model_memory_format(model.to(device), config.channels_last)


def build_run(config: RunConfig, device: torch.device) -> RunParts:
    """Seed torch with ``config.seed``, load the data, build the model, the optimizer and the
    schedule (ActCoolLR with the run's target, or a baseline) on ``device``.

    Raises:
        ConfigError: a batch larger than the training set.
    """
    bundle, model = seeded_model(config, device)
    steps_per_epoch = bundle.num_batches("train", config.batch_size, drop_last=True)
    if steps_per_epoch == 0:
        raise ConfigError(
            f"batch_size {config.batch_size} is larger than the training set "
            f"({len(bundle.split('train'))} samples); choose a smaller batch"
        )
    planned = config.epochs * steps_per_epoch
    total_steps = min(planned, config.max_steps) if config.max_steps else planned
    optimizer = build_optimizer(config, model, total_steps)
    target = (
        json.loads(config.target)
        if config.schedule == "actcool" and config.target != "default"
        else None
    )
    finder = (
        BranchFinder(
            _SearchBatches(config, bundle),
            nn.functional.cross_entropy,
            warmup_to_lowest=config.branch_warmup == "lowest",
            draws=config.branch_draws,
        )
        if config.schedule == "actcool" and config.branch_search
        else None
    )
    schedule = build_schedule(config, optimizer, model, total_steps, target, finder)
    return RunParts(bundle, model, steps_per_epoch, total_steps, optimizer, schedule)


class _SearchBatches:
    """The branch search's batches: training batches shuffled by a generator of their own
    (a function of ``config.seed``), so that they do not move the run's epochs."""

    def __init__(self, config: RunConfig, bundle: DatasetBundle) -> None:
        self.config, self.bundle = config, bundle

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.bundle.batches(
            "train",
            self.config.batch_size,
            shuffle=True,
            generator=epoch_generator(self.config.seed, BRANCH_SEARCH_EPOCH),
            drop_last=True,
        )


#: The "epoch" whose generator shuffles the branch search's batches (no run has this many).
BRANCH_SEARCH_EPOCH = 2**31 - 1


def scans_at_epoch(config: RunConfig, epoch: int) -> bool:
    """Whether the run requests an LR range scan at the first step of ``epoch``."""
    return bool(
        config.scan_unit == "epoch" and config.scan_every and epoch % config.scan_every == 0
    )


def epoch_batches(
    config: RunConfig, bundle: DatasetBundle, epoch: int, start_batch: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The training batches of ``epoch`` from ``start_batch`` on: a function of
    ``(config.seed, epoch)`` only, so a resumed run or a preview sees the same ones."""
    return bundle.batches(
        "train",
        config.batch_size,
        shuffle=True,
        generator=epoch_generator(config.seed, epoch),
        drop_last=True,
        start_batch=start_batch,
    )
