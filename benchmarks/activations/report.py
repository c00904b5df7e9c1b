"""ACTIVATIONS.md and activations.png from the runs of ``python -m benchmarks.activations``: the
measure on GELU/SiLU networks, and ActCoolLR's default against tuned AdamW schedules."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..rates import RESULTS
from ..rates_report import peak
from ..setups import data_name
from .measure import measure_figures
from .plan import (
    BASELINES,
    GOAL_GAP,
    GOAL_LATE_PEAK,
    GOAL_OVERHEAD,
    MODELS,
    OVERHEAD_FILE,
    TYPED,
    best_rate,
    error,
    total_steps,
)

LABELS = {
    "onecycle": "AdamW + 1-cycle",
    "cosine": "AdamW + warm-up and cosine",
    "schedulefree": "schedule-free AdamW",
    "actcool": "AdamW + ActCoolLR default",
    "actcool-branch": "AdamW + ActCoolLR, peak from a branch search (opt-in, §4.9)",
    "actcool-branch-low": (
        "AdamW + ActCoolLR, branch search warming up to its lowest candidate (opt-in, §4.9)"
    ),
    "actcool-branch-2": "AdamW + ActCoolLR, branch search over two draws of batches (opt-in, §4.9)",
}
#: Opt-in ActCoolLR finders shown beside the default where they were run (not judged).
OPT_IN = ("actcool-branch", "actcool-branch-low", "actcool-branch-2")


def _rho(rho: float) -> str:
    """Spearman ρ, or why there is none (fewer than three sites have no depth order to rank)."""
    return "– (< 3 sites)" if math.isnan(rho) else f"{rho:+.2f}"


def _mean(rows: list[dict]) -> float:
    return float(np.mean([error(r) for r in rows])) if rows else math.nan


def _runs(rows: list[dict], model: str, schedule: str, rate: float | None = None) -> list[dict]:
    runs = [
        r
        for r in rows
        if r["model"] == model
        and r["schedule"] == schedule
        and (rate is None or math.isclose(float(r["rate"]), rate))
    ]
    return sorted(runs, key=lambda r: (float(r["rate"]), r["seed"]))


def schedule_table(rows: list[dict], model: str) -> tuple[list[str], dict[str, float]]:
    """Lines of the error table and each schedule's figure: a baseline's mean over seeds at its
    best rate, ActCoolLR's mean over seeds per typed rate (``actcool@<rate>``)."""
    rates = sorted({float(r["rate"]) for r in rows if r["model"] == model})
    lines = [
        "| schedule | " + " | ".join(f"{r:g}" for r in rates) + " | best rate | mean, seeds |",
        "|---|" + "---|" * (len(rates) + 2),
    ]
    figures: dict[str, float] = {}
    for schedule in BASELINES:
        runs = _runs(rows, model, schedule)
        if not runs:
            continue
        best = best_rate(rows, model, schedule)
        at_best = _runs(rows, model, schedule, best)
        figures[schedule] = _mean(at_best)
        tried = [float(r["rate"]) for r in runs]
        edge = " (edge of the rates tried)" if best in (min(tried), max(tried)) else ""
        cells = [_cell(_runs(rows, model, schedule, r), seed0=True) for r in rates]
        lines.append(
            f"| {LABELS[schedule]} | " + " | ".join(cells) + f" | {best:g}{edge} | "
            f"{figures[schedule]:.2f} ({', '.join(f'{error(r):.2f}' for r in at_best)}) |"
        )
    for schedule in ("actcool", *OPT_IN):
        for rate in TYPED:
            runs = _runs(rows, model, schedule, rate)
            if not runs:
                continue
            if schedule == "actcool":
                figures[f"actcool@{rate:g}"] = _mean(runs)
            peaks = "/".join(f"{peak(r):.2g}" for r in runs)
            cells = [f"**{_mean(runs):.2f}**" if math.isclose(r, rate) else "" for r in rates]
            lines.append(
                f"| {LABELS[schedule]}, typed {rate:g} (peak {peaks}) | "
                + " | ".join(cells)
                + f" | – | {_mean(runs):.2f} "
                f"({', '.join(f'{error(r):.2f}' for r in runs)}) |"
            )
    lines += [
        "",
        "Test error in %. Baselines: seed 0 at every grid rate, then seed 1 at the best one; "
        "ActCoolLR: seeds 0 and 1 at each typed rate (its finder sets its peak, §4.8; an "
        "opt-in finder's rows are shown, not judged).",
        "",
    ]
    return lines, figures


