"""How a run's steps compute: the autocast precision of its forward passes, the memory format
of its model and batches, and its compiled model (``RunConfig.precision``, ``amp``,
``channels_last``, ``compile``).

The measurement's passes run under the autocast of the forward they compare with (the monitor
records it, ``actcool/isolation.py``): the temperature compares patterns of the same precision,
so it counts changes of the weights, not of the arithmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .config import RunConfig
from .errors import ConfigError

__all__ = [
    "CompiledModel",
    "Precision",
    "model_memory_format",
    "run_precision",
    "to_memory_format",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Precision:
    """The autocast of a run's forward passes.

    Attributes:
        device_type: ``"cuda"`` or ``"cpu"``.
        dtype: the autocast dtype, or ``None`` for float32 (no autocast).
    """

    device_type: str
    dtype: torch.dtype | None = None

    @property
    def scaled(self) -> bool:
        """Whether gradients go through a ``GradScaler`` (float16: its gradients underflow)."""
        return self.dtype == torch.float16

    def autocast(self) -> AbstractContextManager:
        """A context for a forward pass: autocast to :attr:`dtype`, or nothing in float32."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def run_precision(config: RunConfig, device: torch.device) -> Precision:
    """The precision ``config`` asks for on ``device``.

    ``amp`` (float16 with a gradient scaler) is CUDA's only; elsewhere the run trains in
    float32 and says so. ``precision="bf16"`` autocasts on CUDA where the GPU has bfloat16
    and on the CPU.

    Raises:
        ConfigError: bf16 on a GPU without bfloat16.
    """
    if config.amp:
        if device.type != "cuda":
            logger.info("amp is only used on CUDA; training in float32 on %s", device)
            return Precision(device.type)
        return Precision("cuda", torch.float16)
    if config.precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                f"precision bf16 needs a GPU with bfloat16; {torch.cuda.get_device_name(device)} "
                "has none: use precision fp32 or amp (float16)"
            )
        return Precision(device.type, torch.bfloat16)
    return Precision(device.type)


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in channels-last memory format where asked and it is an image batch (4-D)."""
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def model_memory_format(model: nn.Module, channels_last: bool) -> nn.Module:
    """``model`` with its 4-D parameters and buffers in channels-last format where asked."""
    return model.to(memory_format=torch.channels_last) if channels_last else model


class CompiledModel:
    """``torch.compile(model)`` for the steps that do not measure (trainer/steps.py runs a
    measuring step on ``model`` itself: the temperature's hooks must see its forward).

    Compiling happens at the first call; if it fails there, the error says so and how to train
    without it, rather than a compiler's traceback alone.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._compiled: Callable[..., Any] = torch.compile(model)
        self._ran = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._ran:
            return self._compiled(*args, **kwargs)
        try:
            out = self._compiled(*args, **kwargs)
        except Exception as exc:
            raise RuntimeError(
                f"torch.compile could not compile {type(self.model).__name__} "
                f"({type(exc).__name__}: {exc}); train without it (compile off, --no-compile)"
            ) from exc
        self._ran = True
        return out
