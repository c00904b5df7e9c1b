"""The loss probe: Adam's peak rate read from the training loss along an exponential warm-up.

Under SGD the step-0 scan's λ0 follows the network's best rate (docs/algorithm.md §4.8). Under
Adam it does not: the first step is a sign step, so λ0 is alike on networks whose best rates
differ 30×. The loss does tell them apart: warmed up exponentially from a low rate, a network's
loss falls until the rate is too high for it, and the rate of its lowest loss is a fixed
multiple of its best peak (measured, §4.8). ActCoolLR probes so during its warm-up:

1. from a rate a decade below its warm-up's first one, the rate grows
   :data:`STEPS_PER_DECADE` steps a decade;
2. every step's loss enters an exponential moving average (β = :data:`SMOOTHING`, the first
   loss as its start); its lowest value so far is the *best*, that step's rate ``λ_best``;
3. at a measurement step the probe ends once the rate is :data:`PATIENCE` × ``λ_best`` (a
   decade without a lower loss), or the average is :data:`BLOWUP` × its best, or a loss was
   non-finite, or the warm-up is over: the peak is :data:`PEAK_FACTOR` × ``λ_best``;
4. the weights and the optimizer's state go back to the snapshot taken at the last
   measurement step whose rate was at or below the peak (:meth:`RateProbe.restore_index`):
   the network then has had an exponential warm-up to its peak and none of the overshoot.

This module is the arithmetic (plain numbers, no tensors); the scheduler takes and restores
the snapshots.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BLOWUP", "PATIENCE", "PEAK_FACTOR", "SMOOTHING", "STEPS_PER_DECADE", "RateProbe"]

#: The probe's growth: 20 steps per decade (×1.122 a step), two measurement steps a decade
#: at the default ``measure_every`` of 10.
STEPS_PER_DECADE = 20
#: β of the loss's moving average (about ten steps, half a decade of rate).
SMOOTHING = 0.9
#: The probe ends once the rate is this many times the best one's (a decade past it).
PATIENCE = 10.0
#: ... or once the averaged loss is this many times its best.
BLOWUP = 2.0
#: ActCoolLR's peak over the rate of the lowest averaged loss (measured, docs/algorithm.md
#: §4.8: 0.07-0.35 of it on five networks under AdamW; the log-middle).
PEAK_FACTOR = 0.17


@dataclass
class RateProbe:
    """The state of one probe: its settings, the lowest loss so far and the snapshots' rates.

    Attributes:
        start_step: the first step trained at the probe's rates.
        start_lr: the rate of ``start_step``.
        end_step: the last step the probe may run (the warm-up's end).
        steps_per_decade, smoothing, patience, blowup, factor: the probe's settings (the
            module's constants).
        average: the loss's moving average (``None`` before the first loss).
        best_loss, best_lr: its lowest value so far and that step's rate.
        finite: whether every loss so far was finite.
        margin, cap: the caller's peak may be as low as :attr:`peak` ÷ ``margin`` (a typed rate
            it keeps) and at most ``cap`` (a given ceiling): snapshots are kept down to there.
        snapshots: ``(step, rate, samples)`` of each snapshot kept, oldest first: the step it
            was taken after, that step's rate, and how many warm-up measurements the scheduler
            had then (it holds the tensors).
        ended_step: the measurement step that ended the probe (``None`` while it runs).
        reason: why it ended, in words.
        restored_step: the step whose weights training went back to (set by the caller).
    """

    start_step: int
    start_lr: float
    end_step: int
    steps_per_decade: int = STEPS_PER_DECADE
    smoothing: float = SMOOTHING
    patience: float = PATIENCE
    blowup: float = BLOWUP
    factor: float = PEAK_FACTOR
    margin: float = 1.0
    cap: float = math.inf
    average: float | None = None
    best_loss: float = math.inf
    best_lr: float | None = None
    finite: bool = True
    snapshots: list[tuple[int, float, int]] = field(default_factory=list)
    ended_step: int | None = None
    reason: str = ""
    restored_step: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_lr) and self.start_lr > 0):
            raise ValueError(f"the probe's first rate must be > 0, got {self.start_lr!r}")

    @property
    def running(self) -> bool:
        return self.ended_step is None

    def lr_at(self, step: int) -> float:
        """The rate of ``step`` on the probe's exponential ramp."""
        return self.start_lr * 10.0 ** ((step - self.start_step) / self.steps_per_decade)

    @property
    def peak(self) -> float | None:
        """:attr:`factor` × the best rate (``None`` before any loss)."""
        return None if self.best_lr is None else self.factor * self.best_lr

    def add(self, step: int, loss: float) -> None:
        """Take the loss of training step ``step`` (trained at :meth:`lr_at`)."""
        if not math.isfinite(loss):
            self.finite = False
            return
        b = self.smoothing
        self.average = loss if self.average is None else b * self.average + (1 - b) * loss
        if self.average < self.best_loss:
            self.best_loss, self.best_lr = self.average, self.lr_at(step)

    def check(self, step: int) -> bool:
        """At measurement step ``step``: whether the probe goes on. Ends it (:attr:`ended_step`,
        :attr:`reason`) when the module's rules say so."""
        if not self.running:
            raise RuntimeError("the probe has ended")
        if not self.finite:
            self._end(step, "a non-finite loss")
        elif self.average is not None and self.average > self.blowup * self.best_loss:
            self._end(step, f"the loss rose to {self.average / self.best_loss:.2g}× its lowest")
        elif self.best_lr is not None and self.lr_at(step) >= self.patience * self.best_lr:
            self._end(step, f"no lower loss over {self.patience:g}× the rate of the lowest")
        elif step >= self.end_step:
            self._end(step, "the warm-up ended")
        return self.running

    def _end(self, step: int, reason: str) -> None:
        self.ended_step, self.reason = step, reason

    def keep(self, step: int, rate: float, samples: int = 0) -> list[int]:
        """Record a snapshot taken after ``step`` (trained at ``rate``, ``samples`` warm-up
        measurements so far) and drop the ones no longer needed; returns their indices, for
        the caller to drop its tensors too. The one to restore is the last at or below the
        peak, and the peak only rises with the best rate, so every snapshot before the last
        one at or below the peak is dropped."""
        self.snapshots.append((int(step), float(rate), int(samples)))
        lowest = None if self.peak is None else min(self.peak / self.margin, self.cap)
        dropped = list(range(self.restore_index(lowest)))
        del self.snapshots[: len(dropped)]
        return dropped

    def restore_index(self, peak: float | None = None) -> int:
        """The snapshot to go back to: the last taken at a rate ≤ ``peak`` (default
        :attr:`peak`; the first snapshot when none is, or before any loss)."""
        peak = self.peak if peak is None else peak
        index = 0
        for i, (_, rate, _) in enumerate(self.snapshots):
            if peak is not None and rate <= peak:
                index = i
        return index

    def state_dict(self) -> dict[str, Any]:
        state = asdict(self)
        state["snapshots"] = [list(s) for s in self.snapshots]
        state["best_loss"] = None if math.isinf(self.best_loss) else self.best_loss
        state["cap"] = None if math.isinf(self.cap) else self.cap
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RateProbe:
        state = dict(state)
        state["snapshots"] = [(int(a), float(b), int(c)) for a, b, c in state.get("snapshots", [])]
        state["best_loss"] = math.inf if state.get("best_loss") is None else state["best_loss"]
        state["cap"] = math.inf if state.get("cap") is None else state["cap"]
        return cls(**state)
