"""The training step the GPU check times: a trainer model in channels-last memory format,
its forward under bfloat16 autocast, SGD with momentum, and optionally ``ActCoolLR``.

The step is the one a user's loop runs (README): forward, cross-entropy, backward, optimizer
step, then ``scheduler.step()``, which measures every ``measure_every`` steps by replaying the
step's forward under the autocast it ran under.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from actcool import ActCoolLR

__all__ = ["TrainingStep"]


class TrainingStep:
    """``step(x, y)`` trains one step of ``model`` on a batch; :meth:`close` removes the
    scheduler's hooks.

    Args:
        model: a trainer model name (``resnet20``, ``resnet50``, ...), built for 3-channel
            images of ``image_size`` pixels and 10 classes, seeded with 0.
        image_size: the images' height and width.
        device: where it trains; the step waits for the device before it returns when
            ``sync`` is set (timing single steps), else it returns as soon as it is queued.
        actcool: step ``ActCoolLR(optimizer, model, total_steps=total_steps,
            measure_every=measure_every)`` after the optimizer (the defaults otherwise);
            ``False``: the optimizer's constant rate.
        fixed_k: give ActCoolLR this exponent and no rate finder, so that it runs no LR
            range scan (a dry run's shortcut); ``None``: its defaults, which scan at step 0.
        bf16: the forward under bfloat16 autocast on ``device``.
        sync: wait for the device at the end of each step.
    """

    def __init__(
        self,
        model: str,
        image_size: int,
        device: torch.device,
        *,
        actcool: bool,
        total_steps: int = 100_000,
        measure_every: int = 10,
        fixed_k: float | None = None,
        bf16: bool = True,
        sync: bool = True,
    ) -> None:
        from trainer.models import build_model

        torch.manual_seed(0)
        self.device = device
        self.model = build_model(model, 3, 10, image_size).to(
            device, memory_format=torch.channels_last
        )
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4
        )
        quick = {} if fixed_k is None else {"k": fixed_k, "find_lr": False}
        self.scheduler = (
            ActCoolLR(
                self.optimizer,
                self.model,
                total_steps=total_steps,
                measure_every=measure_every,
                **quick,
            )
            if actcool
            else None
        )
        self.bf16, self.sync = bf16, sync

    def _autocast(self) -> AbstractContextManager:
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x = x.contiguous(memory_format=torch.channels_last)  # (B, 3, H, W)
        with self._autocast():
            loss = nn.functional.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.sync and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        """Remove the scheduler's hooks (nothing to do at a constant rate)."""
        if self.scheduler is not None:
            self.scheduler.close()
