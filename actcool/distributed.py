"""Combining measurements across ranks (docs/algorithm.md §1: counts and B are summed before dividing)."""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["all_reduce_sum", "is_distributed"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` in place over all ranks of the default group (a no-op without one)."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
