"""The activations study's runs: which to train, in which order, and how a baseline's best rate
is chosen (``benchmarks/activations/__init__.py`` says what the study asks)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..rates import CHANCE, RESULTS, Plan
from ..setups import data_name

RUNS_FILE = RESULTS / "activations.jsonl"
OVERHEAD_FILE = RESULTS / "activations_overhead.json"
#: The issue's two networks, then two held out from every choice of the finder and guard (a GELU
#: MLP with LayerNorm and a LeakyReLU CNN with dropout, ``benchmarks.rates.HELD_OUT``).
MODELS = ("vit-tiny", "cnn-silu", "mlp-gelu", "cnn-lrelu")
#: Peak rates tried for each baseline (further where the best is on an edge).
GRID = (3e-4, 1e-3, 3e-3)
MAX_EXTENSIONS = 3  # rates tried past the grid's edges, at most, per baseline (in all runs)
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
    tried so far (a tuned baseline is tuned past the grid, not clipped by it), until
    :data:`MAX_EXTENSIONS` rates past the grid have been tried (counted over every run, so a
    rerun of the study does not extend further)."""
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
            outside = [t for t in tried if t > max(GRID) * 1.001 or t < min(GRID) * 0.999]
            if len(outside) >= MAX_EXTENSIONS:
                continue  # still on the edge: the report says so
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


def total_steps(row: dict) -> int:
    """Training steps of a run (one epoch of 60,000 or 50,000 images at its batch size)."""
    images = 50_000 if data_name(row["model"]) == "CIFAR-10" else 60_000
    return row["epochs"] * (images // row["batch_size"])
