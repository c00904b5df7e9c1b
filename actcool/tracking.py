"""Record any PyTorch training loop into the ActCool store, live, for the dashboard.

One context manager per run, one call per step, as in ``wandb.init()``/``run.log``::

    with actcool.track(model, optimizer, scheduler=scheduler, name="my-net") as run:
        for inputs, targets in loader:
            ...; optimizer.step(); scheduler.step()
            run.step(loss=loss)              # once per training step, after the scheduler
            if run.stop_requested: break     # the dashboard's Stop button
        run.evaluate(val_error=3.2)          # any number of evaluations, any names

Each step records the rate it trained at (read when ``optimizer.step()`` runs; one rate per
param group as ``lr/<i>`` metrics where the groups differ), the loss and any other keyword
metric. Temperatures come from the ``ActCoolLR`` given as ``scheduler`` (its measurements,
scans with their fits and guard events), else from a
:class:`~actcool.TemperatureMonitor` of the run's own, so every schedule gets them.

The store is imported on first use, so ``import actcool`` stays free of DuckDB.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import traceback as tb
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .granularity import DEFAULT_GRANULARITY, Granularity
from .measurement import Measurement
from .monitor import TemperatureMonitor, unwrap_model
from .sites import NoSitesError

if TYPE_CHECKING:
    from storage import RunWriter, Store
    from storage.recorder import Recorder

__all__ = ["TrackedRun", "track"]

logger = logging.getLogger(__name__)

#: Evaluation names with a column of their own in the store (the Runs page charts them).
EVAL_COLUMNS = ("train_loss", "train_error", "val_loss", "val_error", "test_error")


def track(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    *,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    home: str | os.PathLike | None = None,
    measure_every: int = 10,
    scan_every: int | None = None,
    tags: tuple[str, ...] | list[str] = (),
    source: str | None = None,
) -> TrackedRun:
    """Start recording a training run; use the result as a context manager.

    The run is in the store (status ``running``) and on the dashboard when this returns; its
    id is :attr:`TrackedRun.id`. Leaving the ``with`` block ends it: ``finished``, or
    ``stopped`` after the dashboard's Stop, ``diverged`` if a loss was not finite, ``failed``
    (with the message) when an exception leaves the block (it propagates).

    Args:
        model: the network (or its ``DistributedDataParallel`` wrapper).
        optimizer: its optimizer; the rate each step trained at is read from it.
        scheduler: the learning-rate scheduler, if any. An ``ActCoolLR``'s measurements are
            recorded; under any other, temperatures are measured by a monitor of the run's
            own.
        name: the run's label (default: the script's file name and the model class).
        config: anything to keep with the run (JSON-serialisable); what ``track`` can infer
            (model, optimizer, scheduler, host, script, torch version) is stored beside it.
        home: the store folder (default ``$ACTCOOL_HOME`` or ``./actcool-data``).
        measure_every: steps between the own monitor's measurements (default 10).
        scan_every: steps between its LR range scans (default None: no scans).
        tags: labels for filtering runs.
        source: how the run was recorded (default: the script's path), as the dashboard says.

    Raises:
        OSError: the store folder cannot be written (PermissionError where access is
            denied), raised here, before any training.
        TypeError, ValueError: a bad argument, named in the message.

    Under ``torch.distributed`` every rank calls ``track`` (and ``step``) alike; rank 0
    records, the others get a run that records nothing but shares the id and Stop.
    """
    return TrackedRun(
        model,
        optimizer,
        scheduler,
        name=name,
        config=config,
        home=home,
        measure_every=measure_every,
        scan_every=scan_every,
        tags=tags,
        source=source,
    )


class TrackedRun:
    """One recorded run (see :func:`track`): :meth:`step` once per training step,
    :meth:`evaluate` after evaluations, :attr:`stop_requested` for the dashboard's Stop."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        home: str | os.PathLike | None = None,
        measure_every: int = 10,
        scan_every: int | None = None,
        tags: tuple[str, ...] | list[str] = (),
        source: str | None = None,
        measure: bool = True,
    ) -> None:
        from .scheduler import ActCoolLR

        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.actcool = scheduler if isinstance(scheduler, ActCoolLR) else None
        self.records = not dist.is_initialized() or dist.get_rank() == 0
        self.step_count = 0  # steps recorded so far; the next step's number
        self.last_measurement: Measurement | None = None  # the latest one recorded
        #: The epoch recorded with each step and evaluation (None: not said); a loop may set it.
        self.epoch: float | None = None
        self._measure_every, self._scan_every = measure_every, scan_every
        self.stop_acknowledged = False
        self._stop = False
        self._open = True
        self._diverged_message: str | None = None
        self._last_loss: float | None = None
        self._seen: Measurement | None = self.actcool.last_measurement if self.actcool else None
        self._trained_lrs: list[float] | None = None
        self._hook = optimizer.register_step_pre_hook(self._on_optimizer_step)
        # Our own monitor on every rank: its counts are summed over ranks, a collective.
        self.monitor: TemperatureMonitor | None = None
        if measure:
            self.measure_with(model)
        self.store: Store | None = None
        self.writer: RunWriter | None = None
        self.recorder: Recorder | None = None
        run_id: str | None = None
        try:
            if self.records:
                run_id = self._create(name, dict(config or {}), home, tags, source)
        except BaseException:
            self._release()
            raise
        #: The run's id (the same on every rank).
        self.id: str | None = _broadcast_id(run_id)

    def measure_with(self, module: nn.Module) -> None:
        """Measure temperatures with a monitor of the run's own on ``module`` (the module
        whose forward the training step calls), from the next step on; nothing when an
        ActCoolLR measures or a monitor already does. A module without activation sites is
        recorded without temperatures (a warning says so)."""
        if self.actcool is not None or self.monitor is not None:
            return
        try:
            self.monitor = TemperatureMonitor(
                module,
                measure_every=self._measure_every,
                scan_every=self._scan_every,
                optimizer=self.optimizer,
            )
        except NoSitesError as exc:
            logger.warning("actcool.track measures no temperature: %s", exc)

    # -- the run's start and end -----------------------------------------------------------
    def _create(
        self,
        name: str | None,
        config: dict[str, Any],
        home: str | os.PathLike | None,
        tags: Any,
        source: str | None,
    ) -> str:
        from storage import Store
        from storage.recorder import Recorder
        from storage.store import default_home

        folder = Path(default_home() if home is None else home)
        store = _writable_store(folder, Store)
        script = _script_path()
        inferred = self._inferred_config(script, source)
        full = {**inferred, **config}  # the user's keys win
        if name is None:
            name = f"{Path(script).stem if script else 'python'}: {inferred['model_class']}"
        run_id = store.create_run(full, name=name, tags=tags)
        known = {"total_steps": full["total_steps"]} if "total_steps" in full else {}
        store.update_run(run_id, device=_device_label(self.model), summary=known)
        self.store, self.writer = store, store.writer(run_id)
        self.recorder = Recorder(self.writer)
        print(f"actcool: recording run {run_id} ({name!r}) in {folder}", flush=True)
        return run_id

    def _inferred_config(self, script: str | None, source: str | None) -> dict[str, Any]:
        net = unwrap_model(self.model)
        group = {
            k: v for k, v in self.optimizer.param_groups[0].items() if k != "params" and _plain(v)
        }
        out: dict[str, Any] = {
            "source": source or (script or "python"),
            "tracked": True,
            "model_class": type(net).__name__,
            "parameters": sum(p.numel() for p in net.parameters()),
            "optimizer": type(self.optimizer).__name__,
            "optimizer_hparams": group,
            "param_groups": len(self.optimizer.param_groups),
            "scheduler": type(self.scheduler).__name__ if self.scheduler is not None else None,
            "schedule": _schedule_label(self.scheduler),
            "host": socket.gethostname(),
            "script": script,
            "torch": _torch_version(),
            "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        }
        measuring = self.actcool.monitor if self.actcool is not None else self.monitor
        if measuring is not None:
            out["granularity"] = str(measuring.granularity)
            out["measure_every"] = measuring.measure_every
            out["scan_every"] = measuring.scan_every
        else:  # a monitor to come (measure_with), with the defaults
            out["granularity"] = str(Granularity.parse(DEFAULT_GRANULARITY))
            out["measure_every"] = self._measure_every
            out["scan_every"] = self._scan_every
        if self.actcool is not None:
            a = self.actcool
            out["target"] = "default" if a.calibration is not None else a.target.to_dict()
            out["smoothing"] = a.controller.smoothing
            out.update(_actcool_summary(a))
        total = _total_steps(self.scheduler)
        if total is not None:
            out["total_steps"] = total
        return out

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, trace: Any) -> None:
        self.finish(exc)

    def finish(self, exc: BaseException | None = None) -> None:
        """End the run (leaving the ``with`` block does it): flush every row and set the final
        status from ``exc`` (the exception that ended the block, or None). Safe to call twice."""
        if not self._open:
            return
        self._open = False
        self._release()
        if self.writer is None or self.store is None or self.id is None:
            return
        try:
            self.writer.close()
        finally:
            self.store.update_run(self.id, **self._outcome(exc))

    def _outcome(self, exc: BaseException | None) -> dict[str, Any]:
        summary: dict[str, Any] = {"steps": self.step_count}
        if self.actcool is not None:
            summary.update(_actcool_summary(self.actcool))
        if self._last_loss is not None:
            summary["final_loss"] = self._last_loss
        if exc is None or (isinstance(exc, SystemExit) and not exc.code):
            if self._diverged_message is not None:
                return dict(status="diverged", error=self._diverged_message, summary=summary)
            return dict(status="stopped" if self._stop else "finished", summary=summary)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):  # Ctrl-C, SIGTERM
            why = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else "terminated"
            return dict(status="stopped", error=why, summary=summary)
        message = f"{type(exc).__name__}: {exc}"
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        return dict(status="failed", error=message, traceback=trace, summary=summary)

    def _release(self) -> None:
        self._hook.remove()
        if self.monitor is not None:
            self.monitor.close()

    # -- per step ----------------------------------------------------------------------------
    def _on_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._trained_lrs = _rates(optimizer)

    @property
    def stop_requested(self) -> bool:
        """Whether the dashboard asked this run to stop (seen at the last :meth:`step`; the
        same on every rank)."""
        return self._stop

    def step(self, loss: float | Tensor | None = None, **metrics: float | Tensor) -> None:
        """Record one training step: call it once per step, after ``optimizer.step()`` and
        ``scheduler.step()``.

        Args:
            loss: the step's loss (a number or a one-element tensor); a non-finite one is
                recorded as NaN and the run ends ``diverged``.
            metrics: any other numbers of the step, by name (a new name is a new series).

        Raises:
            TypeError: a value that is not a number (named by its key); nothing of the step
                is recorded.
            RuntimeError: the run has ended (the ``with`` block was left).
        """
        if not self._open:
            raise RuntimeError(
                f"run {self.id} has ended (its with block was left): call run.step() inside "
                "the `with actcool.track(...) as run:` block"
            )
        loss_value = _number("loss", loss) if loss is not None else None
        values = {key: _number(key, value) for key, value in metrics.items()}
        t = self.step_count
        m = self._measure()
        lrs = self._trained_lrs or _rates(self.optimizer)
        self._trained_lrs = None
        self.step_count = t + 1
        self._sync_stop()
        if self.recorder is None:
            return
        if loss_value is not None:
            self._last_loss = loss_value
            if not math.isfinite(loss_value) and self._diverged_message is None:
                self._diverged_message = f"loss became {loss_value} at step {t} (lr {lrs[0]:.4g})"
        if len(set(lrs)) > 1:
            values.update({f"lr/{i}": lr for i, lr in enumerate(lrs)})
        target = None
        if self.actcool is not None:
            self.recorder.guard_events(self.actcool.guard_events)
            target = self.actcool.target_at(t)
        self.recorder.step(t, self.epoch, lrs[0], _nan_if_infinite(loss_value), m, target)
        if values:
            self.writer.log_metrics(t, "train", _finite_or_nan(values))
        if self._stop and not self.stop_acknowledged:
            self.stop_acknowledged = True
            self.store.update_run(self.id, summary={"stop_acknowledged_step": t})

    def _measure(self) -> Measurement | None:
        """This step's measurement: the monitor's, or a new one of the ActCoolLR."""
        if self.monitor is not None:
            m = self.monitor.step()
        elif self.actcool is not None and self.actcool.last_measurement is not self._seen:
            m = self._seen = self.actcool.last_measurement
        else:
            m = None
        if m is not None:
            self.last_measurement = m
        return m

    def _sync_stop(self) -> None:
        flag = self.writer.stop_requested if self.writer is not None else False
        if dist.is_initialized() and dist.get_world_size() > 1:
            box = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
            dist.broadcast(box, src=0)
            flag = bool(box.item())
        self._stop = self._stop or flag

    def evaluate(self, step: int | None = None, **metrics: float | Tensor) -> None:
        """Record one evaluation after the latest step (or after ``step``): any metrics by
        name. ``train_loss``, ``train_error``, ``val_loss``, ``val_error`` and
        ``test_error`` (errors in %) are also charted by the dashboard's Runs page.

        Raises:
            TypeError: a value that is not a number (named by its key); nothing is recorded.
            RuntimeError: the run has ended.
        """
        if not self._open:
            raise RuntimeError(f"run {self.id} has ended: call run.evaluate() inside its block")
        values = _finite_or_nan({key: _number(key, value) for key, value in metrics.items()})
        if self.recorder is None:
            return
        at = max(self.step_count - 1, 0) if step is None else int(step)
        known = {k: v for k, v in values.items() if k in EVAL_COLUMNS}
        if known:
            self.recorder.evaluation(at, self.epoch, **known)
        others = {k: v for k, v in values.items() if k not in EVAL_COLUMNS}
        if others:
            self.writer.log_metrics(at, "eval", others)


