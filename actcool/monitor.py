"""TemperatureMonitor: measure the activation pattern temperature with one extra forward pass.

Usage, in any training loop::

    with TemperatureMonitor(model, measure_every=10, optimizer=optimizer) as monitor:
        for inputs, targets in loader:
            loss = criterion(model(inputs), targets)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            m = monitor.step()            # a Measurement every 10th step, else None

On a measurement step the training forward itself records each site's pattern at θ_t, and the
arguments it was called with; after ``optimizer.step()`` the monitor runs the same call once
more at θ_{t+1} (no gradients, same train/eval mode, same dropout masks) and counts the
samples whose pattern changed (docs/algorithm.md §1). With ``scan_every`` (and the optimizer)
it also re-evaluates the step's update at a grid of learning rates: the LR range analysis of
docs/algorithm.md §3.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from .distributed import all_reduce_sum
from .granularity import COUNTERS, DEFAULT_GRANULARITY, Granularity
from .isolation import (
    ForwardContext,
    capture_forward_context,
    preserved_model_state,
    replay_context,
    reset_buffers,
)
from .measurement import LRScan, Measurement
from .sites import COMPARE, IDLE, RECORD, REFERENCE, PatternProbe, find_sites

__all__ = ["DEFAULT_SCAN_LRS", "TemperatureMonitor"]

logger = logging.getLogger(__name__)

#: docs/algorithm.md §3: 25 log-spaced rates from 1e-4 to 1e2.
DEFAULT_SCAN_LRS: tuple[float, ...] = tuple(np.logspace(-4, 2, 25).tolist())


def call_arguments(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` of a batch given as a tensor, a tuple/list of arguments or a dict."""
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    return (inputs,), {}


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module to hook: a ``DistributedDataParallel`` wrapper's ``.module``, else ``model``.

    The measurement pass calls the plain module, so it runs no collective of DDP's own (buffer
    broadcast, gradient hooks); the counts are summed over ranks once per measurement instead.
    """
    return model.module if isinstance(model, DistributedDataParallel) else model


def _positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_scan_lrs(scan_lrs: Iterable[float] | None, name: str = "scan_lrs") -> tuple[float, ...]:
    """An LR range scan's grid as floats (the default grid for ``None``): at least 3 rates,
    each finite and > 0; ``name`` is the argument the messages name."""
    if scan_lrs is None:
        return DEFAULT_SCAN_LRS
    lrs = tuple(float(x) for x in scan_lrs)
    if len(lrs) < 3:
        raise ValueError(f"{name} needs at least 3 learning rates to fit, got {len(lrs)}")
    bad = [x for x in lrs if not (np.isfinite(x) and x > 0)]
    if bad:
        raise ValueError(f"{name} must be finite and > 0, got {bad[0]!r}")
    return lrs


def first_group_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the optimizer's first param group, as a float (a tensor rate too)."""
    lr = optimizer.param_groups[0]["lr"]
    return float(lr.item() if isinstance(lr, Tensor) else lr)


def _gradient_reach(model: nn.Module) -> Tensor | None:
    """``[elements with a non-zero gradient, elements]`` over the trainable parameters, int64 on
    their device (no host sync: read with the scan's counts); ``None`` without parameters.
    Embedding tables are left out: a batch touches only its tokens' rows."""
    sparse = {
        id(p)
        for m in model.modules()
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
        for p in m.parameters(recurse=False)
    }
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse]
    if not params:
        return None
    device = params[0].device
    nonzero = torch.zeros((), dtype=torch.int64, device=device)
    for p in params:
        if p.grad is not None:
            nonzero = nonzero + torch.count_nonzero(p.grad.detach()).to(device)
    elements = torch.tensor(sum(p.numel() for p in params), dtype=torch.int64, device=device)
    return torch.stack([nonzero, elements])