def _cell(runs: list[dict], seed0: bool) -> str:
    runs = [r for r in runs if r["seed"] == 0] if seed0 else runs
    return f"{_mean(runs):.2f}" if runs else "–"


def verdict(figures: dict[str, float]) -> list[str]:
    baselines = {s: figures[s] for s in BASELINES if s in figures}
    if not baselines or not any(k.startswith("actcool@") for k in figures):
        return ["No verdict: both baselines and ActCoolLR runs are needed.", ""]
    best = min(baselines, key=baselines.get)
    lines = [
        f"Best tuned baseline: {LABELS[best]}, {baselines[best]:.2f}%. Goal: ActCoolLR within "
        f"{GOAL_GAP:g} points of it at every typed rate (aim: ahead).",
        "",
        "| typed rate | "
        + " | ".join(f"ActCoolLR − {LABELS[s]}" for s in baselines)
        + " | verdict (against the best) |",
        "|---|" + "---|" * (len(baselines) + 1),
    ]
    met = True
    for key in [k for k in figures if k.startswith("actcool@")]:
        gaps = [figures[key] - baselines[s] for s in baselines]
        ok = figures[key] - baselines[best] <= GOAL_GAP
        met &= ok
        lines.append(
            f"| {key.split('@')[1]} | "
            + " | ".join(f"{g:+.2f}" for g in gaps)
            + f" | {'✅' if ok else '❌'} |"
        )
    lines += ["", f"{'✅ goal met' if met else '❌ goal missed'}.", ""]
    return lines


