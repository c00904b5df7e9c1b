"""The training loop: train a model under any schedule and record every measurement.

:func:`train_run` runs one run to its end (finished, stopped, diverged or failed) in this
process, on the CPU, one GPU, or as one rank under ``torchrun`` (rank 0 records). It owns the
run's lifecycle in the store: status, heartbeat (via the writer), checkpoints every epoch and at
stop, and resume from the last checkpoint with the identical learning-rate sequence.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from actcool import Measurement
from storage import Store

from .build import build_run, epoch_batches, scans_at_epoch
from .checkpoint import load_checkpoint, rng_state, run_checkpoint, save_checkpoint, set_rng_state
from .config import RunConfig
from .data import DatasetBundle
from .device import DistInfo, init_distributed, resolve_device
from .errors import ConfigError
from .gpus import device_label
from .prefetch import prefetch
from .progress import Progress
from .schedules import parse_target
from .steps import train_step

__all__ = ["RunResult", "prepare_config", "train_run"]

logger = logging.getLogger(__name__)

EVAL_BATCH = 1024
# Batches over which a schedule-free run's BatchNorm statistics are recomputed for evaluation.
_BN_BATCHES = 50


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # finished | stopped | diverged | failed
    steps: int
    test_error: float | None = None
    message: str = ""


def prepare_config(config: RunConfig, store: Store | None) -> RunConfig:
    """Resolve what depends on the outside world before a run is stored: the target curve.

    A saved curve's name or a ``power:`` shorthand becomes its full JSON definition, so the
    run can be resumed even if the saved curve is later changed or deleted.
    """
    if config.schedule != "actcool" or config.target == "default":
        return config  # the default target is calibrated during the run (RunConfig.calibration)
    curve = parse_target(config.target, store.load_curve if store is not None else None)
    return config.replace(target=json.dumps(curve, sort_keys=True))


def _evaluate(
    model: nn.Module, bundle: DatasetBundle, split: str
) -> tuple[float | None, float | None]:
    """Mean cross-entropy and error (%) over a split, in eval mode; (None, None) if empty."""
    if len(bundle.split(split)) == 0:
        return None, None
    was_training = model.training
    model.eval()
    loss_sum, wrong, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in bundle.batches(split, EVAL_BATCH, augment=False):
            out = model(x)
            loss_sum += nn.functional.cross_entropy(out, y, reduction="sum").item()
            wrong += (out.argmax(1) != y).sum().item()
            n += y.numel()
    model.train(was_training)
    return loss_sum / n, 100.0 * wrong / n


class _StopSignal:
    """SIGTERM/SIGINT ask for a graceful stop (finish the step, checkpoint, flush)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        if _in_main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _measurement_rows(m: Measurement) -> list[dict[str, Any]]:
    """The ``fits`` rows of a scan step: per site and for the mean, one Gaussian and one
    Weibull row (``RunWriter.log_fits``), with the reason where a model has no fit."""
    fits = m.fits
    assert fits is not None
    names = [*fits.sites, "mean"]
    gaussian = [*fits.per_site, fits.mean]
    weibull = [*fits.weibull_per_site, fits.weibull_mean] if fits.weibull_per_site else []
    rows: list[dict[str, Any]] = []
    for model, found in (("gaussian", gaussian), ("weibull", weibull)):
        for name, fit in zip(names, found, strict=True):
            row: dict[str, Any] = {"site": name, "model": model}
            if fit is None:
                row["reason"] = fits.reasons.get(f"{model}:{name}", "no fit")
            elif model == "gaussian":
                row.update(
                    mu=fit.mu, sigma=fit.sigma, rmse=fit.rmse, n_informative=fit.n_informative
                )
            else:
                row.update(
                    lambda0=fit.lambda0, k=fit.k, rmse=fit.rmse, n_informative=fit.n_informative
                )
            rows.append(row)
    return rows


def _site_counts(m: Measurement) -> dict[str, Any]:
    """The keyword counts of ``RunWriter.log_sites`` for one measurement; a counter that was
    not counted (samples, positions: see ``compare_granularities``) stays out (NULL)."""
    counts: dict[str, Any] = {
        "total": list(m.total),
        "flipped_bits": list(m.counts["bits"]),
        "total_bits": list(m.totals["bits"]),
    }
    if "samples" in m.counts:
        counts["changed_samples"] = list(m.counts["samples"])
    if "positions" in m.counts:
        counts["changed_positions"] = list(m.counts["positions"])
        counts["total_positions"] = list(m.totals["positions"])
    return counts