class TemperatureMonitor:
    """Measures per-site activation pattern temperatures of a network with ReLU-like
    activations (ReLU, GELU, SiLU, ...; :data:`actcool.DEFAULT_ACTIVATIONS`).

    See docs/algorithm.md §1 (measurement) and §3 (LR range scans).

    Call :meth:`step` once per training step, right after ``optimizer.step()``. Steps are
    numbered from 0; step ``t`` is a measurement step when ``t % measure_every == 0``, a scan
    step when ``t % scan_every == 0`` or a scan was requested with :meth:`request_scan`.

    The measurement replays the last forward pass run with gradients enabled during the step,
    with the same arguments (kept by reference, on measurement steps only). With gradient
    accumulation (several forwards per ``optimizer.step()``) that is the last micro-batch.

    With the ``optimizer`` given, the monitor sees whether ``optimizer.step()`` ran (its step
    post-hook). On a step where it did not, as when ``torch.amp.GradScaler`` skips a step
    with non-finite gradients, the parameters did not move and there is nothing to measure: a
    measurement (and scan) due on that step moves to the next step on which the optimizer
    steps; the step count still advances. Without the optimizer every due step is measured.

    The monitor owns its hooks: use it as a context manager or call :meth:`close` to remove
    every one of them (model and optimizer hooks); a closed monitor cannot be stepped.

    Args:
        model: the network, or its ``DistributedDataParallel`` wrapper (the wrapped
            ``.module`` is hooked and replayed). Counts are summed over ranks when
            ``torch.distributed`` is initialised.
        measure_every: measure every K-th step (docs/algorithm.md §1; default 10).
        sites: modules (or dotted paths) to measure instead of every activation module.
        scan_every: run an LR range scan every this many steps (must be a multiple of
            nothing in particular: a scan step is always also a measurement step).
        scan_lrs: the scan's learning-rate grid (default: 25 log-spaced from 1e-4 to 1e2).
        activations: the activation module types to measure (default
            :data:`actcool.DEFAULT_ACTIVATIONS` and the same activations' wrappers from timm
            and transformers; ``actcool.sites.find_sites``).
        optimizer: required for LR range scans (it tells the step's learning rate and the
            parameters before the step); also tells which steps the optimizer skipped.
        granularity: what one pattern is: ``"unit"`` (the default, L = 64 units per pattern),
            ``"unit:L"``, ``"position"`` or ``"sample"`` (docs/algorithm.md §1), or a
            :class:`~actcool.granularity.Granularity`.
        pattern_length: L of the ``unit`` granularity (default 64).
        compare_with: other granularities to count as well, for comparison (one more
            reduction per site each); their temperatures come from
            ``Measurement.temperatures_at``. Flipped bits are always counted.
        on_scan_output: called as ``on_scan_output(lr, output)`` with the model's output at
            every rate of an LR range scan (under ``torch.no_grad()``), e.g. to record the
            loss along the update (:func:`actcool.lr_scan` does).
        scan_in_float32: under ``torch.autocast`` (bf16 or fp16), run a step that scans in
            float32: its measurement and every pass of its scan, against patterns at θ_t
            recorded again in float32 (one more forward). The response model, and the rate
            scale λ0 that ActCoolLR reads from it, then do not depend on the loop's precision
            (docs/algorithm.md §1, "Under autocast"). Default ``True``; ``False`` scans under
            the training forward's autocast.

    Raises:
        ValueError: the model has no activation site (the message lists its module types),
            or a bad argument (named in the message).
    """

    def __init__(
        self,
        model: nn.Module,
        measure_every: int = 10,
        sites: Iterable[nn.Module | str] | None = None,
        scan_every: int | None = None,
        scan_lrs: Sequence[float] | None = None,
        *,
        activations: Iterable[type[nn.Module]] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        granularity: str | Granularity = DEFAULT_GRANULARITY,
        pattern_length: int | None = None,
        compare_with: Iterable[str | Granularity] = (),
        on_scan_output: Callable[[float, Any], None] | None = None,
        scan_in_float32: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        model = unwrap_model(model)
        self.model = model
        self.measure_every = _positive_int("measure_every", measure_every)
        self.scan_every = _positive_int("scan_every", scan_every, allow_none=True)
        self.scan_lrs = check_scan_lrs(scan_lrs)
        if self.scan_every is not None and optimizer is None:
            raise ValueError(
                "LR range scans need the optimizer: "
                "TemperatureMonitor(model, scan_every=..., optimizer=optimizer)"
            )
        self.optimizer = optimizer
        self.on_scan_output = on_scan_output
        self.scan_in_float32 = bool(scan_in_float32)
        first = next(iter(model.parameters()), None)
        self._device_type = first.device.type if first is not None else "cpu"
        self.granularity = Granularity.parse(granularity, pattern_length)
        if isinstance(compare_with, (str, Granularity)):
            compare_with = (compare_with,)
        wanted = {self.granularity.counter, "bits"}
        wanted |= {Granularity.parse(g).counter for g in compare_with}
        self._probe = PatternProbe(
            model,
            find_sites(model, sites, activations),
            counters=tuple(c for c in COUNTERS if c in wanted),
            on_record=self._on_record,
        )
        self._ctx: ForwardContext | None = None
        self._before_step: tuple[list[Tensor], float, list[Tensor] | None] | None = None
        # the scanned step's (non-zero gradient elements, elements), on the device
        self._reach: Tensor | None = None
        self._opt_handles = (
            [
                optimizer.register_step_pre_hook(self._on_optimizer_step),
                optimizer.register_step_post_hook(self._on_optimizer_stepped),
            ]
            if optimizer is not None
            else []
        )
        self._step = 0
        self._stepped = False  # optimizer.step() ran during the current step
        self._pending = False  # a measurement moved here from a step the optimizer skipped
        self._requested_scans: set[int] = set()
        self._closed = False
        self._paused = False
        self.last_measurement: Measurement | None = None
        self._arm()

    # -- schedule --------------------------------------------------------------------------
    @property
    def step_count(self) -> int:
        """Index of the next step to be trained (number of :meth:`step` calls so far)."""
        return self._step

    @property
    def sites(self) -> list[str]:
        """Site names in order of first call (known after the first recorded forward)."""
        return list(self._probe.names)

    def is_scan_step(self, t: int) -> bool:
        return t in self._requested_scans or (
            self.scan_every is not None and t % self.scan_every == 0
        )

    def is_measure_step(self, t: int) -> bool:
        return (
            t % self.measure_every == 0
            or self.is_scan_step(t)
            or (self._pending and t == self._step)
        )

    def request_scan(self, step: int | None = None) -> None:
        """Run an LR range scan at ``step`` (default: the next step to be trained).

        Call it between :meth:`step` and the next training forward. Needs the optimizer.
        """
        if self.optimizer is None:
            raise ValueError(
                "LR range scans need the optimizer: TemperatureMonitor(model, optimizer=...)"
            )
        t = self._step if step is None else int(step)
        if t < self._step:
            raise ValueError(f"step {t} has already been trained (next step is {self._step})")
        self._requested_scans.add(t)
        self._arm()

    def _arm(self) -> None:
        self._probe.clear()
        self._ctx = None
        self._before_step = None
        self._reach = None
        if not self._closed:
            self._probe.mode = RECORD if self.is_measure_step(self._step) else IDLE

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Inside, the hooks ignore the model's forward passes and the optimizer's steps: for
        other computations between two :meth:`step` calls (e.g. ActCoolLR's branch search,
        ``actcool/branches.py``). What they recorded before is kept."""
        mode, self._probe.mode, self._paused = self._probe.mode, IDLE, True
        try:
            yield
        finally:
            self._paused = False
            if not self._closed:
                self._probe.mode = mode

    # -- hooks -----------------------------------------------------------------------------
    def _on_record(self) -> None:
        self._ctx = capture_forward_context(self.model, self._device_type)

    def _on_optimizer_stepped(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if not self._paused:
            self._stepped = True
            if self.is_scan_step(self._step):  # after the step: a closure has run backward
                self._reach = _gradient_reach(self.model)

    def _on_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._paused or not self.is_scan_step(self._step):
            return
        params = [p.detach() for p in self.model.parameters()]
        lr = optimizer.param_groups[0]["lr"]
        lr = float(lr.item() if isinstance(lr, Tensor) else lr)
        grads = None
        if lr == 0:
            # At λ_t = 0 the update direction is the plain negative gradient (algorithm.md §3).
            grads = [
                -p.grad.detach() if p.grad is not None else torch.zeros_like(p)
                for p in self.model.parameters()
            ]
        self._before_step = ([p.clone() for p in params], lr, grads)

    # -- measurement -----------------------------------------------------------------------
    def step(self, inputs: Any = None) -> Measurement | None:
        """Finish training step t: measure if t is a measurement step, then advance.

        Call it once per training step, after ``optimizer.step()`` (or after
        ``scaler.step(optimizer)``, whether or not the scaler skipped the step).

        Args:
            inputs: the model inputs to measure on (a tensor, a tuple of positional arguments
                or a dict of keyword arguments). ``None`` (the default) replays the arguments
                of the step's last forward pass with gradients enabled, which is the batch just
                trained on; with gradient accumulation, the last micro-batch. Given inputs win.

        Returns:
            A :class:`Measurement` on measurement steps, else ``None`` (also on a measurement
            step whose ``optimizer.step()`` did not run: the measurement moves to the next
            step that trains, see the class docstring).

        Raises:
            RuntimeError: the monitor is closed, or no forward pass with gradients reached the
                sites during a measurement step.
        """
        self._check_open()
        t = self._step
        measurement = None
        if self.is_measure_step(t):
            if self.optimizer is not None and not self._stepped:
                self._defer(t)
            else:
                measurement = self._measure(t, self._call_for(t, inputs), self.is_scan_step(t))
                self.last_measurement = measurement
                self._pending = False
        self._requested_scans.discard(t)
        self._step = t + 1
        self._stepped = False
        self._arm()
        return measurement

    def _defer(self, t: int) -> None:
        """θ did not move on step t (the optimizer skipped it): measure at the next step."""
        self._pending = True
        if self.is_scan_step(t):
            self._requested_scans.add(t + 1)
        logger.info(
            "step %d: optimizer.step() did not run (e.g. GradScaler skipped it); the "
            "measurement moves to the next step that trains",
            t,
        )

    def _call_for(self, t: int, inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The ``(args, kwargs)`` to replay: the given inputs, else the recorded forward's."""
        if not self._probe.recorded:
            raise RuntimeError(
                f"no training forward pass (with gradients enabled) reached the activation sites "
                f"during step {t}; call monitor.step() once per step, right after "
                "optimizer.step()"
            )
        call = self._probe.last_call if inputs is None else call_arguments(inputs)
        if call is None or self._ctx is None:
            raise RuntimeError(
                f"the activation sites ran during step {t}, but not inside a call of the measured "
                f"model ({type(self.model).__name__}): pass the module the training step "
                "calls, e.g. ActCoolLR(optimizer, self.net, ...) when training_step runs "
                "self.net(x)"
            )
        return call

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                "TemperatureMonitor is closed: its hooks were removed by close(); "
                "create a new monitor"
            )

    def _measure(
        self, t: int, call: tuple[tuple[Any, ...], dict[str, Any]], scan: bool
    ) -> Measurement:
        assert self._ctx is not None  # set by the recording forward's pre-hook
        probe, model, ctx = self._probe, self.model, self._ctx
        args, kwargs = call
        before = self._before_step if scan else None
        if scan and before is None:
            logger.warning(
                "step %d: LR range scan skipped, optimizer.step() did not run this step", t
            )
        batch = probe.batch_size
        names = tuple(probe.names)
        totals = probe.totals()  # (S, K)
        scan_counts: Tensor | None = None
        # A scan under the training forward's autocast runs in float32, from patterns at θ_t
        # recorded again in float32.
        in_float32 = None
        if before is not None and self.scan_in_float32 and ctx.autocast and ctx.autocast[1]:
            in_float32 = torch.autocast(ctx.autocast[0], enabled=False)
        with (
            preserved_model_state(model, params=before is not None) as (buffers, theta_next),
            replay_context(model, ctx),
            in_float32 or contextlib.nullcontext(),
            torch.no_grad(),
        ):
            try:
                if in_float32 is not None and before is not None:
                    self._record_reference(call, before[0], theta_next, buffers, ctx)
                probe.mode = COMPARE
                ctx.rng.restore()
                model(*args, **kwargs)
                counts = probe.take_counts()  # (S, K)
                active = probe.take_active()  # (S,)
                if before is not None:
                    scan_counts = self._scan(call, before, buffers, ctx)  # (S, K, R)
            finally:
                probe.mode = IDLE
                probe.clear()
        batch_t = torch.tensor([batch], device=counts.device, dtype=torch.int64)
        parts = [counts.flatten(), totals.flatten(), batch_t, active.to(counts.device)]
        reach = self._reach if scan_counts is not None else None
        if scan_counts is not None:
            parts.append(scan_counts.flatten())
            if reach is not None:
                parts.append(reach.to(counts.device))
        packed = all_reduce_sum(torch.cat(parts)).cpu().numpy()  # one host sync
        if reach is not None:
            packed, (nonzero, elements) = packed[:-2], packed[-2:]
        s, k = counts.shape
        counted = packed[: s * k].reshape(s, k)
        compared = packed[s * k : 2 * s * k].reshape(s, k)
        total = int(packed[2 * s * k])
        on = packed[2 * s * k + 1 : 2 * s * k + 1 + s]
        by_counter = {c: counted[:, i] for i, c in enumerate(probe.counters)}
        totals_by_counter = {c: compared[:, i] for i, c in enumerate(probe.counters)}
        lr_scan = None
        if scan_counts is not None:
            rates = packed[2 * s * k + 1 + s :].reshape(s, k, len(self.scan_lrs))
            lr_scan = LRScan(
                lrs=np.asarray(self.scan_lrs),
                sites=names,
                batch_size=total,
                granularity=self.granularity,
                counts={c: rates[:, i, :] for i, c in enumerate(probe.counters)},
                totals=totals_by_counter,
                gradient_reach=float(nonzero / elements)
                if reach is not None and elements
                else None,
            )
        return Measurement.from_counts(
            t, names, by_counter, totals_by_counter, total, self.granularity, lr_scan, active=on
        )

    def _record_reference(
        self,
        call: tuple[tuple[Any, ...], dict[str, Any]],
        theta_t: list[Tensor],
        theta_next: list[Tensor],
        buffers: list[Tensor],
        ctx: ForwardContext,
    ) -> None:
        """Record the patterns at θ_t again, in the present precision, and go back to θ_{t+1}
        (``theta_next``, the snapshot :func:`preserved_model_state` took)."""
        args, kwargs = call
        params = [p.detach() for p in self.model.parameters()]
        for p, p0 in zip(params, theta_t, strict=True):
            p.copy_(p0)
        reset_buffers(self.model, buffers)
        ctx.rng.restore()
        self._probe.mode = REFERENCE
        self.model(*args, **kwargs)
        for p, p1 in zip(params, theta_next, strict=True):
            p.copy_(p1)
        reset_buffers(self.model, buffers)

    def _scan(
        self,
        call: tuple[tuple[Any, ...], dict[str, Any]],
        before: tuple[list[Tensor], float, list[Tensor] | None],
        buffers: list[Tensor],
        ctx: ForwardContext,
    ) -> Tensor:
        """Counts at θ_t + λ·Δ for every λ in the grid, ``(S, K, R)`` (algorithm.md §3)."""
        theta_t, lr_t, neg_grad = before
        args, kwargs = call
        params = [p.detach() for p in self.model.parameters()]
        if neg_grad is not None:
            delta = neg_grad
        else:
            # Δ = (θ_{t+1} − θ_t)/λ_t: covers momentum, weight decay and Adam alike.
            delta = [torch.sub(p, p0).div_(lr_t) for p, p0 in zip(params, theta_t, strict=True)]
        # `alpha` must fit the parameters' dtype; beyond that, multiply (overflowing to inf).
        largest = min(torch.finfo(p.dtype).max for p in params) if params else float("inf")
        rows = []
        for lr in self.scan_lrs:
            # θ = θ_t + λ·Δ, written into the parameters: one kernel per parameter, public API
            # only (no torch._foreach_*), as cheap as a copy followed by an add.
            for p, p0, d in zip(params, theta_t, delta, strict=True):
                if lr <= largest:
                    torch.add(p0, d, alpha=lr, out=p)
                else:
                    torch.add(p0, d * lr, out=p)
            reset_buffers(self.model, buffers)
            ctx.rng.restore()
            out = self.model(*args, **kwargs)  # inf/NaN activations count as changed
            if self.on_scan_output is not None:
                self.on_scan_output(lr, out)
            rows.append(self._probe.take_counts())
        return torch.stack(rows, dim=2)

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain numbers that fix when the next measurements and scans happen."""
        return {
            "step": self._step,
            "measure_every": self.measure_every,
            "scan_every": self.scan_every,
            "scan_lrs": list(self.scan_lrs),
            "requested_scans": sorted(self._requested_scans),
            # a measurement moved off a step the optimizer skipped, due at "step"
            "pending_measurement": self._pending,
            "granularity": str(self.granularity),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"step", "measure_every", "scan_every", "scan_lrs", "requested_scans"} - set(
            state
        )
        if missing:
            raise KeyError(f"monitor state is missing {sorted(missing)}")
        self.measure_every = _positive_int("measure_every", state["measure_every"])
        self.scan_every = _positive_int("scan_every", state["scan_every"], allow_none=True)
        self.scan_lrs = check_scan_lrs(state["scan_lrs"])
        self._step = int(state["step"])
        self._requested_scans = {int(s) for s in state["requested_scans"]}
        self._pending = bool(state.get("pending_measurement", False))
        # A state saved before granularities existed was measured per sample.
        saved = Granularity.parse(state.get("granularity", "sample"))
        if saved != self.granularity:
            raise ValueError(
                f"the saved state was measured at granularity {str(saved)!r}, this monitor "
                f"measures {str(self.granularity)!r}; construct it with granularity={str(saved)!r}"
            )
        self._arm()

    # -- lifetime --------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has removed the hooks."""
        return self._closed

    def close(self) -> None:
        """Remove every hook this monitor installed (on the model and on the optimizer) and
        drop what it recorded. Idempotent; :meth:`step` raises afterwards, while
        :meth:`state_dict` still works (for a last checkpoint)."""
        self._closed = True
        self._probe.remove()
        for handle in self._opt_handles:
            handle.remove()
        self._opt_handles.clear()
        self._ctx = None
        self._before_step = None

    def remove(self) -> None:
        """The former name of :meth:`close`, kept as an alias."""
        self.close()

    def __enter__(self) -> TemperatureMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
