"""The figures of the GPU check (``benchmarks/gpu_check.py``, which runs them and says what
each one is): their sizes on one GPU and in a dry run on the CPU, and the function that
measures each."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from .epoch_time import cifar10_or_synthetic, dataloader_batches, device_batches, time_epoch
from .gpu_report import pytest_counts
from .gpu_step import TrainingStep
from .precision_temperature import GOAL as PRECISION_GOAL
from .timing import alternate

ROOT = Path(__file__).resolve().parents[1]
STEP_RATIO_GOAL = 1.05  # ActCoolLR's step / a constant rate's, at most
MEASUREMENT_GOAL = 1.2  # one measurement, in train-mode forwards (issue 23, item 4)
EPOCH_GOAL_S = 3.0  # seconds per ResNet-20 / CIFAR-10 epoch with the data on the device
TEST_TIMEOUT_S = 150.0  # one gpu test at most (pytest-timeout)
ONECYCLE_PEAK = 0.4  # ResNet-20's usual 1-cycle peak at batch 128
ACTCOOL_RATE = 0.05  # the optimizer's rate ActCoolLR is given (the trainer's default)


@dataclass(frozen=True)
class Sizes:
    """How big each figure is: the real run's (one GPU) or the dry run's (the CPU)."""

    device: str
    budget_s: float  # from the start to the end of the 30-epoch pair (its wall-clock guard)
    tests_timeout_s: float
    measure_every: int  # ActCoolLR's K, and the steps in each timed block
    fixed_k: float | None  # ActCoolLR without LR range scans (gpu_step.TrainingStep)
    small_batch: int  # ResNet-20 on 32 px
    small_blocks: int
    large_batch: int  # ResNet-50
    large_size: int
    large_blocks: int
    epoch_batch: int
    synthetic_images: int  # the stand-in's size where CIFAR-10 is absent
    loader_workers: int
    pair_epochs: int
    pair_batch: int
    pair_max_steps: int | None
    precision_steps: int = 200  # the bf16 / float32 temperature comparison
    precision_every: int = 50


REAL = Sizes(
    device="cuda",
    budget_s=450.0,  # 7.5 minutes, leaving 30 s of the 8 for start-up and the report
    tests_timeout_s=240.0,  # about 90 s expected, most of it compiling
    measure_every=10,
    fixed_k=None,
    small_batch=128,
    small_blocks=16,
    large_batch=256,
    large_size=224,
    large_blocks=8,
    epoch_batch=128,
    synthetic_images=50_000,
    loader_workers=min(8, os.cpu_count() or 1),
    pair_epochs=30,
    pair_batch=128,
    pair_max_steps=None,
)
DRY = Sizes(
    device="cpu",
    budget_s=150.0,
    tests_timeout_s=120.0,
    measure_every=2,
    fixed_k=1.0,
    small_batch=8,
    small_blocks=2,
    large_batch=2,
    large_size=72,  # above 64 px: ResNet-50's ImageNet stem, as at 224
    large_blocks=2,
    epoch_batch=32,
    synthetic_images=256,
    loader_workers=0,
    pair_epochs=1,
    pair_batch=32,
    pair_max_steps=3,
    precision_steps=3,
    precision_every=2,
)


@dataclass
class Check:
    """One run of the check: its sizes, data, deadline, the figures asked for and those done."""

    sizes: Sizes
    dry: bool
    data_dir: Path | None  # where CIFAR-10 is; None: synthetic stand-ins
    deadline: float  # time.monotonic() at which the 30-epoch pair must have stopped
    selected: tuple[str, ...]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return torch.device(self.sizes.device)

    @property
    def warmup_steps(self) -> int:
        """Untimed steps before timing: kernels, the allocator, and ActCoolLR's step-0 LR
        range scan with the two retries it makes at the next measurements when it cannot fit
        the law's exponent from it."""
        return 3 * self.sizes.measure_every + 1

    def judge(self, met: bool) -> bool | None:
        """A goal's verdict: ``met``, except in a dry run, which judges nothing (None)."""
        return None if self.dry else bool(met)


@dataclass(frozen=True)
class Figure:
    """A figure: its name, unit and goal, and the function that measures it (returns the
    row's ``value``, ``ok`` and any details)."""

    name: str
    unit: str
    goal: str
    measure: Callable[[Check], dict[str, Any]]


# -- the figures ---------------------------------------------------------------------------------
def gpu_tests(check: Check) -> dict[str, Any]:
    """The ``gpu``-marked tests, run by pytest in a subprocess; the value is how many passed.
    Each test has a time limit where pytest-timeout is installed, so that one hung test (an
    NCCL rendezvous, say) fails alone instead of taking the others' results with it."""
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/gpu", "-q"]
    command += ["-p", "no:cacheprovider"]
    if importlib.util.find_spec("pytest_timeout") is not None:
        command += [f"--timeout={TEST_TIMEOUT_S:g}"]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=check.sizes.tests_timeout_s,
    )
    counts = pytest_counts(done.stdout)
    ran = done.returncode == 0 or (done.returncode == 1 and not check.dry)  # 1: tests failed
    if not ran or not counts:
        raise RuntimeError(
            f"pytest exited with status {done.returncode}: "
            + " ".join((done.stdout + done.stderr)[-1500:].split())
        )
    clean = not any(counts.get(k) for k in ("failed", "errors", "skipped"))
    row: dict[str, Any] = {
        "value": counts.get("passed", 0),
        "ok": check.judge(done.returncode == 0 and counts.get("passed", 0) > 0 and clean),
        "counts": counts,
    }
    problems = [
        line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR", "SKIP"))
    ]
    if problems and not check.dry:
        row["problems"] = problems
    return row


