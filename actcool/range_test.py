"""LR range test: one real update re-evaluated at many learning rates (docs/algorithm.md §3).

Usable in any training loop, like Lightning's ``Tuner.lr_find`` but in one step::

    result = actcool.lr_scan(model, optimizer, (x, y), nn.functional.cross_entropy)
    lr = result.suggestion()          # a float, or None without a fit
    result.figure().show()            # loss and mean temperature against the rate

One training step at the optimizer's own rate λ_t gives the update per unit rate
``Δ = (θ_{t+1} − θ_t)/λ_t`` (momentum, weight decay and Adam included; the negative gradient at
λ_t = 0). The model is then evaluated at ``θ_t + λ·Δ`` for every λ of the grid on the same batch,
recording the loss and the activation pattern temperature against the patterns at θ_t. Afterwards
the model, the optimizer and the random number generators are exactly as they were.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from .granularity import DEFAULT_GRANULARITY, Granularity
from .isolation import StepSnapshot, step_parameters
from .measurement import LRScan, ScanFits
from .monitor import (
    TemperatureMonitor,
    call_arguments,
    check_scan_lrs,
    first_group_lr,
)
from .pattern_model import change_probability
from .scale import ONECYCLE_FACTOR, PEAK_FACTOR, SCALE_SCAN_LRS, rate_factors, rate_scale, reaches
from .weibull_model import weibull_probability

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["RangeTest", "lr_scan"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RangeTest:
    """The result of :func:`lr_scan`: loss and temperature along one update, per rate.

    Attributes:
        lrs: the learning-rate grid, ascending, ``(R,)``.
        losses: ``loss_fn`` at ``θ_t + λ·Δ`` for each rate, ``(R,)``; inf/NaN where the model
            overflowed.
        loss_start: the loss at θ_t (λ = 0), from the training forward.
        lr_used: λ_t, the optimizer's rate (of its first param group) for the real step.
        scan: the temperatures: per site and rate, against the patterns at θ_t.
        fits: the Gaussian-CDF and Weibull fits of the scan (per site and of the mean).
        onecycle_factor: a 1-cycle peak over λ0 for the optimizer that took the step
            (``actcool.scale.rate_factors``; ``None`` for an optimizer without one).
        peak_factor: ActCoolLR's peak over λ0 for that optimizer (the same source).
    """

    lrs: NDArray[np.float64]
    losses: NDArray[np.float64]
    loss_start: float
    lr_used: float
    scan: LRScan
    fits: ScanFits
    onecycle_factor: float | None = ONECYCLE_FACTOR
    peak_factor: float | None = PEAK_FACTOR

    @property
    def mean_temperatures(self) -> NDArray[np.float64]:
        """Mean temperature over sites per rate in bits, ``(R,)``."""
        return self.scan.mean_temperatures

    def loss_edge(self) -> float | None:
        """The largest rate whose loss is still at most :attr:`loss_start`, or ``None``.

        From the loss minimum along the ray, upwards: the last rate of the grid whose loss
        is at most ``loss_start`` (every rate between included), refined by interpolating the
        crossing linearly in ln λ with the next rate. ``None`` (with the reason logged) when
        no rate lowers the loss or the loss has not risen back by the largest rate.
        """
        edge = _loss_edge(self.lrs, self.losses, self.loss_start)
        if isinstance(edge, str):
            logger.info("no loss edge: %s", edge)
            return None
        return edge

    def suggestion(self) -> float | None:
        """A peak learning rate for a 1-cycle schedule: :attr:`onecycle_factor` × λ0 of the
        Weibull fit of the mean ``unit:64`` temperature (re-expressed from the flipped bits
        when the scan used another granularity), or ``None`` without a fit or a factor for the
        optimizer (reason logged). The factor is 13 for SGD with momentum 0.9 (below), its
        rescaled value for other momenta, and a measured one for Adam's family
        (``actcool.scale.rate_factors``, docs/algorithm.md §4.8).

        λ0 is the rate at which one step flips about 1.5% of the units (T̄ = 1.44 bits at
        ``unit:64``). Measured before choosing: scans at initialisation (SGD momentum 0.9,
        weight decay 5e-4, batch 128, seed 0; the range over three batches per cell) against
        the best peaks of 2-epoch 1-cycle runs:

        ====================  =============  ===========  =========  ===========  ============
        set-up                best (window)  line min.    loss edge  steepest     λ0
        ====================  =============  ===========  =========  ===========  ============
        convnet4 / FMNIST     0.05 (.02-.1)  0.056-0.10   0.14-0.27  0.018-0.032  .0061-.0075
        ResNet-20 / CIFAR-10  0.5 (.1-.5)    0.056        0.24-0.32  0.018        .0074-.0115
        4-layer CNN, no BN    0.1 (.05-.2)   0.56-1.0     0.76-1.8   0.18-0.32    .019-.026
        ====================  =============  ===========  =========  ===========  ============

        The factor that puts every scan of convnet4 in its window, and the one for ResNet-20:
        line minimum ≤ 1.0 vs ≥ 1.78, loss edge ≤ 0.37 vs ≥ 0.42, steepest descent of loss vs
        ln λ ≤ 3.2 vs ≥ 5.6, e^μ ≤ 20.8 vs ≥ 21.7, λ0 ≤ 13.35 vs ≥ 13.5. No rule fits both:
        their best peaks differ 10× while their scans barely differ, and the windows touch at
        0.1. 13 × λ0 comes closest (convnet4 0.079-0.097, ResNet-20 0.097-0.150: one scan 3%
        low; the plain CNN 0.25-0.33, too high, below its diverging 1.0). λ0 also holds up in
        scans after 30 steps at 0.01 (fresh / warm momentum buffer: 13 × λ0 = 0.25 / 0.19,
        0.18 / 0.12, 0.22 / 0.16), where the loss edge collapses as the network sharpens to
        the rate it trains at (0.037 / 0.033, 0.21 / 0.10, 0.013 / 0.006). Treat the
        suggestion as a start within a factor of about 3, best from a scan before training.
        """
        if self.onecycle_factor is None:
            logger.info("no suggestion: no 1-cycle factor is known for this optimizer")
            return None
        if not reaches(self.scan):
            logger.info(
                "no suggestion: the step's gradient reached %.2g%% of the parameters (a "
                "zero-initialised layer stops it); scan a step later in training",
                100 * (self.scan.gradient_reach or 0.0),
            )
            return None
        scale = rate_scale(self.scan)
        if scale is None:
            logger.info("no suggestion: no Weibull fit of the mean temperature")
            return None
        return self.onecycle_factor * scale

    def figure(self) -> go.Figure:
        """Loss (left axis) and mean temperature with both fits (right axis) against the rate.

        The x axis is logarithmic; the suggestion, when there is one, is a vertical line with
        its value written beside it.
        """
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=self.lrs,
                y=np.where(np.isfinite(self.losses), self.losses, np.nan),
                name="loss",
                mode="lines+markers",
                line={"color": "#1f77b4"},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[self.lrs[0], self.lrs[-1]],
                y=[self.loss_start, self.loss_start],
                name="loss at θ_t",
                mode="lines",
                line={"color": "#1f77b4", "dash": "dot", "width": 1},
            )
        )
        temps = self.mean_temperatures
        fig.add_trace(
            go.Scatter(
                x=self.lrs,
                y=temps,
                name="mean temperature",
                mode="markers",
                marker={"color": "#d62728"},
                yaxis="y2",
            )
        )
        dense = np.geomspace(self.lrs[0], self.lrs[-1], 200)
        # Fits are of P̄ = 1 − 2^(−T̄); drawn as temperatures, cut where they leave the data.
        ceiling = max(1.2 * float(np.nanmax(temps)), 1.0) if np.isfinite(temps).any() else 1.0
        curves = []
        if self.fits.mean is not None:
            g = self.fits.mean
            p = change_probability(dense, g.mu, g.sigma)
            curves.append((f"Gaussian-CDF fit (e^μ = {g.critical_lr:.3g})", p, "dash"))
        if self.fits.weibull_mean is not None:
            w = self.fits.weibull_mean
            p = weibull_probability(dense, w.lambda0, w.k)
            curves.append((f"Weibull fit (λ0 = {w.lambda0:.3g}, k = {w.k:.2f})", p, "dot"))
        for name, p, dash in curves:
            with np.errstate(divide="ignore"):
                t = -np.log2(np.clip(1.0 - p, 0.0, 1.0))
            fig.add_trace(
                go.Scatter(
                    x=dense,
                    y=np.where(t <= ceiling, t, np.nan),
                    name=name,
                    mode="lines",
                    line={"color": "#d62728", "dash": dash},
                    yaxis="y2",
                )
            )
        lr = self.suggestion()
        if lr is not None:
            fig.add_shape(
                type="line",
                x0=lr,  # shapes take data values on a log axis ...
                x1=lr,
                y0=0,
                y1=1,
                yref="paper",
                line={"color": "black", "dash": "dash"},
            )
            fig.add_annotation(
                x=math.log10(lr),  # ... annotations take log10 of them (plotly.js#1258)
                y=1,
                yref="paper",
                text=f"suggested lr = {lr:.3g}",
                showarrow=False,
                xanchor="left",
                yanchor="bottom",
            )
        fig.update_layout(
            title=f"LR range test (trained at λ_t = {self.lr_used:.3g})",
            xaxis={"title": "learning rate", "type": "log"},
            yaxis={"title": "loss", "range": self._loss_range()},
            yaxis2={
                "title": f"mean temperature ({self.scan.granularity}), bits",
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
            },
            legend={"x": 0.01, "y": 0.99},
        )
        return fig

    def _loss_range(self) -> list[float] | None:
        """The dip below the start and as much again above it: losses grow by orders of
        magnitude past the edge and would flatten the part that matters."""
        finite = self.losses[np.isfinite(self.losses)]
        low = float(finite.min()) if finite.size else self.loss_start
        span = self.loss_start - low
        if not span > 0:
            return None  # plotly's autorange
        return [low - 0.1 * span, self.loss_start + 1.5 * span]

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and strings (non-finite losses stay float ``inf``/``nan``)."""
        fits = self.fits
        return {
            "lrs": [float(x) for x in self.lrs],
            "losses": [float(x) for x in self.losses],
            "loss_start": float(self.loss_start),
            "lr_used": float(self.lr_used),
            "granularity": str(self.scan.granularity),
            "batch_size": int(self.scan.batch_size),
            "sites": list(self.scan.sites),
            "temperatures": [[float(t) for t in row] for row in self.scan.temperatures],
            "mean_temperatures": [float(t) for t in self.mean_temperatures],
            "gaussian_fit": fits.mean.to_dict() if fits.mean is not None else None,
            "weibull_fit": fits.weibull_mean.to_dict() if fits.weibull_mean is not None else None,
            "loss_edge": self.loss_edge(),
            "suggestion": self.suggestion(),
        }


