"""The peak rate read from the training itself: short branches from one snapshot
(docs/algorithm.md §4.9).

One LR range test cannot tell apart networks that want peaks several times apart (§4.8): what
sets them apart shows later in training. A branch search copies the run in the middle of its
warm-up and, for each candidate peak λ, trains the copy a few dozen steps, up from the present
rate to λ over the first half and down to 0 over the second (a warm-up and cool-down in
miniature), then measures the loss on held-out batches. The run itself goes on from the copy,
untouched. The peak is the candidate whose branch ends lowest, refined by the vertex of a
parabola in ln λ fitted around it (:func:`best_rate`).

It needs what a scheduler never sees, the data and the loss function:
``ActCoolLR(..., find_lr=BranchFinder(loader, loss_fn))``, or :func:`branch_search` in any loop.
:func:`best_rate` and :func:`branch_lr` are pure arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .isolation import StepSnapshot, step_parameters
from .monitor import call_arguments, first_group_lr
from .range_test import check_loss, check_pair

__all__ = [
    "BRANCH_AT",
    "BRANCH_MULTIPLES",
    "BRANCH_STEPS",
    "EVAL_BATCHES",
    "BranchFinder",
    "BranchSearch",
    "average_searches",
    "best_rate",
    "branch_lr",
    "branch_search",
]

#: Training steps of one branch (half up to the candidate, half down to 0).
BRANCH_STEPS = 60
#: Held-out batches each branch's loss is measured on.
EVAL_BATCHES = 16
#: The candidates, as multiples of the peak known before the search (the step-0 scan's).
BRANCH_MULTIPLES = tuple(2.0**k for k in range(-3, 4))
#: When ActCoolLR runs the search: at this share of its warm-up.
BRANCH_AT = 0.5


def branch_lr(step: int, steps: int, lr_from: float, lr_peak: float) -> float:
    """Rate of a branch's ``step`` (0-based) of ``steps``: linear from ``lr_from`` up to
    ``lr_peak`` over the first half (reached at its last step), then linear down, reaching
    ``lr_peak / (steps - half)`` at the last step (0 on the step after)."""
    half = steps // 2
    if step < half:
        return lr_from + (lr_peak - lr_from) * (step + 1) / half
    return lr_peak * (steps - step) / (steps - half)


def best_rate(lrs: Sequence[float], losses: Sequence[float], width: int = 2) -> float | None:
    """The rate of the lowest finite loss, refined by the vertex of the least-squares parabola
    in ``ln λ`` through the finite losses of the ``2·width + 1`` candidates around it (centred
    on it, shifted inwards at the grid's ends; the vertex is kept between its two neighbours; the lowest rate itself where fewer than 3 points are finite or
    they are not convex). ``None`` when no loss is finite.

    A parabola through more than three points: one branch's loss scatters with the batches it
    trained on, and the vertex through three points moved up to 2× with them (§4.9)."""
    x = np.log(np.asarray(lrs, dtype=np.float64))
    y = np.asarray(losses, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} rates but {len(y)} losses")
    finite = np.isfinite(y)
    if not finite.any():
        return None
    i = int(np.argmin(np.where(finite, y, np.inf)))
    span = 2 * width + 1  # centred on it, shifted inwards at the grid's ends
    low_end = max(0, min(i - width, len(x) - span))
    window = [j for j in range(low_end, min(len(x), low_end + span)) if finite[j]]
    if len(window) < 3:
        return float(lrs[i])
    a, b, _ = np.polyfit(x[window], y[window], 2)
    rise = a * (x[window[-1]] - x[window[0]]) ** 2  # what the curvature adds over the window
    if not rise > 1e-9 * max(float(np.abs(y[window]).max()), 1e-300):
        # not convex, or flat to rounding: no vertex to trust
        return float(lrs[i])
    vertex, low, high = -b / (2 * a), max(0, i - 1), min(len(x) - 1, i + 1)
    if vertex <= x[low]:
        return float(lrs[low])
    if vertex >= x[high]:
        return float(lrs[high])
    return float(math.exp(vertex))


@dataclass(frozen=True)
class BranchSearch:
    """What one branch search found.

    Attributes:
        lrs: the candidate peaks, ascending.
        losses: each branch's mean loss on the held-out batches (``inf``/``nan`` where the
            branch diverged).
        best_lr: :func:`best_rate` of them (``None`` when no branch ended finite).
        steps: training steps per branch.
        lr_from: the rate every branch started from.
        step: the training step after which the search ran (``None`` outside ActCoolLR).
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    best_lr: float | None
    steps: int
    lr_from: float
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "best_lr": self.best_lr,
            "steps": self.steps,
            "lr_from": self.lr_from,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> BranchSearch:
        return cls(
            lrs=tuple(float(v) for v in state["lrs"]),
            losses=tuple(float(v) for v in state["losses"]),
            best_lr=None if state["best_lr"] is None else float(state["best_lr"]),
            steps=int(state["steps"]),
            lr_from=float(state["lr_from"]),
            step=None if state.get("step") is None else int(state["step"]),
        )

    def figure(self) -> Any:
        """A Plotly figure: each branch's held-out loss against its peak (log axis), the
        chosen peak marked."""
        import plotly.graph_objects as go

        losses = [v if math.isfinite(v) else None for v in self.losses]
        fig = go.Figure(
            go.Scatter(x=list(self.lrs), y=losses, mode="lines+markers", name="held-out loss")
        )
        if self.best_lr is not None:
            fig.add_vline(
                x=self.best_lr,
                line_dash="dash",
                annotation_text=f"peak {self.best_lr:.3g}",
            )
        where = "" if self.step is None else f" after step {self.step}"
        fig.update_layout(
            title=f"Branch search{where}: {len(self.lrs)} branches of {self.steps} steps",
            xaxis={"type": "log", "title": "branch peak rate"},
            yaxis={"title": "loss on held-out batches"},
        )
        return fig


