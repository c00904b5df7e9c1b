"""The one training loop: the steps a run trains, shared by the run (trainer/run.py), the
preview of its warm-up (trainer/warmup.py) and the quick scan's step (trainer/scan.py).

:func:`training_steps` is the loop of a step: forward, cross-entropy, backward, optimizer step
(through a ``GradScaler``), then the schedule's step, which measures and sets the next rate. It
reads nothing from the device: a step that does not measure never waits for the GPU.
:class:`RunSteps` feeds it a run's batches in the run's order (the epochs of
:func:`~trainer.build.epoch_batches`, the LR range scan requested at an epoch's start, each
rank's shard) up to the run's last step, and resumes mid-epoch. A preview that trains through
these is exact: with the same config it trains the very steps the run will train.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.optim import Optimizer

from actcool import Measurement
from actcool.monitor import first_group_lr

from .build import RunParts, epoch_batches, scans_at_epoch
from .compute import Precision, to_memory_format
from .config import RunConfig
from .prefetch import prefetch

__all__ = ["RunSteps", "TrainedStep", "train_step", "training_steps"]

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class TrainedStep:
    """One step as trained.

    Attributes:
        step: its index in the run (0-based).
        batch: its batch's index in the epoch.
        inputs, targets: the batch (this rank's shard of it).
        outputs: the model's outputs, detached.
        loss: the mean cross-entropy, detached, a 0-dim tensor on the device: reading it
            (``float(loss)``) waits for the device, so a loop reads many at once.
        lr: the rate the step trained with.
        measurement: what the schedule measured at its end (``None`` off measurement steps).
    """

    step: int
    batch: int
    inputs: torch.Tensor
    targets: torch.Tensor
    outputs: torch.Tensor
    loss: torch.Tensor
    lr: float
    measurement: Measurement | None


def train_step(
    model: Callable[..., torch.Tensor],
    optimizer: Optimizer,
    scaler: torch.amp.GradScaler,
    x: torch.Tensor,
    y: torch.Tensor,
    precision: Precision | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on ``(x, y)``: forward (under ``precision``'s autocast),
    cross-entropy, backward through ``scaler``, optimizer step. Returns the outputs and the
    loss (attached to the graph; ``.detach()`` them). Nothing is read from the device."""
    with precision.autocast() if precision is not None else nullcontext():
        out = model(x)
        loss = nn.functional.cross_entropy(out, y)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return out, loss


def training_steps(
    model: nn.Module,
    optimizer: Optimizer,
    batches: Iterable[Batch],
    finish: Callable[[torch.Tensor, torch.Tensor], Measurement | None],
    *,
    scaler: torch.amp.GradScaler | None = None,
    precision: Precision | None = None,
    compiled: Callable[..., torch.Tensor] | None = None,
    measures_next: Callable[[], bool] | None = None,
    rate: Callable[[], float] | None = None,
    step: int = 0,
    batch: int = 0,
) -> Iterator[TrainedStep]:
    """Train ``model`` on each of ``batches`` in turn (in training mode), yielding each step.

    No step reads a tensor into Python here (on a GPU each read waits for the device): the
    loss stays on the device in the :class:`TrainedStep`, and ``finish`` reads what it needs
    on the steps it measures.

    Args:
        model: what is trained (a ``DistributedDataParallel`` wrapper under ``torchrun``).
        optimizer: its optimizer.
        batches: ``(x, y)`` pairs; one step each.
        finish: called as ``finish(x, loss)`` after the optimizer's step, e.g. a schedule's
            ``step``; returns the step's measurement or ``None``. (The monitor replays the
            recorded forward's autocast: its passes compare patterns of the step's precision.)
        scaler: the ``GradScaler`` the step goes through (default: a disabled one, which
            steps the optimizer as it is).
        precision: the autocast of the forward passes (default: float32).
        compiled: a compiled ``model`` (``torch.compile``) for the steps that do not
            measure; a measuring step runs ``model`` itself, so that the measurement's hooks
            see its forward.
        measures_next: whether the next step measures (default: every step does, so
            ``compiled`` is never used).
        rate: the rate the next step trains with, read before it (default: group 0's).
        step, batch: the index of the first step in the run and of its batch in the epoch.
    """
    if scaler is None:
        scaler = torch.amp.GradScaler("cuda", enabled=False)
    rate = rate if rate is not None else partial(first_group_lr, optimizer)
    model.train()
    for i, (x, y) in enumerate(batches):
        lr = rate()
        eager = compiled is None or measures_next is None or measures_next()
        out, loss = train_step(model if eager else compiled, optimizer, scaler, x, y, precision)
        loss = loss.detach()
        m = finish(x, loss)
        yield TrainedStep(step + i, batch + i, x, y, out.detach(), loss, lr, m)


class RunSteps:
    """The training steps of one run, in the run's order, from a position on.

    Iterate :meth:`epoch` for one epoch's steps (the run evaluates between epochs), or the
    object itself for every step to the run's end. After each step, :attr:`step` is the next
    step to train and :attr:`batch` the next batch of the epoch: where a checkpoint resumes.

    Args:
        config: the run.
        parts: what :func:`~trainer.build.build_run` built for it.
        model: what is trained, if not ``parts.model`` (its DDP wrapper).
        scaler, precision, compiled: as for :func:`training_steps` (measuring steps are the
            schedule's monitor's).
        rank, world_size: this process's shard of each batch (rank 0 of 1: all of it).
        step: the next step to train (after a resume).
    """

    def __init__(
        self,
        config: RunConfig,
        parts: RunParts,
        *,
        model: nn.Module | None = None,
        scaler: torch.amp.GradScaler | None = None,
        precision: Precision | None = None,
        compiled: Callable[..., torch.Tensor] | None = None,
        rank: int = 0,
        world_size: int = 1,
        step: int = 0,
    ) -> None:
        self.config, self.parts = config, parts
        self.model = model if model is not None else parts.model
        self.scaler, self.precision, self.compiled = scaler, precision, compiled
        self.rank, self.world_size = rank, world_size
        self.step = step
        self.batch = 0

    @property
    def done(self) -> bool:
        """Whether the run's last step is trained."""
        return self.step >= self.parts.total_steps

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[TrainedStep]:
        """The steps of ``epoch`` from batch ``start_batch`` on, up to the run's last step;
        an LR range scan is requested at an epoch's first step where the run scans."""
        cfg, parts = self.config, self.parts
        self.batch = start_batch
        if scans_at_epoch(cfg, epoch) and start_batch == 0:
            parts.schedule.monitor.request_scan(self.step)
        batches = prefetch(epoch_batches(cfg, parts.bundle, epoch, start_batch), cfg.num_workers)
        for trained in training_steps(
            self.model,
            parts.optimizer,
            self._until_done(self._shards(batches)),
            parts.schedule.step,
            scaler=self.scaler,
            precision=self.precision,
            compiled=self.compiled,
            measures_next=self._measures_next,
            rate=partial(parts.schedule.effective_lr, parts.optimizer),
            step=self.step,
            batch=start_batch,
        ):
            self.step, self.batch = trained.step + 1, trained.batch + 1
            yield trained

    def __iter__(self) -> Iterator[TrainedStep]:
        for epoch in range(self.config.epochs):
            if self.done:
                return
            yield from self.epoch(epoch)

    def _measures_next(self) -> bool:
        monitor = self.parts.schedule.monitor
        return monitor.is_measure_step(monitor.step_count)

    def _shards(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        world, rank = self.world_size, self.rank
        shard = self.config.batch_size // world
        channels_last = self.config.channels_last
        for x, y in batches:
            if world > 1:
                x, y = x[rank * shard : (rank + 1) * shard], y[rank * shard : (rank + 1) * shard]
            yield to_memory_format(x, channels_last), y

    def _until_done(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        for item in batches:
            if self.done:
                return
            yield item
