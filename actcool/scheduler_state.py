"""ActCoolLR's checkpoint: what :meth:`~actcool.ActCoolLR.state_dict` saves and
:meth:`~actcool.ActCoolLR.load_state_dict` restores.

The state is plain numbers only (no modules, hooks or scipy objects), so ``torch.save`` of a
checkpoint just works and ``torch.load(..., weights_only=True)`` reads it back; the
exceptions are copies of the model's and optimizer's state (tensors, on the CPU): the loss
probe's snapshots, held only while an adaptive optimizer's probe runs in the warm-up
(docs/algorithm.md §4.8), and the states the guard goes back to when it trips, held while the
run trains at its highest rate so far and, the state it started with, through the warm-up
(§4.7, ``actcool.rewind.GuardRollback``). Loading
restores *state*: the step, the law's fitted parameters and segment, the calibrated target, what
the finder found, the ceiling the guard lowered, the guard's history. It keeps the loading
scheduler's *settings*, the constructor's arguments (``total_steps``, ``measure_every``,
``lr_min``, ``response``, ``smoothing``, ``max_rise``, the opening, ``scan_every``,
``scan_lrs``, ``refit_shape``, ``calibration``, the guard's thresholds): they are saved for
the record only. A state saved before the Weibull law existed keeps its Gaussian law, the
one it was trained with; a state saved with the former names (``sigma_scans``,
``sigma_fitted``; the controller's ``ramp_*``, ``warmup_*``) loads as with the new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from .branches import BranchSearch
from .curves import curve_from_dict
from .guard import DivergenceGuard, GuardEvent
from .probe import RateProbe

if TYPE_CHECKING:
    from .scheduler import ActCoolLR

__all__ = ["check_state", "load_scheduler_state", "scheduler_state", "torch_keys"]

#: The keys of torch's LRScheduler.state_dict() that ActCoolLR's state carries over.
TORCH_KEYS = ("last_epoch", "base_lrs", "_last_lr", "_step_count")
#: The monitor's settings (the rest of its state is when the next measurements happen).
MONITOR_SETTINGS = ("measure_every", "scan_every", "scan_lrs")


def _plain(value: Any) -> Any:
    """Numbers and lists of numbers as plain Python floats/ints (no tensors in a state)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


def scheduler_state(s: ActCoolLR, torch_state: Mapping[str, Any]) -> dict[str, Any]:
    """Everything needed to continue the identical rate sequence, as plain data.

    The scheduler keys torch's own ``LRScheduler.state_dict()`` returns (``torch_state``:
    ``last_epoch``, ``base_lrs``, the last rates and the step count of its stepping-order
    check) are taken from it, so ``get_last_lr()`` and that check behave after loading as for
    a torch scheduler; the rest is ActCoolLR's.
    """
    return {
        **{k: _plain(torch_state[k]) for k in TORCH_KEYS if k in torch_state},
        "last_epoch": s.last_epoch,
        "base_lrs": [float(b) for b in s.base_lrs],
        "refit_shape": s.refit_shape,
        "shape_scans": s.shape_scans,
        "shape_fitted": s.shape_fitted,
        "target": None if s.target is None else s.target.to_dict(),
        "calibration": None if s.calibration is None else s.calibration.to_dict(),
        "calibrated_start": s.calibrated_start,
        "ramp_samples": [list(x) for x in s._ramp_samples],
        "controller": s.controller.state_dict(),
        "monitor": s.monitor.state_dict(),
        "find_lr": s.find_lr,
        "found_lr": s.found_lr,
        "rate_scale": s.rate_scale,
        "settle_scales": s.settle_scales,
        "guard": None if s.guard is None else s.guard.state_dict(),
        "guard_events": [e.to_dict() for e in s._guard_events],
        # the state a trip of the guard goes back to (tensors): while at the highest rate
        "guard_rollback": None if s._rollback is None else s._rollback.state_dict(),
        "loss_window": [s._peek_loss_sum(), s._loss_count],
        "probe": None if s.probe is None else s.probe.state_dict(),
        "branch_result": None if s.branch_result is None else s.branch_result.to_dict(),
        "branch_centre": s.branch_centre,
        # the loss probe's snapshots (tensors): only while it runs, a few warm-up windows long
        "probe_snapshots": list(s._snapshots),
    }


def check_state(state: Mapping[str, Any]) -> None:
    """Raise ``KeyError`` unless ``state`` is an ActCoolLR state dict."""
    missing = {"last_epoch", "controller", "monitor", "target"} - set(state)
    if missing:
        raise KeyError(f"not an ActCoolLR state dict: missing {sorted(missing)}")


def torch_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``state`` that torch's ``LRScheduler.load_state_dict`` restores."""
    return {k: state[k] for k in TORCH_KEYS if k in state}


def load_scheduler_state(s: ActCoolLR, state: Mapping[str, Any]) -> None:
    """Restore ``state`` into ``s``, keeping ``s``'s settings (the module's docstring)."""
    s.last_epoch = int(state["last_epoch"])
    s.base_lrs = list(state.get("base_lrs", s.base_lrs))
    # "sigma_*" are the names states had before "shape" (σ or k, the law's) replaced them
    s.shape_scans = int(state.get("shape_scans", state.get("sigma_scans", 0)))
    s.shape_fitted = bool(state.get("shape_fitted", state.get("sigma_fitted", True)))
    target = state["target"]
    s.target = None if target is None else curve_from_dict(target)
    s.calibrated_start = state.get("calibrated_start")
    s._ramp_samples = [(float(a), float(b)) for a, b in state.get("ramp_samples", [])]
    s.controller.load_state_dict(dict(state["controller"]), keep_settings=True)
    s.monitor.load_state_dict(
        {**state["monitor"], **{k: getattr(s.monitor, k) for k in MONITOR_SETTINGS}}
    )
    # states saved before the finder existed ran with the optimizer's rate as the peak
    s.find_lr = bool(state.get("find_lr", False))
    s.found_lr = state.get("found_lr")
    s.rate_scale = state.get("rate_scale")
    settle = state.get("settle_scales")
    s.settle_scales = None if settle is None else [float(v) for v in settle]
    guard = state.get("guard")
    if guard is not None and s.guard is not None:
        s.guard.load_state_dict(_without(guard, DivergenceGuard.SETTINGS))
    s._guard_events = [GuardEvent.from_dict(e) for e in state.get("guard_events", [])]
    rollback = state.get("guard_rollback")
    if rollback is not None and s._rollback is not None:
        s._rollback.load_state_dict(rollback)
    probe = state.get("probe")
    s.probe = None if probe is None else RateProbe.from_state(probe)
    s._snapshots = list(state.get("probe_snapshots", []))
    branches = state.get("branch_result")
    s.branch_result = None if branches is None else BranchSearch.from_dict(branches)
    s.branch_centre = state.get("branch_centre")
    loss_sum, loss_count = state.get("loss_window", [0.0, 0])
    s._loss_sum, s._loss_count = float(loss_sum), int(loss_count)


def _without(state: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in keys}