def _step_ratio(check: Check, model: str, batch: int, size: int, blocks: int) -> dict[str, Any]:
    """Step time under ActCoolLR / at a constant rate, bf16 and channels-last, on one fixed
    synthetic batch: blocks of K steps (one measurement each), alternated."""
    k = check.sizes.measure_every
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(check.device)
    y = torch.randint(0, 10, (batch,), generator=g).to(check.device)
    actcool = TrainingStep(
        model, size, check.device, actcool=True, measure_every=k, fixed_k=check.sizes.fixed_k
    )
    constant = TrainingStep(model, size, check.device, actcool=False)
    try:
        for _ in range(check.warmup_steps):
            actcool(x, y)
            constant(x, y)
        r = alternate(partial(actcool, x, y), partial(constant, x, y), blocks=blocks, calls=k)
    finally:
        actcool.close()
        constant.close()
    return {
        "value": round(r.median, 4),
        "ok": check.judge(r.median <= STEP_RATIO_GOAL),
        "spread": [round(r.low, 4), round(r.high, 4)],
        "actcool_step_ms": round(1e3 * r.a_seconds, 3),
        "constant_step_ms": round(1e3 * r.b_seconds, 3),
        "blocks": blocks,
        "batch": batch,
        "image_size": size,
        "measure_every": k,
        "precision": "bf16",
        "channels_last": True,
    }


def step_ratio_resnet20(check: Check) -> dict[str, Any]:
    s = check.sizes
    return _step_ratio(check, "resnet20", s.small_batch, 32, s.small_blocks)


def step_ratio_resnet50(check: Check) -> dict[str, Any]:
    s = check.sizes
    return _step_ratio(check, "resnet50", s.large_batch, s.large_size, s.large_blocks)


def epoch_seconds_resnet20(check: Check) -> dict[str, Any]:
    """One epoch with the data on the device, then the same through a DataLoader; both after
    the same warm-up, on the same model, optimizer and ActCoolLR."""
    s, device = check.sizes, check.device
    bundle = cifar10_or_synthetic(None if check.dry else check.data_dir, s.synthetic_images)
    on_device = bundle.to(device)
    per_epoch = bundle.num_batches("train", s.epoch_batch, drop_last=True)
    step = TrainingStep(
        "resnet20",
        bundle.image_size,
        device,
        actcool=True,
        total_steps=check.warmup_steps + 2 * per_epoch,
        measure_every=s.measure_every,
        fixed_k=s.fixed_k,
        sync=False,
    )
    try:
        warmup = islice(device_batches(on_device, s.epoch_batch), check.warmup_steps)
        time_epoch(step, warmup, device)
        seconds, steps = time_epoch(step, device_batches(on_device, s.epoch_batch, 1), device)
        batches = dataloader_batches(bundle, s.epoch_batch, s.loader_workers, device)
        loader_seconds, _ = time_epoch(step, batches, device)
    finally:
        step.close()
    return {
        "value": round(seconds, 3),
        "ok": check.judge(seconds <= EPOCH_GOAL_S),
        "dataloader_s": round(loader_seconds, 3),
        "dataloader_ratio": round(loader_seconds / seconds, 3),
        "steps": steps,
        "batch": s.epoch_batch,
        "loader_workers": s.loader_workers,
        "data": bundle.source,
    }


def measurement_vs_forward(check: Check) -> dict[str, Any]:
    """One measurement (its extra forward, the packed-pattern XOR and counts on the device)
    over one train-mode forward of ResNet-20 at batch 128, and one LR range scan over its 25
    forwards (``benchmarks/overhead.py``; on the CPU in a dry run, at batch 32)."""
    from . import overhead

    with contextlib.redirect_stdout(io.StringIO()):  # its own lines are not this script's
        rows = {r["figure"]: r for r in overhead.main(quick=not check.dry, smoke=check.dry)}
    m, scan = rows["measurement_vs_forward"], rows["scan_vs_forwards"]
    return {
        "value": m["value"],
        "ok": check.judge(m["value"] <= MEASUREMENT_GOAL),
        "scan_vs_forwards": scan["value"],
        "forward_s": m.get("forward_s"),
    }


