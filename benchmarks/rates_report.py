"""RATES.md and rates.png from the runs of ``benchmarks/rates.py``: test error against the typed
rate, per schedule, and the goal's verdict per rate (issue "No tuning at all")."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .setups import data_name

RESULTS = Path(__file__).resolve().parent / "results"
#: How far ActCoolLR may end behind the best tuned 1-cycle, in points, per model.
GOALS = {
    "convnet4": 0.3,
    "cnn-plain": 0.3,
    "mlp": 0.3,
    "mlp-gelu": 0.3,
    "cnn-lrelu": 0.3,
    "tf-rows": 0.3,
    "mbnet-hs": 0.3,
    "vit-timm": 0.3,
    "mixer-timm": 0.3,
    "mlp-gelu-zh": 0.3,
    "cnn-lrelu-zh": 0.3,
    "mlp-zh": 0.3,
    "cnn-plain-zh": 0.3,
    "resnet20": 1.0,
    "resnet20-zi": 1.0,
    "vgg-bn": 1.0,
}
LABELS = {
    "onecycle": "1-cycle peaking at the typed rate",
    "cosine": "warm-up and cosine peaking at the typed rate",
    "actcool": "ActCoolLR default (typed rate = hint)",
    "actcool-noguard": "ActCoolLR default, no guard",
    "actcool-typed": "ActCoolLR peaking at the typed rate (find_lr=False)",
    "actcool-probe": 'ActCoolLR, peak from the loss probe (find_lr="probe")',
    "schedulefree": "schedule-free at the typed rate (reference)",
    "actcool-branch": "ActCoolLR, peak from a branch search (find_lr=BranchFinder)",
    "actcool-branch-low": "the same, warming up to the lowest candidate until the search",
    "actcool-branch-2": "the branch search over two draws of batches (draws=2)",
}
OPTIMIZERS = {"sgd": "SGD momentum 0.9", "adamw": "AdamW"}
CHANCE = 90.0


def _order(key: tuple[str, int, str]) -> tuple[int, int, int]:
    model, epochs, optimizer = key
    models = list(GOALS)
    return (
        list(OPTIMIZERS).index(optimizer),
        models.index(model) if model in models else 9,
        epochs,
    )


def _error(row: dict) -> float:
    """A diverged run ends at chance for the comparison (it answers nothing)."""
    err = row["test_error"]
    return CHANCE if err is None or not math.isfinite(err) else float(err)


def group(rows: Iterable[dict]) -> dict[tuple[str, int, str], dict[str, dict[float, list[dict]]]]:
    """(model, epochs, optimizer) → schedule → rate → runs (rows without an optimizer: SGD)."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        key = (r["model"], r["epochs"], r.get("optimizer", "sgd"))
        out[key][r["schedule"]][float(r["rate"])].append(r)
    return out


def _cell(runs: list[dict]) -> str:
    if not runs:
        return "–"
    errors = [_error(r) for r in runs]
    mean = float(np.mean(errors))
    dead = sum(1 for r in runs if not math.isfinite(r["test_error"] or math.nan))
    text = f"{mean:.2f}" if dead == 0 else f"{mean:.2f} ({dead} diverged)"
    return f"{text} (n={len(runs)})" if len(runs) != 2 else text


def section(
    model: str,
    epochs: int,
    by_schedule: dict[str, dict[float, list[dict]]],
    optimizer: str = "sgd",
) -> list[str]:
    rates = sorted({rate for runs in by_schedule.values() for rate in runs})
    lines = [
        f"## {model} / {data_name(model)}, {epochs} epoch{'s' if epochs > 1 else ''}, "
        f"{OPTIMIZERS.get(optimizer, optimizer)}",
        "",
        "| schedule | " + " | ".join(f"{r:g}" for r in rates) + " |",
        "|---|" + "---|" * len(rates),
    ]
    for schedule in [s for s in LABELS if s in by_schedule]:
        cells = [_cell(by_schedule[schedule].get(r, [])) for r in rates]
        lines.append(f"| {LABELS[schedule]} | " + " | ".join(cells) + " |")
    for schedule, what in (
        ("actcool", "ActCoolLR's"),
        ("actcool-branch", "the branch search's"),
        ("actcool-branch-low", "the low warm-up search's"),
        ("actcool-branch-2", "the two-draw search's"),
    ):
        if schedule not in by_schedule:
            continue
        peaks = []
        for r in rates:
            runs = by_schedule[schedule].get(r, [])
            found = [peak(x) for x in runs]
            cuts = sum(len(x.get("guard_events", [])) for x in runs)
            text = "/".join(f"{p:.3g}" for p in found) if found else "–"
            peaks.append(text + (f", {cuts} cut{'s' if cuts > 1 else ''}" if cuts else ""))
        lines.append(f"| {what} peak (per seed), guard cuts | " + " | ".join(peaks) + " |")
    lines += ["", "Test error in %, mean over seeds 0 and 1 unless n says otherwise.", ""]
    lines += verdict(model, by_schedule, rates)
    for schedule, what in (
        ("actcool-branch", "the branch search"),
        ("actcool-branch-low", "the branch search warming up to its lowest candidate"),
        ("actcool-branch-2", "the branch search over two draws of batches"),
    ):
        if schedule in by_schedule:
            lines += [f"The same goal for {what} (opt-in, docs/algorithm.md §4.9):", ""]
            lines += verdict(model, by_schedule, rates, schedule)
    return lines