# -- helpers ----------------------------------------------------------------------------------
def _number(key: str, value: Any) -> float:
    """``value`` as a float: a Python or NumPy number, or a one-element tensor."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"metric {key!r} must be a number or a one-element tensor, got a tensor of "
                f"shape {tuple(value.shape)}"
            )
        return float(value.detach().item())
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(f"metric {key!r} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metric {key!r} must be a number, got {value!r}") from None


def _nan_if_infinite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else math.nan


def _finite_or_nan(values: dict[str, float]) -> dict[str, float]:
    return {k: v if math.isfinite(v) else math.nan for k, v in values.items()}


def _rates(optimizer: torch.optim.Optimizer) -> list[float]:
    return [
        float(g["lr"].item() if isinstance(g["lr"], Tensor) else g["lr"])
        for g in optimizer.param_groups
    ]


def _plain(value: Any) -> bool:
    """Whether a hyperparameter is a plain JSON value (betas are a tuple of floats)."""
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _actcool_summary(s: Any) -> dict[str, Any]:
    """What an ActCoolLR steers by, under the keys the trainer's runs use (the dashboard's
    headline reads them): its law, calibration and start temperature, fitted shape, peak."""
    out: dict[str, Any] = {"response": s.controller.response}
    if s.calibration is not None:
        out["calibration"] = str(s.calibration)
        out["t_start"] = s.calibrated_start
    for key, value in (
        ("k", s.controller.k),
        ("sigma", s.controller.sigma),
        ("found_lr", s.found_lr),
        ("rate_scale", s.rate_scale),
    ):
        if value is not None:
            out[key] = value
    return out


def _total_steps(scheduler: Any) -> int | None:
    """The number of steps the scheduler spans, where it knows it."""
    controller = getattr(scheduler, "controller", None)
    for value in (
        getattr(controller, "total_steps", None),
        getattr(scheduler, "total_steps", None),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _schedule_label(scheduler: Any) -> str:
    if scheduler is None:
        return "constant"
    name = type(scheduler).__name__
    return "actcool" if name == "ActCoolLR" else name


def _script_path() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    return str(Path(path).resolve()) if path and path != "-c" else None


def _device_label(model: nn.Module) -> str:
    first = next(iter(model.parameters()), None)
    return str(first.device) if first is not None else "cpu"


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _broadcast_id(run_id: str | None) -> str | None:
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return run_id
    box = [run_id]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _writable_store(folder: Path, store_class: Any) -> Store:
    """The store at ``folder``, or PermissionError saying what to do when it cannot be written."""
    try:
        store = store_class(folder)
        probe = folder / f".actcool-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return store
    except OSError as exc:
        kind = PermissionError if isinstance(exc, PermissionError) else OSError
        raise kind(
            f"cannot record the run: the store folder {str(folder)!r} is not writable "
            f"({exc.strerror or exc}); pass home= a writable folder or set ACTCOOL_HOME"
        ) from exc


def _torch_version() -> str:
    """The installed torch's version, from its distribution's metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:  # a torch built from source and not installed
        return "unknown"
