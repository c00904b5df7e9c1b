"""The GPU check (issue 23, item 5): one script, at most 8 minutes on one H200, one JSON line
per figure, then a verdict line; the report goes to ``benchmarks/results/GPU.md``.

Figures, in the order they run (each prints ``{"figure", "value", "unit", "goal", "ok", ...}``):

1. ``gpu_tests``: the suite's ``gpu``-marked tests, ``pytest -m gpu tests/gpu`` in a
   subprocess: a trainer run placed on CUDA, DDP over NCCL in one process, bf16, compile,
   resume exactness on the GPU, and docs/algorithm.md §1 on CUDA (a step at learning rate 0
   measures exactly 0 bits, in float32 and under bf16 autocast; a measurement and an LR range
   scan leave parameters, buffers, optimizer state and the CUDA RNG as they were).
   Goal: all pass.
2. ``step_ratio_resnet20``: step time under ``ActCoolLR`` (K=10) / at a constant rate,
   ResNet-20 at batch 128 on 32 px synthetic images, bf16 autocast, channels-last: the median
   ratio of alternating 10-step blocks (``benchmarks/timing.py``). Goal <= 1.05.
3. ``step_ratio_resnet50``: the same for ResNet-50 at batch 256 on 224 px. Goal <= 1.05.
4. ``epoch_seconds_resnet20``: one epoch of ResNet-20 over CIFAR-10's 50,000 training images
   at batch 128 (bf16, channels-last, ActCoolLR) with the data on the device, beside the same
   epoch through a torch ``DataLoader`` and their ratio (``benchmarks/epoch_time.py``; a plain
   loop of :class:`~benchmarks.gpu_step.TrainingStep`). Goal <= 3 s.
5. ``measurement_vs_forward``: one measurement of ResNet-20 at batch 128 (its extra forward
   and the packed-pattern XOR and counts, on the device) in train-mode forwards, and one LR
   range scan over its 25 forwards (``benchmarks/overhead.py``). Goal <= 1.2.
6. ``temperature_bf16``: ResNet-20's LR range scans read under bf16 autocast against float32
   on the same steps (``benchmarks/precision_temperature.py``, 200 steps of 1-cycle, a scan
   every 50): the largest relative difference of the temperature at the step's rate and of
   the Weibull λ0. Goal <= 0.1.
7. ``test_error_onecycle`` and 8. ``test_error_actcool``: ResNet-20 / CIFAR-10, 30 epochs at
   batch 128, seed 0, bf16 and channels-last, each trained by the real trainer
   (``trainer.run.train_run``, recorded into a temporary store; the test error is read from
   the run's recorded summary): 1-cycle peaking at 0.4, its usual peak, and ActCoolLR's
   defaults with the optimizer at 0.05 (no tuning). There is no goal on the errors (the first
   evidence at a realistic budget); each figure's goal is that its run finishes. They run
   last, under a wall-clock guard: when the budget (7.5 minutes from the start) runs out a
   run is stopped (the trainer's ``should_stop``) and reported with how far it got; the first
   run has half the time left, the second the rest.

A figure that raises is reported as failed with its error, and the next one runs: one try
yields every figure it can. The exit status is 0 when no figure failed, else 1 (2: no GPU).

Data: CIFAR-10 from ``--data-dir``, else the first of ``$ACTCOOL_DATA_DIR``, ``./shared/data``
and ``../shared/data`` that holds it (``cifar10-jpeg/{train,test}``). Without it, figure 4
times 50,000 random CIFAR-shaped images and the 30-epoch pair trains on the trainer's
``synthetic`` set (1,000 images): their ``data`` field says so, and those errors are no
evidence.

On a GPU machine that cannot download anything, bring what is missing: CIFAR-10's JPEG tree
(about 53 MiB; e.g. copied to ``.cifar/cifar10-jpeg``, with ``--data-dir .cifar``) and any
package its Python lacks, such as ``duckdb`` (the store's database, which the trainer and the
tests need), as a wheel. Where one transfer cannot hold both, install the wheel first into a
folder the repository ignores, then bring the data.

``--dry-run`` runs every figure on the CPU in under a minute (tiny batches and step counts, K=2 and
ActCoolLR without LR range scans in the timed figures, 256 synthetic images, ResNet-50 on 72
px, 3 steps of one epoch for the pair; the gpu tests are collected and skip); goals are not
judged (``ok: null``) and nothing is written unless ``--out`` is given. CI runs it
(``tests/benchmarks/test_gpu_check.py``, about 30 s on 2 CPU cores).

Run: ``python -m benchmarks.gpu_check [--dry-run] [--out PATH] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .epoch_time import find_cifar10
from .gpu_figures import (
    DRY,
    FIGURE_NAMES,
    FIGURES,
    REAL,
    ROOT,
    Check,
    Figure,
    data_label,
)
from .gpu_report import markdown, verdict

__all__ = ["DEFAULT_OUT", "DRY", "FIGURE_NAMES", "ROOT", "Check", "Figure", "main", "run_figure"]

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "GPU.md"


# -- running them ------------------------------------------------------------------------------
def run_figure(figure: Figure, check: Check) -> dict[str, Any]:
    """Measure one figure and print its JSON line; one that raises is a failed row that
    carries its error. The device's memory is given back after it."""
    start = time.monotonic()
    row: dict[str, Any] = {"figure": figure.name, "unit": figure.unit, "goal": figure.goal}
    try:
        measured = figure.measure(check)
        row = {**row, "value": measured.pop("value"), "ok": measured.pop("ok"), **measured}
    except Exception as exc:  # reported, and the next figure runs: one try gives them all
        row = {**row, "value": None, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    row["seconds"] = round(time.monotonic() - start, 1)
    row = {k: row[k] for k in ("figure", "value", "unit", "goal", "ok")} | row  # fixed order
    print(json.dumps(row), flush=True)
    check.results[figure.name] = row
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return row


def data_candidates(data_dir: Path | None) -> list[Path | None]:
    """Where CIFAR-10 is looked for: ``data_dir`` alone when given, else
    ``$ACTCOOL_DATA_DIR``, ``./shared/data`` and ``../shared/data``."""
    if data_dir is not None:
        return [data_dir]
    env = os.environ.get("ACTCOOL_DATA_DIR")
    return [Path(env) if env else None, ROOT / "shared" / "data", ROOT.parent / "shared" / "data"]


def describe(check: Check, argv: Sequence[str], seconds: float) -> dict[str, Any]:
    """The report's context: date, device, torch, data, command and wall time."""
    cuda = f" (CUDA {torch.version.cuda})" if torch.version.cuda else ""
    data = data_label(check)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": "cpu (dry run)" if check.dry else torch.cuda.get_device_name(),
        "torch": torch.__version__ + cuda,
        "data": f"{data} from {check.data_dir}" if data == "CIFAR-10" else data,
        "command": " ".join(["python -m benchmarks.gpu_check", *argv]),
        "seconds": round(seconds, 1),
    }


