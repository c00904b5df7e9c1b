"""Snapshots of a model and its optimizer, to go back to: after the loss probe's overshoot, and
when the divergence guard trips (:class:`GuardRollback`).

The tensors are kept on the CPU (a probe holds a few snapshots; on a GPU they would take a few
times the memory of the model and its optimizer state). Restoring copies them back in place,
so the optimizer's references to the parameters stay valid.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

__all__ = ["FROM_START", "GuardRollback", "Snapshot", "restore", "take"]

#: ``{"model": model state dict, "optimizer": optimizer state dict}``, tensors on the CPU.
Snapshot = dict[str, Any]

#: What :meth:`GuardRollback.tripped` answers when it started the run again from its start.
FROM_START = "the weights it started with"


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


@dataclass
class GuardRollback:
    """The state the divergence guard goes back to when it trips (docs/algorithm.md §4.7).

    A cut of the rate comes a measurement late: the window that tripped the guard was trained
    at the rate that broke the network, and a broken network can diverge at a rate it used to
    train at (a SiLU MLP regressing with MSE under SGD, cut from 0.56 to 0.28 at step 60, went
    on from a loss of 69 to NaN at 0.05 by step 69). So at each measurement the guard passes
    while the run trains at its highest rate so far (the warm-up, or a hold at the ceiling),
    the model's and optimizer's state is kept (one copy, on the CPU); when the guard trips at
    the next measurement with damage a cut cannot undo (``DivergenceGuard.calls_for_rollback``:
    units died, or the loss is back at its start), that state is put back before the cut rate
    applies. A measurement at a lower rate drops the copy: rates the run has trained at safely
    need none, and its memory is freed. After a trip the highest rate restarts from the cut
    one.

    A layer that died as a whole (the guard's ``site_dark``) usually died over a few
    measurements of the warm-up, so the state of the measurement before is dying too (a ReLU
    autoencoder put back there under AdamW lost the layer again, under SGD it trained on with
    31 of its 32 units dead). So the state the run started with (:meth:`keep_start`, a second
    copy) is held through the warm-up, and such a trip starts the run again from it, at the
    cut rate (``ActCoolLR`` also lets its warm-up climb again from the first rate).

    Attributes:
        step: the measurement step of the kept state (``None`` when none is kept).
        snapshot: the kept state (:func:`take`), or ``None``.
        top_lr: the highest rate at a measurement since the start or the last trip.
        start: the state the run started with, through the warm-up (``None`` after).
    """

    step: int | None = None
    snapshot: Snapshot | None = None
    top_lr: float = 0.0
    start: Snapshot | None = None

    def keep_start(self, model: nn.Module, optimizer: Optimizer) -> None:
        """Keep the state the run starts with (see the class docstring)."""
        self.start = take(model, optimizer)

    def drop_start(self) -> None:
        """The warm-up is over: free the start's copy."""
        self.start = None

    def passed(self, step: int, lr: float, model: nn.Module, optimizer: Optimizer) -> None:
        """The guard passed the measurement of ``step`` (trained at ``lr``): keep the state
        where ``lr`` is the highest so far, drop the kept one otherwise."""
        if lr >= self.top_lr:
            self.top_lr = float(lr)
            self.step, self.snapshot = int(step), take(model, optimizer)
        else:
            self.step = self.snapshot = None

    def tripped(
        self,
        step: int,
        since: int,
        model: nn.Module,
        optimizer: Optimizer,
        put_back: bool = True,
        to_start: bool = False,
    ) -> str | None:
        """The guard tripped at ``step``: with ``put_back``, put back the state kept at most
        ``since`` steps before (the previous measurement), or with ``to_start`` the state the
        run started with where it is still held, and say which ("the weights after step N",
        or :data:`FROM_START`); ``None`` where none is put back. The state of the
        previous measurement is dropped either way; the start's is kept for another trip."""
        kept_step, kept = self.step, self.snapshot
        self.step = self.snapshot = None
        self.top_lr = 0.0
        if not put_back:
            return None
        if to_start and self.start is not None:
            restore(self.start, model, optimizer)
            return FROM_START
        if kept is None or kept_step is None or kept_step < step - since:
            return None
        restore(kept, model, optimizer)
        return f"the weights after step {kept_step}"

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "snapshot": self.snapshot,
            "top_lr": self.top_lr,
            "start": self.start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = None if state.get("step") is None else int(state["step"])
        self.snapshot = state.get("snapshot")
        self.top_lr = float(state.get("top_lr", 0.0))
        self.start = state.get("start")
