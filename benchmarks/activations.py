"""ActCool on GELU and SiLU networks under AdamW: does the measure carry over, and does the
default schedule hold its own against tuned AdamW schedules? (issue "networks people train today")

Trains, in the plain PyTorch loops of ``benchmarks/rates.py`` (no trainer), with AdamW at
torch's defaults, batch 128, one epoch, one thread per run:

- ``vit-tiny`` (the trainer's vision transformer, GELU MLPs) on CIFAR-10;
- ``cnn-silu`` (a SiLU CNN with BatchNorm, not one of the trainer's models) on Fashion-MNIST.

Schedules: 1-cycle, a 5% warm-up with a cosine, and schedule-free AdamW, each on the peak-rate
grid :data:`GRID` with seed 0 (one rate further, up to twice, while its best sits on an edge),
then with seed 1 at its best rate; ActCoolLR's default with only
the optimizer's rate typed (:data:`TYPED`, as a user would), seeds 0 and 1. The 1-cycle and
ActCoolLR runs record their temperatures (``benchmarks/measure_log.py``). The measure's figures
come from the best 1-cycle runs: the share of sample-granularity readings at their cap, late/peak
of T̄ (90% of training against the peak), Spearman ρ of the sites' temperature against depth, and
both response models' fit error, per activation type. Then the overhead of measuring on the
transformer (``benchmarks/overhead.py``, K = 10, CPU thread time).

    python -m benchmarks.activations --jobs 2          # train what is missing, write the report
    python -m benchmarks.activations --report          # the report from the runs file only
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .rates import CHANCE, RESULTS, Plan, _done, run
from .setups import SHARED_DATA

RUNS_FILE = RESULTS / "activations.jsonl"
OVERHEAD_FILE = RESULTS / "activations_overhead.json"
MODELS = ("vit-tiny", "cnn-silu")
DATA = {"vit-tiny": "CIFAR-10", "cnn-silu": "Fashion-MNIST"}
GRID = (
    3e-4,
    1e-3,
    3e-3,
)  # peak rates tried for each baseline (further where the best is on an edge)
MAX_EXTENSIONS = 2  # rates added past an edge, at most, per baseline
TYPED = (3e-4, 1e-3)  # the rates a user types for ActCoolLR
BASELINES = ("onecycle", "cosine", "schedulefree")
MEASURED = ("onecycle", "actcool")  # schedules whose runs record temperatures
SEEDS = (0, 1)
#: Goals (issue "networks people train today").
GOAL_GAP = 0.5  # ActCoolLR within this many points of the best tuned baseline
GOAL_LATE_PEAK = 0.15  # T̄ at 90% of training over its peak, under 1-cycle
GOAL_OVERHEAD = 1.06  # training step under ActCoolLR (K = 10) over a constant rate


def _plan(model: str, schedule: str, rate: float, seed: int) -> Plan:
    return Plan(model, schedule, rate, seed, optimizer="adamw", measure=schedule in MEASURED)


def first_plans(models: Iterable[str]) -> list[Plan]:
    """Seed 0: every baseline on the grid, ActCoolLR at every typed rate."""
    plans = []
    for model in models:
        plans += [_plan(model, "actcool", r, 0) for r in TYPED]
        plans += [_plan(model, s, r, 0) for s in BASELINES for r in GRID]
    return plans


def best_rate(rows: Iterable[dict], model: str, schedule: str) -> float | None:
    """The grid rate of ``schedule`` with the lowest seed-0 test error (the lower rate on a tie);
    ``None`` before its seed-0 runs are in."""
    errors = {
        float(r["rate"]): error(r)
        for r in rows
        if r["model"] == model and r["schedule"] == schedule and r["seed"] == 0
    }
    if not errors:
        return None
    return min(sorted(errors), key=lambda rate: errors[rate])


def beyond(rate: float) -> float | None:
    """The next rate on the 1-3-10 ladder past the grid's edge that ``rate`` sits on, or ``None``
    for a rate inside the grid."""
    k = math.floor(math.log10(rate) + 1e-9)
    one = math.isclose(rate / 10**k, 1.0)  # else 3 × 10^k
    if rate > max(GRID) or math.isclose(rate, max(GRID)):
        return float(f"{3 * 10**k if one else 10 ** (k + 1):.1g}")
    if rate < min(GRID) or math.isclose(rate, min(GRID)):
        return float(f"{3 * 10 ** (k - 1) if one else 10**k:.1g}")
    return None


def extension_plans(models: Iterable[str], rows: list[dict]) -> list[Plan]:
    """Seed 0 one rate further for each baseline whose best rate sits on the edge of the rates
    tried so far (a tuned baseline is tuned past the grid, not clipped by it)."""
    plans = []
    for model in models:
        for schedule in BASELINES:
            best = best_rate(rows, model, schedule)
            tried = {
                float(r["rate"])
                for r in rows
                if r["model"] == model and r["schedule"] == schedule and r["seed"] == 0
            }
            if best is None or min(tried) < best < max(tried):
                continue
            nxt = beyond(best)
            if nxt is not None and not any(math.isclose(nxt, t) for t in tried):
                plans.append(_plan(model, schedule, nxt, 0))
    return plans


def second_plans(models: Iterable[str], rows: list[dict]) -> list[Plan]:
    """The other seeds: each baseline at its best rate, ActCoolLR at every typed rate."""
    plans = []
    for model in models:
        for seed in SEEDS[1:]:
            plans += [_plan(model, "actcool", r, seed) for r in TYPED]
            for schedule in BASELINES:
                rate = best_rate(rows, model, schedule)
                if rate is not None:
                    plans.append(_plan(model, schedule, rate, seed))
    return plans


def error(row: dict) -> float:
    """Test error in %; a diverged run counts as chance."""
    e = row.get("test_error")
    return CHANCE if e is None or not math.isfinite(e) else float(e)


# -- the measure ---------------------------------------------------------------------------------


def late_over_peak(steps: list[int], means: list[float], total: int, window: int = 5) -> float:
    """T̄ near 90% of training over its peak, both of the running mean over ``window``
    measurements (one measurement is noisy; fewer measurements, a shorter window)."""
    window = max(1, min(window, len(means)))
    smooth = np.convolve(np.asarray(means, dtype=float), np.ones(window) / window, mode="valid")
    centres = np.asarray(steps[window // 2 : window // 2 + len(smooth)], dtype=float)
    late = smooth[int(np.argmin(np.abs(centres - 0.9 * total)))]
    return float(late / smooth.max())


def spearman(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman's rank correlation (average ranks on ties); NaN for fewer than 3 points."""
    from scipy.stats import spearmanr

    x, y = list(x), list(y)
    return float(spearmanr(x, y).statistic) if len(x) >= 3 else math.nan


