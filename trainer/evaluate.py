"""Evaluation of a run's model: the mean cross-entropy and error over a split, and the
averaged weights a schedule-free optimizer is evaluated at."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.swa_utils import update_bn

from .data import DatasetBundle

__all__ = ["EVAL_BATCH", "averaged_weights", "evaluate"]

EVAL_BATCH = 1024
# Batches over which a schedule-free run's BatchNorm statistics are recomputed for evaluation.
BN_BATCHES = 50


def evaluate(
    model: nn.Module, bundle: DatasetBundle, split: str
) -> tuple[float | None, float | None]:
    """Mean cross-entropy and error (%) over a split, in eval mode; (None, None) if empty."""
    if len(bundle.split(split)) == 0:
        return None, None
    was_training = model.training
    model.eval()
    loss_sum, wrong, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in bundle.batches(split, EVAL_BATCH, augment=False):
            out = model(x)
            loss_sum += nn.functional.cross_entropy(out, y, reduction="sum").item()
            wrong += (out.argmax(1) != y).sum().item()
            n += y.numel()
    model.train(was_training)
    return loss_sum / n, 100.0 * wrong / n


@contextmanager
def averaged_weights(
    model: nn.Module, optimizer: Optimizer, bundle: DatasetBundle, batch_size: int
) -> Iterator[None]:
    """Inside, a schedule-free ``optimizer``'s model is at its averaged weights
    (``optimizer.eval()``), with BatchNorm statistics recomputed there (``update_bn``: a
    cumulative average over the first :data:`BN_BATCHES` training batches of a fixed
    shuffle). Everything is put back after (weights, buffers, the global RNG), so training,
    and a checkpoint saved in train mode, continue exactly. Any other optimizer: nothing
    changes."""
    if not hasattr(optimizer, "eval") or not hasattr(optimizer, "train"):
        yield
        return
    buffers = [(b, b.clone()) for b in model.buffers()]  # the running statistics
    rng = torch.get_rng_state()
    optimizer.eval()
    try:
        batches = bundle.batches(
            "train",
            batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
            drop_last=True,
        )
        update_bn(itertools.islice(batches, BN_BATCHES), model)
        yield
    finally:
        optimizer.train()
        for buffer, saved in buffers:
            buffer.copy_(saved)
        torch.set_rng_state(rng)
