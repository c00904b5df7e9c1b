"""Snapshots of a model and its optimizer, to go back to after the loss probe's overshoot.

The tensors are kept on the CPU (a probe holds a few snapshots; on a GPU they would take a few
times the memory of the model and its optimizer state). Restoring copies them back in place,
so the optimizer's references to the parameters stay valid.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

__all__ = ["Snapshot", "restore", "take"]

#: ``{"model": model state dict, "optimizer": optimizer state dict}``, tensors on the CPU.
Snapshot = dict[str, Any]


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return copy.deepcopy(value)


def take(model: nn.Module, optimizer: Optimizer) -> Snapshot:
    """A copy of the model's parameters and buffers and of the optimizer's state."""
    return {"model": _to_cpu(model.state_dict()), "optimizer": _to_cpu(optimizer.state_dict())}


def restore(snapshot: Snapshot, model: nn.Module, optimizer: Optimizer) -> None:
    """Put ``snapshot`` back into ``model`` and ``optimizer`` (their rates are the scheduler's
    to set next). The snapshot itself is left intact."""
    model.load_state_dict(snapshot["model"])
    # load_state_dict keeps references into the dict it is given: hand it a copy
    optimizer.load_state_dict(copy.deepcopy(snapshot["optimizer"]))
