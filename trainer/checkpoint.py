"""Checkpoints: everything needed to continue a run with the identical learning-rate sequence.

Written atomically (temporary file, then rename), so a kill during a save leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["checkpoint_path", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]


def checkpoint_path(home: str | os.PathLike, run_id: str) -> Path:
    return Path(home) / "checkpoints" / run_id / "last.pt"


def rng_state() -> dict[str, Any]:
    return {
        "cpu": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU.

    Raises:
        FileNotFoundError: no checkpoint yet (the run stopped before its first one).
    """
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}: the run ended before its first checkpoint "
            "(one is written every epoch and at stop); start it again instead"
        )
    return torch.load(path, map_location="cpu", weights_only=False)
