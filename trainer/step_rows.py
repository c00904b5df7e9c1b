"""Training steps held until their losses are read from the device, many at once.

Reading a loss into Python (``float(loss)``) makes the host wait for the GPU; a loop that did
it every step would run at the speed of its slowest step's round trip. :class:`PendingSteps`
keeps each step's loss on the device and reads every held one in a single transfer when the
run writes its rows: every ``log_every`` steps, at a measurement, at an epoch's end, at a stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["PendingSteps", "ReadStep", "first_non_finite"]


@dataclass(frozen=True)
class ReadStep:
    """One step with its loss read.

    Attributes:
        step: its index in the run.
        epoch: the run's position in epochs at the step (fractional).
        lr: the rate it trained with.
        loss: its mean loss.
        samples: its batch's size (this rank's).
        measurement: what the schedule measured at it, or ``None``.
        target_temperature: the target at it, or ``None``.
    """

    step: int
    epoch: float
    lr: float
    loss: float
    samples: int
    measurement: Any = None
    target_temperature: float | None = None


class PendingSteps:
    """Steps whose losses are still on the device, and the count of right answers so far.

    :meth:`add` each step; :meth:`read` returns the held steps with their losses read in one
    transfer, oldest first, and empties the hold. :meth:`count_correct` adds a batch's right
    answers on the device; :meth:`take_correct` reads and resets that count.
    """

    def __init__(self) -> None:
        self._held: list[tuple[dict[str, Any], torch.Tensor]] = []
        self._correct: torch.Tensor | int = 0

    def __len__(self) -> int:
        return len(self._held)

    def add(
        self,
        step: int,
        epoch: float,
        lr: float,
        loss: torch.Tensor,
        samples: int,
        measurement: Any = None,
        target_temperature: float | None = None,
    ) -> None:
        fields = {
            "step": step,
            "epoch": epoch,
            "lr": lr,
            "samples": samples,
            "measurement": measurement,
            "target_temperature": target_temperature,
        }
        self._held.append((fields, loss.detach().reshape(())))

    def read(self) -> list[ReadStep]:
        """The held steps, oldest first, with their losses (one read of the device)."""
        if not self._held:
            return []
        losses = torch.stack([loss.float() for _, loss in self._held]).tolist()
        out = [ReadStep(loss=v, **f) for (f, _), v in zip(self._held, losses, strict=True)]
        self._held.clear()
        return out

    def count_correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the batch's right answers (``argmax == target``), on the device."""
        self._correct = self._correct + (outputs.argmax(1) == targets).sum()

    def take_correct(self) -> int:
        """The right answers counted since the last call (one read of the device)."""
        correct, self._correct = self._correct, 0
        return int(correct)


def first_non_finite(steps: list[ReadStep]) -> ReadStep | None:
    """The first of ``steps`` whose loss is not finite, or ``None``."""
    return next((s for s in steps if not math.isfinite(s.loss)), None)
