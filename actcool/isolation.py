"""Run extra forward passes that leave no trace (docs/algorithm.md §1, §3).

The measurement pass and the LR range scan run the model again. Afterwards the parameters,
buffers (BatchNorm running statistics, ``num_batches_tracked``), module train/eval flags and
the random number generators must be exactly as the training loop left them, and dropout must
draw the masks of the recorded training forward. These helpers snapshot and restore that state.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "ForwardContext",
    "RngState",
    "StepSnapshot",
    "capture_forward_context",
    "preserved_model_state",
    "replay_context",
    "reset_buffers",
    "step_parameters",
]


@dataclass
class RngState:
    """CPU and (when initialised) CUDA generator states."""

    cpu: Tensor
    cuda: list[Tensor] | None

    @classmethod
    def capture(cls) -> RngState:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return cls(torch.get_rng_state(), cuda)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)


@dataclass
class ForwardContext:
    """What a training forward ran under, so that a later pass can run under the same."""

    rng: RngState
    training: list[bool]  # one flag per module, in model.modules() order
    autocast: tuple[str, bool, torch.dtype] | None


def _autocast_state(device_type: str) -> tuple[str, bool, torch.dtype] | None:
    if device_type not in ("cpu", "cuda"):
        return None
    return (
        device_type,
        torch.is_autocast_enabled(device_type),
        torch.get_autocast_dtype(device_type),
    )


def capture_forward_context(model: nn.Module, device_type: str) -> ForwardContext:
    """Snapshot RNG, per-module train/eval flags and autocast state at a forward's start."""
    return ForwardContext(
        rng=RngState.capture(),
        training=[m.training for m in model.modules()],
        autocast=_autocast_state(device_type),
    )


@contextlib.contextmanager
def replay_context(model: nn.Module, ctx: ForwardContext) -> Iterator[None]:
    """Run under the recorded train/eval flags and autocast state; restore flags after."""
    modules = list(model.modules())
    before = [m.training for m in modules]
    try:
        if before != ctx.training and len(modules) == len(ctx.training):
            for m, flag in zip(modules, ctx.training, strict=True):
                m.training = flag
        if ctx.autocast is not None:
            device_type, enabled, dtype = ctx.autocast
            # Off where the recorded forward had no autocast, even inside a caller's. And no
            # cache of the weights' casts: the passes of one replay see weights that move
            # between them (an LR range scan's, in place), and a cached cast would be stale.
            with torch.autocast(device_type, dtype=dtype, enabled=enabled, cache_enabled=False):
                yield
        else:
            yield
    finally:
        for m, flag in zip(modules, before, strict=True):
            m.training = flag


@contextlib.contextmanager
def preserved_model_state(
    model: nn.Module, params: bool = False
) -> Iterator[tuple[list[Tensor], list[Tensor]]]:
    """Restore buffers, RNG and (with ``params=True``) parameters exactly on exit.

    Yields ``(buffers, params)``, the snapshots (``params`` empty unless asked for), so callers
    can reset buffers between passes and go back to the parameters on entry.
    """
    loop_rng = RngState.capture()
    saved_params = [p.detach().clone() for p in model.parameters()] if params else []
    buffers = [b.detach().clone() for b in model.buffers()]
    try:
        yield buffers, saved_params
    finally:
        with torch.no_grad():
            if params:
                for p, saved in zip(model.parameters(), saved_params, strict=True):
                    p.copy_(saved)
            reset_buffers(model, buffers)
        loop_rng.restore()


def reset_buffers(model: nn.Module, saved: list[Tensor]) -> None:
    """Copy saved buffer values back (BatchNorm stats change in every train-mode pass)."""
    with torch.no_grad():
        for b, s in zip(model.buffers(), saved, strict=True):
            b.copy_(s)


def step_parameters(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """Every parameter the step can touch: the model's, then the optimizer's others."""
    params = list(model.parameters())
    seen = {id(p) for p in params}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def _copy(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, Tensor) else copy.deepcopy(value)


def _put_back(live: dict[Any, Any], saved: dict[Any, Any]) -> None:
    """Make ``live`` equal ``saved``, copying into tensors that are still there (so that their
    identity, and anything holding them, survives)."""
    for key in [k for k in live if k not in saved]:
        del live[key]
    for key, value in saved.items():
        current = live.get(key)
        if (
            isinstance(value, Tensor)
            and isinstance(current, Tensor)
            and current.shape == value.shape
            and current.dtype == value.dtype
            and current.device == value.device
        ):
            with torch.no_grad():
                current.copy_(value)
        else:
            # a tensor is copied: a later step would change the saved one in place
            live[key] = value.detach().clone() if isinstance(value, Tensor) else value


class StepSnapshot:
    """Everything a training step changes, copied now and put back by :meth:`restore` (as often
    as needed: the copies stay intact)."""

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, params: list[Tensor]
    ) -> None:
        self.model, self.optimizer, self.params = model, optimizer, params
        self.rng = RngState.capture()
        self.training = [m.training for m in model.modules()]
        self.values = [p.detach().clone() for p in params]
        self.grads = [p.grad for p in params]  # the tensors themselves: the step never sees them
        self.buffers = [b.detach().clone() for b in model.buffers()]
        self.state = {p: {k: _copy(v) for k, v in s.items()} for p, s in optimizer.state.items()}
        self.groups = [
            {k: _copy(v) for k, v in g.items() if k != "params"} for g in optimizer.param_groups
        ]
        # A torch LRScheduler marks its optimizer's step as called (to warn on a wrong order).
        self.opt_called = optimizer.__dict__.get("_opt_called", _MISSING)

    def restore(self) -> None:
        model, optimizer = self.model, self.optimizer
        with torch.no_grad():
            for p, value in zip(self.params, self.values, strict=True):
                p.copy_(value)
            for b, value in zip(model.buffers(), self.buffers, strict=True):
                b.copy_(value)
        for p, grad in zip(self.params, self.grads, strict=True):
            p.grad = grad
        for p in [p for p in optimizer.state if p not in self.state]:
            del optimizer.state[p]  # a fresh optimizer gets no state from the scan's step
        for p, saved in self.state.items():
            _put_back(optimizer.state[p], saved)
        for group, saved in zip(optimizer.param_groups, self.groups, strict=True):
            params = group["params"]
            _put_back(group, {**saved, "params": params})
        if self.opt_called is _MISSING:
            optimizer.__dict__.pop("_opt_called", None)
        else:
            optimizer.__dict__["_opt_called"] = self.opt_called
        for m, flag in zip(model.modules(), self.training, strict=True):
            m.training = flag
        self.rng.restore()


_MISSING = object()
