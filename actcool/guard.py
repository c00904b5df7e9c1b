"""The divergence guard: notice a rate that is breaking the network before the loss is non-finite.

A learning rate that is too high rarely shows itself as a NaN first. Either the loss climbs
back towards its starting value while the rate is held (the network is unlearning), or the
ReLU units die: a dead unit never changes sign again, so the measured temperature collapses
to 0 at a rate that used to heat the network, and where every unit of a layer died the layer
goes dark, off for every sample (docs/algorithm.md §4.7). :class:`DivergenceGuard` reads these
signals at each measurement and answers with a :class:`GuardEvent` when one of them trips; the
controller then cuts the rate and lowers its ceiling for the rest of the run.

Everything here is arithmetic over plain numbers (the loss is the mean over the steps since the
previous measurement, which the scheduler accumulates on the device); the state is in
:meth:`DivergenceGuard.state_dict`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = ["GUARD_REASONS", "DivergenceGuard", "GuardEvent"]

#: What can trip the guard.
GUARD_REASONS = ("loss_rise", "temperature_collapse", "site_dark")


@dataclass(frozen=True)
class GuardEvent:
    """One cut of the learning rate by the guard.

    Attributes:
        step: the measurement step at which the guard tripped.
        reason: ``"loss_rise"``, ``"temperature_collapse"`` or ``"site_dark"``.
        detail: what was seen, in words (for logs and the dashboard's hover).
        lr_before: the rate the step trained at.
        lr_after: the new ceiling: no later step trains faster.
    """

    step: int
    reason: str
    detail: str
    lr_before: float
    lr_after: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardEvent:
        return cls(
            step=int(data["step"]),
            reason=str(data["reason"]),
            detail=str(data["detail"]),
            lr_before=float(data["lr_before"]),
            lr_after=float(data["lr_after"]),
        )


@dataclass
class DivergenceGuard:
    """Trip on a rising loss, a collapsing temperature or a dark site; answer with the cut.

    Loss: each measurement brings ``L``, the mean loss of the steps since the previous one. The
    baseline ``L_min`` is the lowest mean of two consecutive windows so far (a single window
    that happened to be easy does not set it). The guard trips when ``L > loss_ratio · L_min``
    and the rise ``L − L_min`` is at least ``min_rise`` of the first window's loss (so that a
    loss that has gone to nearly 0 does not trip on noise). A window, not an average over
    windows, is compared: a rate past the edge turns a slow rise into an explosion within one or
    two windows (convnet4 / Fashion-MNIST warming up to 1.0: window means 0.89, 0.92, 0.95,
    1.09, 1.41, then 13.3), and an average would see it a window late.

    Temperature: the guard keeps ``T̄/λ`` of the last ``history`` measurements; it trips when
    ``T̄_t/λ_t`` falls below ``collapse`` × their median. ``T̄/λ`` drifts slowly during
    training (it falls 2–10× over the first quarter under BatchNorm); a tenfold fall within a
    few measurements at an unchanged rate means the units stopped changing sign: they died.
    Where the measurement's count of flipped bits is given, the fall must also be one the
    counts can show: the recent flips per unit rate must predict at least ``min_flips`` flips
    at the present rate. A small network at a low rate flips a few bits a measurement, and
    none by chance (a SiLU MLP of 128 units regressing with MSE read 0 flips at steps where
    its median predicted 2-5 and was cut ten times over, down to the rate floor).

    Dark sites: where the measurement counts the units on at each site, a site that was on
    for some sample at an earlier measurement and now has every unit off for every sample has
    died as a whole (a ReLU autoencoder's 8-unit bottleneck, warmed up too fast under AdamW,
    lost its units over three measurements; the network then predicted the mean image). No
    cut brings it back: the trip calls for the rollback, to the state the run started with
    while ``ActCoolLR`` still holds it, in the warm-up (:class:`actcool.rewind.GuardRollback`).
    A site dark from the start is left alone, and a dark site trips once: it must light again
    to count again.

    After a trip the baselines restart from the present (``L_min = L``, an empty history), so
    a network that needs a few measurements to recover is not cut again for the same damage.
    That holds where ``ActCoolLR`` also puts back the state of the measurement before
    (``rollback``, :class:`actcool.rewind.GuardRollback`): the damage may have begun inside
    the window that passed (a SiLU MLP regressing with MSE, put back to step 100 after a trip
    at 110, read 1.6× the baseline of before the trip at 120 while it recovered at a sixth of
    the rate, and the second cut that baseline would have made nearly doubled its test MSE).

    Attributes:
        loss_ratio: how far above its baseline a window's loss may rise.
        min_rise: the smallest rise that counts, as a share of the first window's loss.
        collapse: the share of the recent ``T̄/λ`` below which the temperature has collapsed.
        history: how many measurements the ``T̄/λ`` median spans (and how many must be seen
            before it can trip).
        min_flips: the fewest flipped bits the recent flips per unit rate must predict at the
            present rate for a collapse to count (at 10, a count of none happens by chance
            once in e^10 ≈ 22,000 measurements).
        cut: the new ceiling is ``cut ×`` the rate that tripped.
        rollback: on a trip that calls for it (:meth:`calls_for_rollback`), ``ActCoolLR``
            puts back the model's and optimizer's state of the measurement before, where it
            kept one (while the run trains at its highest rate so far;
            :class:`actcool.rewind.GuardRollback`), or for a dark site in the warm-up the
            state the run started with.
        lit: the sites on at the last measurement (state: a dark site among them trips).
    """

    loss_ratio: float = 1.25
    min_rise: float = 0.05
    collapse: float = 0.1
    history: int = 5
    min_flips: float = 10.0
    cut: float = 0.5
    rollback: bool = True
    loss_first: float | None = None
    loss_last: float | None = None
    loss_lowest: float | None = None
    ratios: list[float] = field(default_factory=list)
    flip_ratios: list[float] = field(default_factory=list)
    lit: list[str] = field(default_factory=list)

    #: The fields that are settings, not state: ActCoolLR.load_state_dict keeps its own.
    SETTINGS: ClassVar[tuple[str, ...]] = (
        "loss_ratio",
        "min_rise",
        "collapse",
        "history",
        "min_flips",
        "cut",
        "rollback",
    )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.loss_ratio) and self.loss_ratio > 1):
            raise ValueError(f"loss_ratio must be a finite number > 1, got {self.loss_ratio!r}")
        if not (math.isfinite(self.min_rise) and self.min_rise >= 0):
            raise ValueError(f"min_rise must be a finite number >= 0, got {self.min_rise!r}")
        if not 0 < self.collapse < 1:
            raise ValueError(f"collapse must lie in (0, 1), got {self.collapse!r}")
        if isinstance(self.history, bool) or not isinstance(self.history, int) or self.history < 1:
            raise ValueError(f"history must be a positive integer, got {self.history!r}")
        if not (math.isfinite(self.min_flips) and self.min_flips >= 0):
            raise ValueError(f"min_flips must be a finite number >= 0, got {self.min_flips!r}")
        if not 0 < self.cut < 1:
            raise ValueError(f"cut must lie in (0, 1), got {self.cut!r}")
        if not isinstance(self.rollback, bool):
            raise TypeError(f"rollback must be True or False, got {self.rollback!r}")

    def check(
        self,
        step: int,
        lr: float,
        temperature: float,
        loss: float | None = None,
        flips: int | None = None,
        active: Mapping[str, int] | None = None,
    ) -> GuardEvent | None:
        """Take the measurement of ``step`` (trained at ``lr``; ``loss`` the mean loss since
        the previous measurement, or ``None`` when the loop does not pass losses; ``flips``
        the flipped bits it counted over all sites, or ``None``; ``active`` the units on per
        site, or ``None``) and return the event when the guard trips. Non-finite values are
        the controller's business (the run has diverged): they are ignored here. Where more
        than one signal trips, a dark site is named first, then the loss."""
        event = None
        if loss is not None and math.isfinite(loss):
            event = self._check_loss(step, lr, loss)
        if math.isfinite(temperature) and math.isfinite(lr) and lr > 0:
            collapse = self._check_temperature(step, lr, temperature, flips)
            event = collapse if event is None else event
        if active is not None:
            event = self._check_dark(step, lr, active) or event
        if event is not None:
            self.restart()
        return event

    def restart(self) -> None:
        """Restart the baselines from the present (``L_min = L``, an empty history): after a
        trip, or where the rate has moved so far that the past says nothing of the present."""
        self.loss_lowest = self.loss_last
        self.ratios = []
        self.flip_ratios = []
        self.lit = []

    def forget_loss(self) -> None:
        """The run went back to the state it started with: its losses are the first window's
        again, so the loss's baseline starts anew (the first window's loss is kept)."""
        self.loss_lowest = self.loss_last = None

    def calls_for_rollback(self, event: GuardEvent) -> bool:
        """Whether ``event`` (just returned by :meth:`check`) is damage a cut cannot undo, so
        that the state of the measurement before should come back (``rollback``): units died,
        or a site went dark, or the window's loss is back at the first window's, all that was
        learned lost. A smaller rise leaves the network to recover at the cut rate, with its
        optimizer's state as the spike left it (Adam's second moments, raised by the spike,
        damp the next steps): put back there, an MLP under SGD ended 0.02-0.49 points worse
        and a regression MLP under AdamW tripped again (docs/algorithm.md §4.7)."""
        if event.reason in ("temperature_collapse", "site_dark"):
            return True
        first, last = self.loss_first, self.loss_last
        return first is not None and last is not None and last >= first

    def _check_loss(self, step: int, lr: float, loss: float) -> GuardEvent | None:
        if self.loss_first is None:
            self.loss_first = loss
        lowest, previous = self.loss_lowest, self.loss_last
        self.loss_last = loss
        if lowest is not None:
            rise = loss - lowest
            if loss > self.loss_ratio * lowest and rise >= self.min_rise * abs(self.loss_first):
                return self._event(
                    step,
                    lr,
                    "loss_rise",
                    f"loss {loss:.4g} is {loss / lowest:.2f}x its lowest ({lowest:.4g})",
                )
        if previous is not None:
            pair = 0.5 * (previous + loss)
            self.loss_lowest = pair if lowest is None else min(lowest, pair)
        return None

    def _check_temperature(
        self, step: int, lr: float, temperature: float, flips: int | None
    ) -> GuardEvent | None:
        ratio = temperature / lr
        recent = self.ratios[-self.history :]
        self.ratios = [*recent, ratio][-self.history :]
        counted = self.flip_ratios[-self.history :]
        if flips is not None:
            self.flip_ratios = [*counted, flips / lr][-self.history :]
        if len(recent) < self.history:
            return None
        if flips is not None and len(counted) == self.history:
            if statistics.median(counted) * lr < self.min_flips:
                return None  # too few flips expected for their absence to mean anything
        reference = statistics.median(recent)
        if reference > 0 and ratio < self.collapse * reference:
            return self._event(
                step,
                lr,
                "temperature_collapse",
                f"temperature per unit rate {ratio:.4g} fell below {self.collapse:g}x its "
                f"recent median ({reference:.4g}): units stopped changing sign",
            )
        return None

    def _check_dark(self, step: int, lr: float, active: Mapping[str, int]) -> GuardEvent | None:
        dark = [site for site in self.lit if active.get(site, 1) == 0]
        self.lit = [site for site, on in active.items() if on > 0]
        if not dark:
            return None
        names = ", ".join(repr(site) for site in dark)
        return self._event(
            step,
            lr,
            "site_dark",
            f"every unit of {names} is off for every sample of the batch: the layer died",
        )

    def _event(self, step: int, lr: float, reason: str, detail: str) -> GuardEvent:
        return GuardEvent(
            step=int(step), reason=reason, detail=detail, lr_before=lr, lr_after=self.cut * lr
        )

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if key not in self.__dataclass_fields__:
                raise KeyError(f"unknown guard state key {key!r}")
            setattr(self, key, list(value) if key in ("ratios", "flip_ratios", "lit") else value)