def train_run(
    config: RunConfig,
    store: Store,
    run_id: str | None = None,
    resume: bool = False,
    progress: bool = True,
    started: Callable[[str], None] | None = None,
    checkpoints: str | None = None,
) -> RunResult:
    """Train one run to its end; record into ``store``.

    Args:
        config: the run (for a resumed run, the config from its checkpoint wins).
        store: where metrics, status and checkpoints go.
        run_id: an existing run (claimed from the queue, or to resume); ``None`` creates one.
        resume: continue ``run_id`` from its last checkpoint.
        progress: print a progress line (rank 0).
        started: called with the run id once the run is recorded as running (rank 0), before
            the first step; the CLI prints the id there.
        checkpoints: where a new run's checkpoints go: a folder or a URI that
            ``pyarrow.fs`` opens (see :mod:`trainer.checkpoint`); None:
            ``<home>/checkpoints``. A run keeps the place it first recorded.

    Returns:
        The :class:`RunResult`. Errors inside training are recorded as status ``failed`` (with
        the traceback) and returned, not raised; bad configuration raises before the run starts.
    """
    info = init_distributed(config.device)
    ckpt = None
    if resume:
        if run_id is None:
            raise ValueError("resume needs a run id")
        ckpt = load_checkpoint(run_checkpoint(store, run_id, checkpoints))
        config = RunConfig.from_dict(ckpt["config"])
    config = prepare_config(config, store if info.is_main else None)
    device = resolve_device(config.device, info.local_rank)
    if config.amp and device.type != "cuda":
        logger.info("amp is only used on CUDA; training in float32 on %s", device)
    if config.nproc > 1 and info.world_size != config.nproc:
        raise ConfigError(
            f"nproc {config.nproc} trains in {config.nproc} processes, but this job has "
            f"{info.world_size}: queue the run (trainer.worker.submit) and a worker starts it "
            "through torchrun"
        )
    trainer = _Trainer(config, store, info, device, progress, checkpoints)
    return trainer.run(run_id, ckpt, started)