def _loss_edge(
    lrs: NDArray[np.float64], losses: NDArray[np.float64], loss_start: float
) -> float | str:
    """The rate where the loss along the ray rises back to ``loss_start`` (see
    :meth:`RangeTest.loss_edge`), or the reason there is none. ``lrs`` ascending, ``(R,)``."""
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    if not finite.any():
        return "every loss of the scan is inf/NaN; extend lrs downwards"
    low = int(np.argmin(np.where(finite, losses, np.inf)))
    if not losses[low] <= loss_start:
        return (
            f"no rate lowers the loss below its start {loss_start:.4g} (lowest "
            f"{losses[low]:.4g} at {lrs[low]:.3g}): the update does not descend on this batch"
        )
    top = low
    while top + 1 < len(lrs) and finite[top + 1] and losses[top + 1] <= loss_start:
        top += 1
    if top + 1 == len(lrs):
        return f"the loss is still below its start at the largest rate {lrs[-1]:.3g}; extend lrs"
    above = losses[top + 1]
    if not np.isfinite(above):
        return float(lrs[top])
    # linear in ln λ between the last rate below the start and the first above it
    frac = (loss_start - losses[top]) / (above - losses[top])
    return float(np.exp(np.log(lrs[top]) + frac * (np.log(lrs[top + 1]) - np.log(lrs[top]))))


