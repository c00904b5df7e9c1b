"""Run extra forward passes that leave no trace (docs/algorithm.md §1, §3).

The measurement pass and the LR range scan run the model again. Afterwards the parameters,
buffers (BatchNorm running statistics, ``num_batches_tracked``), module train/eval flags and
the random number generators must be exactly as the training loop left them, and dropout must
draw the masks of the recorded training forward. These helpers snapshot and restore that state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "ForwardContext",
    "RngState",
    "capture_forward_context",
    "preserved_model_state",
    "replay_context",
    "reset_buffers",
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
        if ctx.autocast is not None and ctx.autocast[1]:
            with torch.autocast(ctx.autocast[0], dtype=ctx.autocast[2]):
                yield
        else:
            yield
    finally:
        for m, flag in zip(modules, before, strict=True):
            m.training = flag


@contextlib.contextmanager
def preserved_model_state(model: nn.Module, params: bool = False) -> Iterator[list[Tensor]]:
    """Restore buffers, RNG and (with ``params=True``) parameters exactly on exit.

    Yields the buffer snapshots so callers can reset buffers between passes.
    """
    loop_rng = RngState.capture()
    saved_params = [p.detach().clone() for p in model.parameters()] if params else []
    buffers = [b.detach().clone() for b in model.buffers()]
    try:
        yield buffers
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