def measure_table(rows: list[dict], model: str) -> list[str]:
    """The measure's figures under 1-cycle at its best rate, per seed and activation type."""
    rate = best_rate(rows, model, "onecycle")
    runs = [r for r in _runs(rows, model, "onecycle", rate) if "temperatures" in r]
    if not runs:
        return ["No measured 1-cycle run yet.", ""]
    lines = [
        f"Under 1-cycle at its best rate ({rate:g}); unit:64 temperatures every 10 steps, LR "
        "range scans at 10, 50 and 90% of training.",
        "",
        "| seed | activation | sites | hottest unit:64 reading (flip fraction) | sample "
        "granularity at its cap | T̄ peak | late/peak (goal ≤ 0.15) | ρ(depth, T) | site means, "
        "shallow → deep | fit RMSE Gaussian / Weibull |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for kind, f in measure_figures(r["temperatures"], total_steps(r)).items():
            ok = "✅" if f["late_over_peak"] <= GOAL_LATE_PEAK else "❌"
            lines.append(
                f"| {r['seed']} | {kind} | {f['sites']} | {f['hottest_unit64_bits']:.2f} bits "
                f"({f['hottest_flip_fraction']:.1%}) | {f.get('at_sample_cap', math.nan):.0%} | "
                f"{f['peak_bits']:.2f} | {f['late_over_peak']:.3f} {ok} | {_rho(f['depth_rho'])} | "
                f"{', '.join(f'{v:.2f}' for v in f['site_means'])} | "
                f"{f['gaussian_rmse']:.4f} / {f['weibull_rmse']:.4f} |"
            )
    lines += [
        "",
        "The measure, unit:64, clips only where a site's flip fraction nears 1; the sample "
        "granularity's share at its cap log2(2B) is why it counts units (docs/algorithm.md §1).",
        "",
    ]
    return lines


def overhead_lines(path: Path) -> list[str]:
    if not path.exists():
        return ["## Overhead of measuring", "", "Not measured yet.", ""]
    rows = json.loads(path.read_text())
    step = next(r for r in rows if r["figure"] == "step_overhead")
    ok = "✅" if step["value"] <= GOAL_OVERHEAD else "❌"
    low, high = step.get("spread", [math.nan, math.nan])
    return [
        "## Overhead of measuring",
        "",
        f"A `vit-tiny` training step (AdamW, batch {step.get('batch', 128)}) under ActCoolLR "
        f"with a measurement every 10 steps, over the same step at a constant rate: "
        f"**{step['value']:.3f}** (blocks' spread {low:.3f}–{high:.3f}; goal ≤ {GOAL_OVERHEAD}) "
        f"{ok}. Median of {step.get('blocks', '?')} alternating 10-step blocks, "
        f"{step.get('clock', 'wall')} clock, {step.get('device', 'cpu')} "
        "(`python -m benchmarks.overhead --model vit-tiny --quick --clock thread`).",
        "",
    ]


def figure(rows: list[dict], path: Path) -> None:
    """T̄ and the rate along training: 1-cycle at its best rate and ActCoolLR, seed 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in MODELS if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(2, len(models), figsize=(5.2 * len(models), 6), squeeze=False)
    for col, model in enumerate(models):
        best = best_rate(rows, model, "onecycle")
        picks = [("onecycle", best)] + [("actcool", r) for r in TYPED]
        for schedule, rate in picks:
            run = next((x for x in _runs(rows, model, schedule, rate) if x["seed"] == 0), None)
            if run is None or "temperatures" not in run:
                continue
            total = total_steps(run)
            ms = run["temperatures"]["measurements"]
            frac = [m["step"] / total for m in ms]
            label = f"{LABELS[schedule]} ({rate:g})"
            axes[0][col].plot(frac, [m["mean"] for m in ms], label=label)
            axes[1][col].plot(frac, [m["lr"] for m in ms], label=label)
        axes[0][col].set_title(f"{model} / {data_name(model)}, AdamW, seed 0")
        axes[0][col].set_ylabel("T̄, unit:64 (bits)")
        axes[1][col].set_ylabel("learning rate")
        axes[1][col].set_yscale("log")
        axes[1][col].set_xlabel("fraction of training")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
        axes[0][col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(rows: Iterable[dict], out_dir: Path = RESULTS) -> Path:
    rows = list(rows)
    lines = [
        "# ActCool on GELU and SiLU networks under AdamW",
        "",
        "Written by `python -m benchmarks.activations` (plain PyTorch loops, AdamW at torch's "
        "defaults, batch 128, one epoch, one CPU thread per run). The measure counts the sign "
        "of each activation's input, as for ReLU (docs/algorithm.md §1); whether the temperature "
        "still follows the rate, and whether ActCoolLR still schedules well under AdamW, is "
        "what these runs measure. A run that diverged counts as chance (90%).",
        "",
        "![temperature and rate along training](activations.png)",
        "",
    ]
    for model in [m for m in MODELS if any(r["model"] == m for r in rows)]:
        measured = [r.get("temperatures", {}) for r in _runs(rows, model, "onecycle")]
        kinds = {k for m in measured for k in m.get("types", [])}
        lines += [f"## {model} / {data_name(model)} ({', '.join(sorted(kinds)) or '?'})", ""]
        lines += ["### The measure", ""] + measure_table(rows, model)
        table, figures = schedule_table(rows, model)
        lines += ["### The schedule", ""] + table + verdict(figures)
    lines += overhead_lines(out_dir / OVERHEAD_FILE.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure(rows, out_dir / "activations.png")
    path = out_dir / "ACTIVATIONS.md"
    path.write_text("\n".join(lines))
    return path