def temperature_bf16(check: Check) -> dict[str, Any]:
    """The temperature and the Weibull λ0 that ResNet-20's LR range scans read under bf16
    autocast against float32, on the same steps (``benchmarks/precision_temperature.py``)."""
    from .precision_temperature import compare, setup, summarise

    s = check.sizes
    data_dir = None if check.dry else check.data_dir
    batch = s.small_batch
    net, opt, batches, source = setup("resnet20", data_dir, batch, ACTCOOL_RATE, check.device)
    rows = compare(net, opt, batches, s.precision_steps, s.precision_every, check.device.type)
    figure = summarise(rows)
    worst = [v for v in (figure["temperature_deviation"], figure["lambda0_deviation"]) if v]
    return {
        "value": max(worst, default=None),
        "ok": check.judge(figure["met"]),
        **figure,
        "steps": [r["step"] for r in rows],
        "ratios": [None if not r["t_fp32"] else round(r["t_bf16"] / r["t_fp32"], 3) for r in rows],
        "data": source,
    }


def _cifar_run(check: Check, schedule: str, lr: float, share: float) -> dict[str, Any]:
    """Train ResNet-20 on CIFAR-10 through the trainer into a throw-away store, stopped when
    ``share`` of the time left to the deadline is spent; the figure of its test error."""
    from storage import Store
    from trainer.config import RunConfig
    from trainer.run import train_run

    s = check.sizes
    data_dir = None if check.dry else check.data_dir
    where = {"dataset": "cifar10", "data_dir": str(data_dir)} if data_dir else {}
    config = RunConfig(
        model="resnet20",
        **{"dataset": "synthetic", **where},
        download=False,
        epochs=s.pair_epochs,
        max_steps=s.pair_max_steps,
        batch_size=s.pair_batch,
        schedule=schedule,
        lr=lr,
        seed=0,
        device=s.device,
        precision="bf16",
        channels_last=True,
        name=f"gpu-check-{schedule}",
    )
    start = time.monotonic()
    until = start + max(0.0, check.deadline - start) * share
    with tempfile.TemporaryDirectory(prefix="actcool-gpu-check-") as home:
        store = Store(home)
        result = train_run(
            config, store, progress=False, should_stop=lambda _: time.monotonic() >= until
        )
        if result.status == "failed":
            raise RuntimeError(f"the {schedule} run failed: {result.message}")
        summary = store.get_run(result.run_id)["summary"]
        val_errors = store.evaluations(result.run_id)["val_error"].dropna()
    epochs = result.steps / summary["steps_per_epoch"]
    test_error = summary.get("test_error")
    row: dict[str, Any] = {
        "value": None if test_error is None else round(float(test_error), 2),
        "ok": check.judge(result.status == "finished"),
        "status": result.status,
        "epochs": round(epochs, 2),
        "steps": result.steps,
        "seconds_per_epoch": round((time.monotonic() - start) / max(epochs, 1e-9), 2),
        "last_val_error": None if val_errors.empty else round(float(val_errors.iloc[-1]), 2),
        "schedule": schedule,
        "lr": lr,
        "data": data_label(check),
    }
    if "found_lr" in summary:
        row["found_lr"] = round(float(summary["found_lr"]), 4)
    if result.message:
        row["message"] = result.message
    return row


def data_label(check: Check) -> str:
    """What the 30-epoch pair trained on, and whether its errors are evidence."""
    if check.dry:
        return "synthetic (dry run)"
    return "CIFAR-10" if check.data_dir else "synthetic (CIFAR-10 absent: no evidence)"


def onecycle_error(check: Check) -> dict[str, Any]:
    share = 0.5 if "test_error_actcool" in check.selected else 1.0  # half, if a run follows
    return _cifar_run(check, "onecycle", ONECYCLE_PEAK, share)


def actcool_error(check: Check) -> dict[str, Any]:
    row = _cifar_run(check, "actcool", ACTCOOL_RATE, 1.0)
    onecycle = check.results.get("test_error_onecycle", {}).get("value")
    if row["value"] is not None and onecycle is not None:
        row["vs_onecycle"] = round(row["value"] - onecycle, 2)  # points; negative: lower error
    return row


_FINISHES = "the run finishes (no goal on the error)"
FIGURES: tuple[Figure, ...] = (
    Figure("gpu_tests", "passed", "all pass", gpu_tests),
    Figure("step_ratio_resnet20", "ratio", f"<= {STEP_RATIO_GOAL}", step_ratio_resnet20),
    Figure("step_ratio_resnet50", "ratio", f"<= {STEP_RATIO_GOAL}", step_ratio_resnet50),
    Figure("epoch_seconds_resnet20", "s", f"<= {EPOCH_GOAL_S:g} s", epoch_seconds_resnet20),
    Figure(
        "measurement_vs_forward", "forwards", f"<= {MEASUREMENT_GOAL:g}", measurement_vs_forward
    ),
    Figure("temperature_bf16", "relative", f"<= {PRECISION_GOAL:g}", temperature_bf16),
    Figure("test_error_onecycle", "%", _FINISHES, onecycle_error),
    Figure("test_error_actcool", "%", _FINISHES, actcool_error),
)
FIGURE_NAMES = tuple(f.name for f in FIGURES)
