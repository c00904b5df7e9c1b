"""Combining measurements across ranks (docs/algorithm.md §1: counts and B are summed before dividing)."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["all_reduce_sum", "is_distributed", "mean_over_ranks"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` in place over all ranks of the default group (a no-op without one)."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def mean_over_ranks(values: np.ndarray) -> np.ndarray:
    """``values`` averaged over all ranks of the default group (themselves without one), so
    that every rank decides alike."""
    if not is_distributed():
        return values
    total = all_reduce_sum(torch.tensor(values, dtype=torch.float64))
    return total.numpy() / dist.get_world_size()