# -- the measurement ---------------------------------------------------------------------------
def _check_lrs(lrs: Iterable[float] | None) -> tuple[float, ...]:
    if lrs is None:
        return SCALE_SCAN_LRS
    try:
        grid = tuple(float(x) for x in lrs)
    except (TypeError, ValueError):
        raise TypeError(f"lrs must be a sequence of numbers, got {lrs!r}") from None
    grid = check_scan_lrs(grid, "lrs")
    for i in range(1, len(grid)):
        if grid[i] <= grid[i - 1]:
            raise ValueError(
                f"lrs must be sorted ascending without repeats, got {grid[i]!r} after "
                f"{grid[i - 1]!r} at index {i}; pass e.g. numpy.logspace(-8, 2, 41)"
            )
    return grid


def check_pair(batch: Any, name: str = "batch") -> tuple[Any, Any]:
    """``(inputs, targets)`` of ``batch``; a ``TypeError`` naming ``name`` otherwise."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        got = (
            f"a {type(batch).__name__} of length {len(batch)}"
            if isinstance(batch, (tuple, list))
            else type(batch).__name__
        )
        raise TypeError(f"{name} must be a pair (inputs, targets), got {got}")
    return batch[0], batch[1]


def check_loss(loss: Any) -> Tensor:
    if not isinstance(loss, Tensor):
        raise TypeError(
            f"loss_fn must return a scalar tensor, got {type(loss).__name__}; "
            "e.g. loss_fn=torch.nn.functional.cross_entropy"
        )
    if loss.numel() != 1:
        raise ValueError(
            f"loss_fn must return a scalar tensor, got shape {tuple(loss.shape)}; "
            "reduce it, e.g. with .mean() or reduction='mean'"
        )
    return loss


def lr_scan(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Sequence[Any],
    loss_fn: Callable[[Any, Any], Tensor],
    lrs: Sequence[float] | None = None,
    *,
    sites: Iterable[nn.Module | str] | None = None,
    activations: Iterable[type[nn.Module]] | None = None,
    granularity: str | Granularity = DEFAULT_GRANULARITY,
    pattern_length: int | None = None,
    scan_in_float32: bool = True,
) -> RangeTest:
    """Run an LR range test on one batch and leave no trace (docs/algorithm.md §3).

    One real training step (``zero_grad``, forward, ``loss_fn``, backward, ``optimizer.step()``)
    at the optimizer's current rate λ_t gives the update per unit rate
    ``Δ = (θ_{t+1} − θ_t)/λ_t`` (the negative gradient when λ_t = 0), whatever the optimizer
    does with momentum, weight decay or Adam's moments. For each λ the model then runs at
    ``θ_t + λ·Δ`` on the same batch, in the same train/eval mode, with BatchNorm buffers reset and
    dropout drawing the training pass's masks, and records ``loss_fn`` and the temperature
    against the patterns at θ_t. A loss or activations that overflow at large λ are recorded
    (inf/NaN), never raised.

    Afterwards parameters, buffers, every ``.grad`` (``None`` included), the optimizer's state
    and param groups, torch's CPU (and CUDA) random number generators and the modules' train/eval
    flags are exactly as before, and no hook is left behind. Call it between training steps;
    hooks that other code has on the model or optimizer see the one extra step.

    Args:
        model: the network (every activation module is a site unless ``sites`` is given).
        optimizer: the optimizer that trains it, in the state in which to measure (fresh at
            initialisation, or warmed up mid-training: the momentum buffer is part of Δ).
        batch: ``(inputs, targets)``; ``inputs`` is a tensor, a tuple of positional arguments
            or a dict of keyword arguments of ``model``.
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor.
        lrs: the rates, ascending, at least 3 (default: ``actcool.scale.SCALE_SCAN_LRS``,
            41 log-spaced from 1e-8 to 1e2).
        sites: modules (or dotted paths) to measure instead of every activation module.
        activations: the activation types to measure (default ``actcool.DEFAULT_ACTIVATIONS``).
        granularity: what one pattern is (default ``"unit"``, L = 64; docs/algorithm.md §1).
        pattern_length: L of the ``unit`` granularity (default 64).
        scan_in_float32: called under ``torch.autocast``, the step runs under it and the scan
            in float32 (the default), or the scan under it too (``False``); see
            :class:`~actcool.TemperatureMonitor`.

    Returns:
        A :class:`RangeTest`.

    Raises:
        TypeError: ``batch`` is not a pair, ``loss_fn`` is not callable or returns no tensor.
        ValueError: a bad ``lrs`` grid, a loss with more than one element, or a model with no
            activation site (each named in the message).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    inputs, targets = check_pair(batch)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {loss_fn!r}")
    grid = _check_lrs(lrs)
    args, kwargs = call_arguments(inputs)

    losses: list[Tensor] = []

    def record_loss(lr: float, outputs: Any) -> None:
        losses.append(check_loss(loss_fn(outputs, targets)).detach().reshape(()).double())

    factors = rate_factors(optimizer, model)
    params = step_parameters(model, optimizer)
    snapshot = StepSnapshot(model, optimizer, params)
    monitor = TemperatureMonitor(
        model,
        measure_every=1,
        sites=sites,
        activations=activations,
        scan_lrs=grid,
        optimizer=optimizer,
        granularity=granularity,
        pattern_length=pattern_length,
        on_scan_output=record_loss,
        scan_in_float32=scan_in_float32,
    )
    try:
        monitor.request_scan(0)
        lr_used = first_group_lr(optimizer)
        for p in params:
            p.grad = None  # zero_grad(set_to_none=True), for the model's parameters as well
        with torch.enable_grad():
            loss = check_loss(loss_fn(model(*args, **kwargs), targets))
            loss.backward()
        optimizer.step()
        loss_start = float(loss.detach())
        measurement = monitor.step()
    finally:
        monitor.close()
        snapshot.restore()
    if measurement is None or measurement.scan is None or measurement.fits is None:
        raise RuntimeError("the LR range scan did not run; optimizer.step() was not observed")
    return RangeTest(
        lrs=np.asarray(grid, dtype=np.float64),
        losses=torch.stack(losses).cpu().numpy(),
        loss_start=loss_start,
        lr_used=lr_used,
        scan=measurement.scan,
        fits=measurement.fits,
        onecycle_factor=None if factors is None else factors.onecycle,
        peak_factor=None if factors is None else factors.peak,
    )