def measure_figures(measure: dict, total: int) -> dict[str, dict]:
    """Per activation type present: sites, the hottest unit:64 reading and its flip fraction
    (the measure's clip is a fraction near 1), the share of sample-granularity readings at ≥ 95%
    of their cap ``log2(2B)`` (why the measure counts units), late/peak of the type's T̄, Spearman ρ of its sites'
    mean temperature (10-90% of training) against depth, and the median fit error of each model."""
    rows = measure["measurements"]
    steps = [r["step"] for r in rows]
    temps = np.asarray([r["sites"] for r in rows], dtype=float)  # (measurements, sites)
    middle = [(0.1 * total <= s <= 0.9 * total) for s in steps]
    out = {}
    for kind in sorted(set(measure["types"])):
        idx = [i for i, t in enumerate(measure["types"]) if t == kind]
        means = temps[:, idx].mean(axis=1)
        hottest = float(temps[:, idx].max())
        figures: dict = {
            "sites": len(idx),
            "hottest_unit64_bits": hottest,
            "hottest_flip_fraction": 1.0 - 2.0 ** (-hottest / 64),
        }
        if rows and "sample" in rows[0]:
            sample = np.asarray([r["sample"] for r in rows], dtype=float)[:, idx]
            caps = np.asarray([r["sample_cap"] for r in rows], dtype=float)[:, None]
            figures["at_sample_cap"] = float(np.mean(sample >= 0.95 * caps))
        figures["peak_bits"] = float(means.max())
        figures["late_over_peak"] = late_over_peak(steps, list(means), total)
        per_site = temps[middle][:, idx].mean(axis=0)
        figures["depth_rho"] = spearman(range(len(idx)), per_site)
        figures["site_means"] = [round(float(v), 3) for v in per_site]
        for model in ("gaussian", "weibull"):
            errors = [f[model][i] for f in measure["fits"] for i in idx if f[model][i] is not None]
            figures[f"{model}_rmse"] = float(np.median(errors)) if errors else math.nan
        out[kind] = figures
    return out


def total_steps(row: dict) -> int:
    """Training steps of a run (one epoch of 60,000 or 50,000 images at its batch size)."""
    images = 50_000 if DATA.get(row["model"]) == "CIFAR-10" else 60_000
    return row["epochs"] * (images // row["batch_size"])


def overhead(quick: bool = True) -> dict:
    """Step time under ActCoolLR (K = 10) over a constant rate on ``vit-tiny`` with AdamW, in CPU
    thread time (this machine is shared)."""
    from . import overhead as bench

    rows = bench.main(quick=quick, clock="thread", model="vit-tiny")
    step = next(r for r in rows if r["figure"] == "step_overhead")
    OVERHEAD_FILE.write_text(json.dumps(rows, indent=1))
    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--report", action="store_true", help="only write the report")
    parser.add_argument("--no-overhead", action="store_true", help="skip the overhead figure")
    args = parser.parse_args(argv)
    for model in args.models:
        folder = "cifar10-jpeg" if DATA[model] == "CIFAR-10" else "FashionMNIST"
        if not (args.data_dir / folder).exists():
            parser.error(f"no {folder} under {args.data_dir} (see ../shared/data/README.md)")
    if not args.report:
        run(first_plans(args.models), args.jobs, args.data_dir, RUNS_FILE)
        for _ in range(MAX_EXTENSIONS):
            more = extension_plans(args.models, list(_done(RUNS_FILE).values()))
            if not more:
                break
            run(more, args.jobs, args.data_dir, RUNS_FILE)
        rows = list(_done(RUNS_FILE).values())
        run(second_plans(args.models, rows), args.jobs, args.data_dir, RUNS_FILE)
        if not args.no_overhead:
            overhead()
    from .activations_report import write_report

    print(write_report(list(_done(RUNS_FILE).values())))


if __name__ == "__main__":
    main()