def peak(row: dict) -> float:
    """The peak rate ActCoolLR chose in a run: its finder's (``found_lr``), else the highest
    rate it trained at (rows from before ``found_lr`` was recorded; under SGD the two agree,
    under Adam the loss probe goes past the peak before it goes back, docs/algorithm.md §4.8)."""
    found = row.get("found_lr")
    return float(found) if found else float(row["peak_lr"])


def verdict(
    model: str, by_schedule: dict, rates: list[float], schedule: str = "actcool"
) -> list[str]:
    onecycle, actcool = by_schedule.get("onecycle", {}), by_schedule.get(schedule, {})
    if not onecycle or not actcool:
        return ["No verdict: both 1-cycle and ActCoolLR runs are needed.", ""]
    means = {r: float(np.mean([_error(x) for x in runs])) for r, runs in onecycle.items()}
    best_rate = min(means, key=means.get)
    best = means[best_rate]
    goal = GOALS.get(model, 0.3)
    lines = [
        f"Best tuned 1-cycle: {best:.2f}% at {best_rate:g}. Goal: ActCoolLR within {goal:g} "
        "points of it at every typed rate, and never at chance where a schedule at that rate "
        "trains.",
        "",
        "| typed rate | ActCoolLR − best 1-cycle | at chance? | verdict |",
        "|---|---|---|---|",
    ]
    met_all = True
    for r in rates:
        runs = actcool.get(r, [])
        if not runs:
            continue
        gap = float(np.mean([_error(x) for x in runs])) - best
        dead = any(_error(x) >= CHANCE for x in runs)
        others_train = any(
            _error(x) < CHANCE for s, by_rate in by_schedule.items() for x in by_rate.get(r, [])
        )
        ok = gap <= goal and not (dead and others_train)
        met_all &= ok
        chance = "yes" if dead else "no"
        lines.append(f"| {r:g} | {gap:+.2f} | {chance} | {'✅' if ok else '❌'} |")
    lines += ["", f"Over the typed rates: {'✅ goal met' if met_all else '❌ goal missed'}.", ""]
    return lines


def figure(groups: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(groups, key=_order)
    # one colour per schedule in every panel, one legend for the figure
    colors = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(LABELS)}
    rows = [[k for k in keys if k[2] == opt] for opt in OPTIMIZERS]  # one row per optimizer
    rows = [row for row in rows if row]
    width = max(len(row) for row in rows)
    fig, axes = plt.subplots(
        len(rows), width, figsize=(4.6 * width, 3.8 * len(rows)), squeeze=False
    )
    for ax in axes.flat:
        ax.set_visible(False)
    placed = [(axes[i][j], key) for i, row in enumerate(rows) for j, key in enumerate(row)]
    for ax, key in placed:
        ax.set_visible(True)
        model, epochs, optimizer = key
        for schedule in [s for s in LABELS if s in groups[key]]:
            by_rate = groups[key][schedule]
            rates = sorted(by_rate)
            errors = [float(np.mean([_error(x) for x in by_rate[r]])) for r in rates]
            ax.plot(rates, errors, marker="o", color=colors[schedule], label=LABELS[schedule])
        ax.set_xscale("log")
        ax.set_xlabel("the optimizer's rate, as typed")
        ax.set_ylabel("test error % (90 = chance / diverged)")
        ax.set_title(f"{model} / {data_name(model)}, {epochs} ep, {optimizer}")
        finite = [_error(x) for s in groups[key].values() for runs in s.values() for x in runs]
        low = min(finite)
        ax.set_ylim(low - 0.5, min(max(finite), low + 6) + 0.5)
        ax.grid(alpha=0.3)
    shown = [s for s in LABELS if any(s in groups[k] for k in keys)]
    handles = [plt.Line2D([], [], color=colors[s], marker="o", label=LABELS[s]) for s in shown]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(shown), 4), fontsize=9)
    fig.tight_layout(rect=(0, 0.1 / len(rows), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(rows: Iterable[dict], out_dir: Path = RESULTS) -> Path:
    rows = list(rows)
    groups = group(rows)
    lines = [
        "# Test error against the typed learning rate",
        "",
        "Written by `python -m benchmarks.rates` (plain PyTorch loops: SGD momentum 0.9 with "
        "weight decay 5e-4, or AdamW with torch's defaults; batch 128, 2 CPU cores, one thread "
        "per run). A user types one number, the "
        "optimizer's rate; 1-cycle peaks there, ActCoolLR's default takes it as a hint (its "
        "finder sets the peak from the step-0 scan, docs/algorithm.md §4.8) and guards against "
        "a rate that breaks the network (§4.7). A run that diverged counts as chance (90%).",
        "",
        "![error against the typed rate](rates.png)",
        "",
    ]
    for key in sorted(groups, key=_order):
        lines += section(key[0], key[1], groups[key], key[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    figure(groups, out_dir / "rates.png")
    path = out_dir / "RATES.md"
    path.write_text("\n".join(lines))
    return path
