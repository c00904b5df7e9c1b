"""The training loop: train a model under any schedule and record every measurement.

:func:`train_run` runs one run to its end (finished, stopped, diverged or failed) in this
process, on the CPU, one GPU, or as one rank under ``torchrun`` (rank 0 records). It owns the
run's lifecycle in the store: status, heartbeat (via the writer), checkpoints every epoch and at
stop, and resume from the last checkpoint with the identical learning-rate sequence.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from storage import Store
from storage.recorder import Recorder

from .build import build_run
from .checkpoint import load_checkpoint, rng_state, run_checkpoint, save_checkpoint, set_rng_state
from .compute import CompiledModel, run_precision
from .config import RunConfig
from .device import DistInfo, init_distributed, resolve_device
from .errors import ConfigError
from .evaluate import averaged_weights, evaluate
from .gpus import device_label
from .progress import Progress
from .schedules import parse_target
from .step_rows import PendingSteps, ReadStep, first_non_finite
from .steps import RunSteps

__all__ = ["RunResult", "prepare_config", "train_run"]

logger = logging.getLogger(__name__)


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


def train_run(
    config: RunConfig,
    store: Store,
    run_id: str | None = None,
    resume: bool = False,
    progress: bool = True,
    started: Callable[[str], None] | None = None,
    checkpoints: str | None = None,
    should_stop: Callable[[int], bool] | None = None,
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
        should_stop: called after every step with the number of steps trained so far; True
            stops the run as the dashboard's Stop button or SIGTERM does (checkpoint, status
            ``stopped``, resumable). Under ``torchrun`` any rank's True stops every rank.

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
    if config.nproc > 1 and info.world_size != config.nproc:
        raise ConfigError(
            f"nproc {config.nproc} trains in {config.nproc} processes, but this job has "
            f"{info.world_size}: queue the run (trainer.worker.submit) and a worker starts it "
            "through torchrun"
        )
    trainer = _Trainer(config, store, info, device, progress, checkpoints, should_stop)
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
        should_stop: Callable[[int], bool] | None = None,
    ) -> None:
        self.config, self.store, self.info, self.device = config, store, info, device
        self.should_stop = should_stop
        self.checkpoints = checkpoints  # the root for a new run's checkpoint (None: the home's)
        self.checkpoint_at: Any = None  # the run's checkpoint file or URI, known once it runs
        self.show_progress = progress and info.is_main
        if config.batch_size % info.world_size:
            raise ConfigError(
                f"batch_size {config.batch_size} must be divisible by the number of processes "
                f"({info.world_size})"
            )
        self.parts = parts = build_run(config, device)
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
        self.precision = run_precision(config, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.scaled)
        self.compiled = CompiledModel(self.ddp) if config.compile else None
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
        if state is not None and main:  # the restored calibration, not a fresh scheduler's
            store.update_run(run_id, summary=self._summary(**where))
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
                "scaler": self.scaler.state_dict() if self.precision.scaled else None,
                "rng": rng_state(),
                "epoch": epoch,
                "batch": batch,
                "step": step,
                **extra,
            },
        )

    # -- the loop --------------------------------------------------------------------------
    def _stop_now(self, steps: int, writer: Any, stop: _StopSignal, sync: bool) -> bool:
        """Whether the run stops after ``steps`` steps. Under ``torchrun`` the ranks agree at
        ``sync`` points only (a step that writes its rows): agreeing reads the device."""
        if self.info.active and not sync:
            return False
        flag = bool(
            stop.requested
            or (writer is not None and writer.stop_requested)
            or (self.should_stop is not None and self.should_stop(steps))
        )
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
        carried = state.get("epoch_stats", (0.0, 0, 0)) if state else (0.0, 0, 0)
        wall_before = state.get("wall_time", 0.0) if state else 0.0
        t_start = time.monotonic()
        steps = RunSteps(
            cfg,
            self.parts,
            model=self.ddp,
            scaler=self.scaler,
            precision=self.precision,
            compiled=self.compiled,
            rank=self.info.rank,
            world_size=self.info.world_size,
            step=state["step"] if state else 0,
        )
        progress = Progress(
            self.total_steps, cfg.epochs, start_step=steps.step, enabled=self.show_progress
        )
        recorder = Recorder(writer, self.guard_events_recorded) if writer is not None else None
        pending = PendingSteps()
        loss_value = float("nan")

        def wall() -> float:
            return wall_before + time.monotonic() - t_start

        def write_rows(epoch: int) -> ReadStep | None:
            """Read the held steps' losses, write their rows; the first non-finite one."""
            nonlocal loss_sum, loss_value
            read = pending.read()
            bad = first_non_finite(read)
            for r in read:
                if r is bad:
                    return bad
                loss_sum += r.loss * r.samples
                loss_value = r.loss
                if recorder is not None:
                    recorder.step(
                        r.step,
                        r.epoch,
                        r.lr,
                        r.loss,
                        r.measurement,
                        target_temperature=r.target_temperature,
                    )
            if read:
                progress.update(epoch, read[-1].step + 1, loss_value, read[-1].lr)
            return None

        for epoch in range(start_epoch, cfg.epochs):
            if steps.done:
                break
            loss_sum, correct, seen = carried if epoch == start_epoch else (0.0, 0, 0)
            for trained in steps.epoch(epoch, start_batch if epoch == start_epoch else 0):
                m, y = trained.measurement, trained.targets
                if recorder is not None:
                    recorder.guard_events(self.schedule.guard_events)
                pending.count_correct(trained.outputs, y)
                seen += y.numel()
                pending.add(
                    trained.step,
                    epoch + trained.batch / self.steps_per_epoch,
                    trained.lr,
                    trained.loss,
                    y.numel(),
                    m,
                    target_temperature=self.schedule.target_temperature(trained.step),
                )
                if m is not None:
                    progress.temperature = m.mean_temperature
                sync = m is not None or len(pending) >= cfg.log_every
                stopping = self._stop_now(steps.step, writer, stop, sync)
                if sync or stopping:
                    bad = write_rows(epoch)
                    if bad is not None:
                        return self._diverged(run_id, recorder, bad, epoch)
                if stopping:
                    if writer is not None:
                        writer.flush()  # rows before the checkpoint, as at an epoch's end
                    correct += pending.take_correct()
                    self._checkpoint(
                        run_id,
                        epoch,
                        steps.batch,
                        steps.step,
                        {"epoch_stats": (loss_sum, correct, seen), "wall_time": wall()},
                    )
                    return self._stopped(run_id, steps.step, wall(), progress)
            bad = write_rows(epoch)
            if bad is not None:
                return self._diverged(run_id, recorder, bad, epoch)
            correct += pending.take_correct()
            with averaged_weights(model, self.optimizer, bundle, cfg.batch_size):
                val_loss, val_error = evaluate(model, bundle, "val")
            if recorder is not None and seen:
                recorder.evaluation(
                    steps.step - 1,
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
                run_id,
                epoch + 1,
                0,
                steps.step,
                {"epoch_stats": (0.0, 0, 0), "wall_time": wall()},
            )
        return self._finished(run_id, writer, recorder, steps.step, wall, loss_value, progress)

    def _finished(
        self,
        run_id: str,
        writer: Any,
        recorder: Recorder | None,
        step: int,
        wall: Callable[[], float],
        final_loss: float,
        progress: Progress,
    ) -> RunResult:
        with averaged_weights(self.model, self.optimizer, self.bundle, self.config.batch_size):
            test_loss, test_error = evaluate(self.model, self.bundle, "test")
        if recorder is not None:
            recorder.evaluation(max(step - 1, 0), self.config.epochs, test_error=test_error)
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
                    final_loss=final_loss,
                ),
            )
        progress.message(
            f"finished {step} steps in {wall():.1f} s"
            + (f"; test error {test_error:.2f}%" if test_error is not None else "")
        )
        return RunResult(run_id, "finished", step, test_error)

    def _stopped(self, run_id: str, step: int, wall_time: float, progress: Progress) -> RunResult:
        progress.message(f"stopped at step {step}; resume with: python -m trainer resume {run_id}")
        if self.info.is_main:
            self.store.update_run(
                run_id,
                status="stopped",
                finished=True,
                summary=self._summary(steps=step, wall_time=wall_time),
            )
        return RunResult(run_id, "stopped", step)

    def _diverged(
        self, run_id: str, recorder: Recorder | None, bad: ReadStep, epoch: int
    ) -> RunResult:
        step, lr = bad.step, bad.lr
        message = (
            f"loss became {bad.loss} at step {step} (epoch {epoch + 1}) with learning rate {lr:.4g}"
        )
        if recorder is not None:
            recorder.step(step, bad.epoch, lr, None)
            recorder.writer.flush()
            self.store.update_run(
                run_id,
                status="diverged",
                error=message,
                finished=True,
                summary=self._summary(steps=step),
            )
        return RunResult(run_id, "diverged", step, message=message)