def average_searches(searches: Sequence[BranchSearch]) -> BranchSearch:
    """One search from several over the same candidates (from the same state, each on its own
    batches): each candidate's losses averaged over them (a branch that diverged in one draw
    stays diverged), the peak chosen from the averages by :func:`best_rate`."""
    if not searches:
        raise ValueError("average_searches needs at least one search")
    first = searches[0]
    if any(s.lrs != first.lrs for s in searches):
        raise ValueError("the searches to average must have the same candidate rates")
    losses = np.mean(np.array([s.losses for s in searches], dtype=np.float64), axis=0)
    return BranchSearch(
        lrs=first.lrs,
        losses=tuple(float(v) for v in losses),
        best_lr=best_rate(first.lrs, losses),
        steps=first.steps,
        lr_from=first.lr_from,
        step=first.step,
    )


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value


def branch_search(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Sequence[Any],
    eval_batches: Sequence[Any],
    loss_fn: Callable[[Any, Any], Tensor],
    lrs: Sequence[float],
    *,
    steps: int = BRANCH_STEPS,
    lr_from: float | None = None,
    average: Callable[[np.ndarray], np.ndarray] | None = None,
) -> BranchSearch:
    """Train one short branch per candidate peak from the present state and leave no trace.

    Each branch starts from the same copy of the parameters, buffers, optimizer state and
    random number generators, trains ``steps`` steps (``zero_grad``, forward, ``loss_fn``,
    backward, ``optimizer.step()``) on ``batches`` (cycled) at the rates of :func:`branch_lr`
    (every param group scaled by one factor, their ratios kept), then measures the mean of
    ``loss_fn`` over ``eval_batches`` in eval mode without gradients. Afterwards everything
    is exactly as before (:class:`~actcool.isolation.StepSnapshot`). Hooks other code has on
    the model or optimizer see the branches' passes and steps; pause your own.

    Args:
        model: the network, trained by ``optimizer``.
        optimizer: its optimizer, in its present state (Adam's moments, SGD's momentum).
        batches: ``(inputs, targets)`` pairs to train the branches on (the same for every
            branch); ``inputs`` is a tensor, a tuple of positional arguments or a dict of
            keyword arguments. Moved to the model's device.
        eval_batches: pairs to measure each branch's loss on (best held out from ``batches``).
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor.
        lrs: the candidate peaks, ascending, at least 3.
        steps: training steps per branch (at least 2).
        lr_from: the rate the branches start from (default: the first param group's).
        average: applied to the losses before the choice (e.g. a mean over the ranks of
            distributed training, so that every rank chooses alike).

    Returns:
        A :class:`BranchSearch`.
    """
    grid = tuple(float(v) for v in lrs)
    if len(grid) < 3 or any(not (math.isfinite(v) and v > 0) for v in grid):
        raise ValueError(f"lrs must be at least 3 finite rates > 0, got {list(lrs)!r}")
    if any(b <= a for a, b in zip(grid, grid[1:], strict=False)):
        raise ValueError(f"lrs must be ascending without repeats, got {list(lrs)!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    train = [check_pair(b, "each of batches") for b in batches]
    held = [check_pair(b, "each of eval_batches") for b in eval_batches]
    if not train or not held:
        raise ValueError("branch_search needs at least one batch and one eval batch")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {loss_fn!r}")
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    train = [_to_device(b, device) for b in train]
    held = [_to_device(b, device) for b in held]
    ref = first_group_lr(optimizer)
    start = ref if lr_from is None else float(lr_from)
    ratios = [float(g["lr"]) / ref if ref > 0 else 1.0 for g in optimizer.param_groups]
    params = step_parameters(model, optimizer)
    snapshot = StepSnapshot(model, optimizer, params)
    losses: list[float] = []
    try:
        for peak in grid:
            snapshot.restore()  # the same start, random numbers included, for every branch
            for step in range(steps):
                lr = branch_lr(step, steps, start, peak)
                for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
                    group["lr"] = lr * ratio
                inputs, targets = train[step % len(train)]
                args, kwargs = call_arguments(inputs)
                for p in params:
                    p.grad = None  # new tensors: the snapshot's gradients stay intact
                with torch.enable_grad():
                    check_loss(loss_fn(model(*args, **kwargs), targets)).backward()
                optimizer.step()
            losses.append(_held_out_loss(model, held, loss_fn))
    finally:
        snapshot.restore()
    values = np.asarray(losses, dtype=np.float64)
    if average is not None:
        values = np.asarray(average(values), dtype=np.float64)
    return BranchSearch(
        lrs=grid,
        losses=tuple(float(v) for v in values),
        best_lr=best_rate(grid, values),
        steps=steps,
        lr_from=start,
    )


def _held_out_loss(model: nn.Module, held: list[tuple[Any, Any]], loss_fn: Callable) -> float:
    model.eval()
    total = None
    with torch.no_grad():
        for inputs, targets in held:
            args, kwargs = call_arguments(inputs)
            loss = check_loss(loss_fn(model(*args, **kwargs), targets)).reshape(()).double()
            total = loss if total is None else total + loss
    assert total is not None
    return float(total) / len(held)  # one read of the device per branch


class BranchFinder:
    """ActCoolLR's peak rate from a branch search in the middle of its warm-up (§4.9).

    ``ActCoolLR(optimizer, model, total_steps=N, find_lr=BranchFinder(loader, loss_fn))``:
    at the first measurement step past ``at`` of the ``ramp`` warm-up, the scheduler draws
    ``steps + eval_batches`` batches from ``data`` (a fresh ``iter(data)``, started again if it
    runs out), trains one branch per candidate (``multiples`` × the step-0 scan's peak, or the
    optimizer's rate where the finder has no scan) on the first ``steps`` of them and measures
    each on the rest, then continues its warm-up from the present rate to the chosen peak. With
    ``draws=n`` it does so on ``n`` successive draws of batches and chooses from each
    candidate's mean loss over them (``n`` times the cost). The
    random number generators are as before the search (drawing from a shuffling ``DataLoader``
    uses them too). With ``warmup_to_lowest=True`` the warm-up rises towards the lowest
    candidate until the search, so the run has not passed a rate the search may choose.

    Args:
        data: an iterable of ``(inputs, targets)`` pairs, e.g. the training ``DataLoader``.
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor.
        steps: training steps per branch (default :data:`BRANCH_STEPS`).
        eval_batches: held-out batches per branch (default :data:`EVAL_BATCHES`).
        multiples: the candidates, as multiples of the peak before the search, at least 3.
        at: when, as a share of the warm-up, in (0, 1).
        warmup_to_lowest: until the search, the warm-up rises towards the lowest candidate
            (``True``) or towards the scan's peak, the candidates' centre (``False``, the
            default). Measured (docs/algorithm.md §4.9): 4.8 points better on a vision
            transformer whose scan's peak was 4× too high, 0.4–0.6 points worse on
            Fashion-MNIST CNNs and an MLP, whose scan's peak was too low.
        draws: how many draws of batches the branches are compared on (each trains every
            branch afresh from the same state); 1 by default. One draw's held-out losses
            scatter with its batches; see docs/algorithm.md §4.9 for what 2 measured.
    """

    def __init__(
        self,
        data: Iterable[Any],
        loss_fn: Callable[[Any, Any], Tensor],
        *,
        steps: int = BRANCH_STEPS,
        eval_batches: int = EVAL_BATCHES,
        multiples: Sequence[float] = BRANCH_MULTIPLES,
        at: float = BRANCH_AT,
        warmup_to_lowest: bool = False,
        draws: int = 1,
    ) -> None:
        if not isinstance(data, Iterable) or isinstance(data, (Tensor, str, bytes)):
            raise TypeError(
                f"data must be an iterable of (inputs, targets) batches, e.g. a DataLoader, "
                f"got {type(data).__name__}"
            )
        if not callable(loss_fn):
            raise TypeError(
                f"loss_fn must be callable as loss_fn(outputs, targets), got {loss_fn!r}"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        if isinstance(eval_batches, bool) or not isinstance(eval_batches, int) or eval_batches < 1:
            raise ValueError(f"eval_batches must be an integer >= 1, got {eval_batches!r}")
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1, got {draws!r}")
        grid = tuple(sorted(float(m) for m in multiples))
        if len(set(grid)) < 3 or any(not (math.isfinite(m) and m > 0) for m in grid):
            raise ValueError(
                f"multiples must be at least 3 different finite numbers > 0, got {multiples!r}"
            )
        if not (isinstance(at, (int, float)) and 0 < at < 1):
            raise ValueError(f"at must lie in (0, 1), got {at!r}")
        self.data = data
        self.loss_fn = loss_fn
        self.steps = steps
        self.eval_batches = eval_batches
        self.multiples = tuple(dict.fromkeys(grid))
        self.at = float(at)
        self.warmup_to_lowest = bool(warmup_to_lowest)
        self.draws = draws

    def draw(self) -> list[tuple[list[Any], list[Any]]]:
        """One ``(branch batches, held-out batches)`` pair per draw: successive runs of
        ``steps + eval_batches`` batches of a fresh iterator over ``data``; where it ends
        sooner, its batches again from the start (batches then repeat)."""
        each = self.steps + self.eval_batches
        wanted = each * self.draws
        out: list[Any] = []
        for batch in self.data:
            out.append(batch)
            if len(out) == wanted:
                break
        if not out:
            raise ValueError(
                "BranchFinder's data yielded no batch (an exhausted generator? pass a "
                "DataLoader or a list)"
            )
        out = [out[i % len(out)] for i in range(wanted)]
        runs = [out[k * each : (k + 1) * each] for k in range(self.draws)]
        return [(run[: self.steps], run[self.steps :]) for run in runs]

    def __repr__(self) -> str:
        return (
            f"BranchFinder(steps={self.steps}, eval_batches={self.eval_batches}, "
            f"multiples={self.multiples}, at={self.at}, "
            f"warmup_to_lowest={self.warmup_to_lowest}, draws={self.draws})"
        )