class _Trainer:
    def __init__(
        self,
        config: RunConfig,
        store: Store,
        info: DistInfo,
        device: torch.device,
        progress: bool,
        checkpoints: str | None = None,
    ) -> None:
        self.config, self.store, self.info, self.device = config, store, info, device
        self.checkpoints = checkpoints  # the root for a new run's checkpoint (None: the home's)
        self.checkpoint_at: Any = None  # the run's checkpoint file or URI, known once it runs
        self.show_progress = progress and info.is_main
        if config.batch_size % info.world_size:
            raise ConfigError(
                f"batch_size {config.batch_size} must be divisible by the number of processes "
                f"({info.world_size})"
            )
        parts = build_run(config, device)
        self.bundle, self.model = parts.bundle, parts.model
        self.steps_per_epoch, self.total_steps = parts.steps_per_epoch, parts.total_steps
        self.optimizer, self.schedule = parts.optimizer, parts.schedule
        self.ddp = (
            nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
            if info.active
            else self.model
        )
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        # How many of the schedule's guard events are recorded (or, after a resume, were
        # recorded before the checkpoint): only later ones are written.
        self.guard_events_recorded = 0

    # -- lifecycle -------------------------------------------------------------------------
    def _summary(self, **extra: Any) -> dict[str, Any]:
        return {
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.config.epochs,
            "schedule": self.config.schedule,
            "model": self.config.model,
            "dataset": self.config.dataset,
            "world_size": self.info.world_size,
            "granularity": str(self.schedule.monitor.granularity),
            **self.schedule.calibration_summary(),
            **extra,
        }

    def run(
        self,
        run_id: str | None,
        ckpt: dict[str, Any] | None,
        started: Callable[[str], None] | None = None,
    ) -> RunResult:
        cfg, store, main = self.config, self.store, self.info.is_main
        if main:
            if run_id is None:
                run_id = store.create_run(cfg.to_dict(), name=cfg.display_name, tags=cfg.tags)
            self.checkpoint_at = run_checkpoint(store, run_id, self.checkpoints)
            where = (
                {"checkpoint": self.checkpoint_at} if isinstance(self.checkpoint_at, str) else {}
            )
            store.update_run(
                run_id,
                status="running",
                pid=os.getpid(),
                host=socket.gethostname(),
                device=device_label(str(self.device), self.info.world_size),
                summary=self._summary(**where),
                error="",
                traceback="",
            )
            if started is not None:
                started(run_id)
        run_id = self._broadcast_run_id(run_id)
        state = self._restore(ckpt, run_id) if ckpt is not None else None
        writer = store.writer(run_id) if main else None
        with _StopSignal() as stop, writer or nullcontext():
            try:
                result = self._loop(run_id, writer, stop, state)
            except Exception as exc:  # recorded, then returned: a failed run is an outcome
                if main:
                    if writer is not None:
                        writer.flush()
                    store.update_run(
                        run_id,
                        status="failed",
                        error=f"{type(exc).__name__}: {exc}",
                        traceback=traceback.format_exc(),
                        finished=True,
                    )
                result = RunResult(run_id, "failed", -1, message=f"{type(exc).__name__}: {exc}")
            finally:
                self.schedule.close()
        return result

    def _broadcast_run_id(self, run_id: str | None) -> str:
        if not self.info.active:
            assert run_id is not None
            return run_id
        box = [run_id]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])

    def _restore(self, ckpt: dict[str, Any], run_id: str) -> dict[str, Any]:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        # every row up to the checkpoint was flushed before it was saved, these events too
        self.guard_events_recorded = len(self.schedule.guard_events)
        if self.info.is_main:
            # rows written after the checkpoint (up to the kill) would be written again
            self.store.truncate_run(run_id, after_step=ckpt["step"] - 1)
        return ckpt

    def _checkpoint(
        self, run_id: str, epoch: int, batch: int, step: int, extra: dict[str, Any]
    ) -> None:
        if not self.info.is_main:
            return
        save_checkpoint(
            self.checkpoint_at,
            {
                "config": self.config.to_dict(),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict() if self.use_amp else None,
                "rng": rng_state(),
                "epoch": epoch,
                "batch": batch,
                "step": step,
                **extra,
            },
        )

    @contextmanager
    def _eval_weights(self) -> Iterator[None]:
        """Evaluate a schedule-free run at its averaged weights (``optimizer.eval()``), with
        BatchNorm statistics recomputed at those weights; everything is put back after, so
        training (and a checkpoint, saved in train mode) continues exactly."""
        opt = self.optimizer
        if not hasattr(opt, "eval") or not hasattr(opt, "train"):
            yield
            return
        bn = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bn]
        momenta = [m.momentum for m in bn]
        rng = torch.get_rng_state()
        opt.eval()
        try:
            if bn:
                for m in bn:
                    m.reset_running_stats()
                    m.momentum = None  # a cumulative average over the batches below
                was_training = self.model.training
                self.model.train()
                with torch.no_grad():
                    batches = self.bundle.batches(
                        "train",
                        self.config.batch_size,
                        shuffle=True,
                        generator=torch.Generator().manual_seed(0),
                        drop_last=True,
                    )
                    for i, (x, _) in enumerate(batches):
                        if i == _BN_BATCHES:
                            break
                        self.model(x)
                self.model.train(was_training)
            yield
        finally:
            opt.train()
            for m, state, momentum in zip(bn, saved, momenta, strict=True):
                m.load_state_dict(state)
                m.momentum = momentum
            torch.set_rng_state(rng)

    # -- the loop --------------------------------------------------------------------------
    def _stop_now(self, writer: Any, stop: _StopSignal) -> bool:
        flag = bool(stop.requested or (writer is not None and writer.stop_requested))
        if self.info.active:  # every rank stops at the same step
            t = torch.tensor([int(flag)], device=self.device)
            dist.all_reduce(t)
            flag = bool(t.item())
        return flag

    def _loop(
        self, run_id: str, writer: Any, stop: _StopSignal, state: dict[str, Any] | None
    ) -> RunResult:
        cfg, bundle, model = self.config, self.bundle, self.model
        start_epoch = state["epoch"] if state else 0
        start_batch = state["batch"] if state else 0
        step = state["step"] if state else 0
        carried = state.get("epoch_stats", (0.0, 0, 0)) if state else (0.0, 0, 0)
        wall_before = state.get("wall_time", 0.0) if state else 0.0
        t_start = time.monotonic()
        progress = Progress(
            self.total_steps, cfg.epochs, start_step=step, enabled=self.show_progress
        )
        world, rank = self.info.world_size, self.info.rank
        shard = cfg.batch_size // world
        loss_value = float("nan")

        def wall() -> float:
            return wall_before + time.monotonic() - t_start

        for epoch in range(start_epoch, cfg.epochs):
            if step >= self.total_steps:
                break
            loss_sum, correct, seen = carried if epoch == start_epoch else (0.0, 0, 0)
            if scans_at_epoch(cfg, epoch) and start_batch == 0:
                self.schedule.monitor.request_scan(step)
            batches = epoch_batches(cfg, bundle, epoch, start_batch)
            model.train()
            for batch_index, (x, y) in enumerate(
                prefetch(batches, cfg.num_workers), start=start_batch
            ):
                if step >= self.total_steps:
                    break
                if world > 1:
                    x, y = (
                        x[rank * shard : (rank + 1) * shard],
                        y[rank * shard : (rank + 1) * shard],
                    )
                lr = self.schedule.effective_lr(self.optimizer)
                out, loss = train_step(self.ddp, self.optimizer, self.scaler, x, y, self.use_amp)
                loss_value = float(loss.detach())
                m = self.schedule.step(x, loss_value)
                if writer is not None:
                    self._record_guard_events(writer)
                if not math.isfinite(loss_value):
                    return self._diverged(run_id, writer, step, epoch, lr, loss_value)
                loss_sum += loss_value * y.numel()
                correct += int((out.detach().argmax(1) == y).sum())
                seen += y.numel()
                if writer is not None:
                    self._record(
                        writer, step, epoch + batch_index / self.steps_per_epoch, lr, loss_value, m
                    )
                if m is not None:
                    progress.temperature = m.mean_temperature
                step += 1
                progress.update(epoch, step, loss_value, lr)
                if self._stop_now(writer, stop):
                    if writer is not None:
                        writer.flush()  # rows before the checkpoint, as at an epoch's end
                    self._checkpoint(
                        run_id,
                        epoch,
                        batch_index + 1,
                        step,
                        {"epoch_stats": (loss_sum, correct, seen), "wall_time": wall()},
                    )
                    progress.message(
                        f"stopped at step {step}; resume with: python -m trainer resume {run_id}"
                    )
                    if self.info.is_main:
                        self.store.update_run(
                            run_id,
                            status="stopped",
                            finished=True,
                            summary=self._summary(steps=step, wall_time=wall()),
                        )
                    return RunResult(run_id, "stopped", step)
            start_batch = 0
            with self._eval_weights():
                val_loss, val_error = _evaluate(model, bundle, "val")
            if writer is not None and seen:
                writer.log_eval(
                    step - 1,
                    epoch + 1,
                    train_loss=loss_sum / seen,
                    train_error=100.0 * (1 - correct / seen),
                    val_loss=val_loss,
                    val_error=val_error,
                )
            progress.message(
                f"epoch {epoch + 1}/{cfg.epochs}: train loss {loss_sum / max(seen, 1):.4f}"
                + (f", val error {val_error:.2f}%" if val_error is not None else "")
            )
            if writer is not None:
                # rows up to the checkpoint must be on disk before it: a resume after a kill
                # continues from the checkpoint and must find no gap before it
                writer.flush()
            self._checkpoint(
                run_id, epoch + 1, 0, step, {"epoch_stats": (0.0, 0, 0), "wall_time": wall()}
            )
        with self._eval_weights():
            test_loss, test_error = _evaluate(model, bundle, "test")
        if writer is not None:
            writer.log_eval(max(step - 1, 0), cfg.epochs, test_error=test_error)
            writer.flush()
            self.store.update_run(
                run_id,
                status="finished",
                finished=True,
                summary=self._summary(
                    steps=step,
                    wall_time=wall(),
                    test_error=test_error,
                    test_loss=test_loss,
                    final_loss=loss_value,
                ),
            )
        progress.message(
            f"finished {step} steps in {wall():.1f} s"
            + (f"; test error {test_error:.2f}%" if test_error is not None else "")
        )
        return RunResult(run_id, "finished", step, test_error)

    def _record_guard_events(self, writer: Any) -> None:
        """Write the divergence guard's cuts of the rate that are new since the last call
        (one ``guard_events`` row each); those restored from the checkpoint are on disk."""
        events = self.schedule.guard_events
        for event in events[self.guard_events_recorded :]:
            writer.log_guard_event(**event.to_dict())
        self.guard_events_recorded = len(events)

    def _record(
        self, writer: Any, step: int, epoch: float, lr: float, loss: float, m: Measurement | None
    ) -> None:
        writer.log_step(
            step,
            epoch,
            lr,
            loss,
            mean_temperature=m.mean_temperature if m is not None else None,
            target_temperature=self.schedule.target_temperature(step),
        )
        if m is None:
            return
        writer.log_sites(
            step,
            list(m.sites),
            list(m.changed),
            m.batch_size,
            list(m.temperatures),
            **_site_counts(m),
        )
        if m.scan is not None:
            s = m.scan
            writer.log_scan(
                step,
                epoch,
                s.lrs,
                list(s.sites),
                s.probabilities,
                s.temperatures,
                s.mean_probabilities,
                s.mean_temperatures,
                changed=s.changed,
                total=s.total,
                flipped_bits=s.counts["bits"],
                total_bits=s.totals["bits"],
                changed_samples=s.counts.get("samples"),
                batch_size=s.totals.get("samples"),
                changed_positions=s.counts.get("positions"),
                total_positions=s.totals.get("positions"),
            )
            writer.log_fits(step, _measurement_rows(m))

    def _diverged(
        self, run_id: str, writer: Any, step: int, epoch: int, lr: float, loss: float
    ) -> RunResult:
        message = (
            f"loss became {loss} at step {step} (epoch {epoch + 1}) with learning rate {lr:.4g}"
        )
        if self.info.is_main:
            writer.log_step(step, epoch, lr, None)
            writer.flush()
            self.store.update_run(
                run_id,
                status="diverged",
                error=message,
                finished=True,
                summary=self._summary(steps=step),
            )
        return RunResult(run_id, "diverged", step, message=message)