def report_path(out: Path | None, dry_run: bool) -> Path | None:
    """Where the report goes: ``out`` when given; else :data:`DEFAULT_OUT` for a real run and
    nowhere for a dry run (its figures are no results)."""
    if out is not None:
        return out
    return None if dry_run else DEFAULT_OUT


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="every figure on the CPU in seconds, goals not judged (CI)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"where the report goes (default: {DEFAULT_OUT.relative_to(ROOT)}; "
        "a dry run writes none unless given)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=FIGURE_NAMES, metavar="NAME", help="these figures only"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="the folder holding cifar10-jpeg (default: see above)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print(
            "no CUDA GPU here: run this on a GPU machine, or check the script on the CPU with "
            "--dry-run",
            file=sys.stderr,
        )
        return 2
    data_dir = find_cifar10(data_candidates(args.data_dir))
    if args.data_dir is not None and data_dir is None:
        print(
            f"no CIFAR-10 under {args.data_dir}: give the folder that holds "
            "cifar10-jpeg/{train,test}",
            file=sys.stderr,
        )
        return 2
    start = time.monotonic()
    sizes = DRY if args.dry_run else REAL
    if args.dry_run:  # tiny batches gain nothing from more threads, and a busy CPU spins
        torch.set_num_threads(1)
    selected = tuple(args.only or FIGURE_NAMES)
    check = Check(sizes, args.dry_run, data_dir, start + sizes.budget_s, selected)
    rows = [run_figure(f, check) for f in FIGURES if f.name in selected]
    outcome = verdict(rows)
    print(json.dumps(outcome), flush=True)
    out = report_path(args.out, args.dry_run)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        context = describe(check, argv, time.monotonic() - start)
        out.write_text(markdown(rows, outcome, context))
    return 0 if outcome["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
