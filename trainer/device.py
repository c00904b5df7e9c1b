"""Device choice and torch.distributed set-up: the same code path on CPU, one GPU or torchrun."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import ConfigError

__all__ = ["DistInfo", "init_distributed", "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when present (one GPU per local rank), else the CPU.

    Raises:
        ValueError: CUDA asked for on a machine without it, or a GPU index that does not exist.
    """
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {spec!r} asked for, but this machine has no CUDA GPU; use device 'cpu'"
            )
        index = int(spec.split(":")[1]) if ":" in spec else local_rank
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device cuda:{index} does not exist; this machine has {torch.cuda.device_count()} GPU(s)"
            )
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def init_distributed(device_spec: str) -> DistInfo:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1), else do nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        use_nccl = device_spec != "cpu" and torch.cuda.is_available()
        dist.init_process_group("nccl" if use_nccl else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
