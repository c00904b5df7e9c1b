"""Which granularity makes a temperature that means the same on every network (issue: granularity).

``python -m benchmarks.granularity`` trains 1-cycle runs with the trainer into the dashboard's
store (tag ``granularity``; finished runs are reused, stopped ones resumed), each measured at the
default granularity while also counting every other one from the same two passes
(``compare_granularities``), so one run gives the figures of every granularity:

- ``at_cap``: share of (site, measurement) values at the granularity's cap (goal ≤ 1%);
- ``depth_rho``: Spearman ρ between a site's depth (call order) and its time-averaged
  temperature (goal ≥ 0.5: deeper sites hotter, as the paper reports);
- ``late_vs_peak``: mean T̄ over the last 10% of training / mean T̄ around the peak rate
  (±5% of training; goal ≤ 0.15: the temperature follows the rate down);
- ``scan_rmse``: median RMSE of the better response model over every LR range scan, per site
  and for the mean (goal ≤ 0.03), with which model fits better and by how much.

The plan: convnet4 / Fashion-MNIST (2 epochs, batch 128) at peak rates 0.02, 0.05, 0.1, 0.2 and
resnet20 / CIFAR-10 (2 epochs) at 0.05 and 0.1; the figures are read at each model's best rate
(lowest test error). About 40 minutes on 2 CPU cores. ``--smoke`` runs a digits miniature.
It prints one JSON line per figure and writes ``benchmarks/results/GRANULARITY.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # `python benchmarks/granularity.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actcool import Granularity, fit_response_models  # noqa: E402
from benchmarks import setups  # noqa: E402
from benchmarks.analysis import rank_correlation  # noqa: E402
from benchmarks.setups import SHARED_DATA  # noqa: E402
from trainer.config import RunConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TAG = "granularity"
GRANULARITIES = ("sample", "position", "unit:64")
GOALS = {"at_cap": 1.0, "depth_rho": 0.5, "late_vs_peak": 0.15, "scan_rmse": 0.03}
# (changed, total) columns of each counter in the store's per-site rows
COUNTER_COLUMNS = {
    "samples": ("changed_samples", "batch_size"),
    "positions": ("changed_positions", "total_positions"),
    "bits": ("flipped_bits", "total_bits"),
}

log = logging.getLogger("benchmarks.granularity")


@dataclass(frozen=True)
class Planned:
    key: str
    model: str
    lr: float
    config: RunConfig


def plan(smoke: bool = False, data_dir: Path = SHARED_DATA) -> list[Planned]:
    """The 1-cycle runs, each counting every granularity."""
    common = dict(schedule="onecycle", granularity="unit:64")  # every granularity counted
    if smoke:
        groups = [(setups.digits(**common), (0.05, 0.2))]
    else:
        fmnist = setups.fashion_mnist(data_dir, **common)
        cifar = setups.cifar10(data_dir, **common)
        groups = [(fmnist, (0.02, 0.05, 0.1, 0.2)), (cifar, (0.05, 0.1))]
    runs = []
    for base, rates in groups:
        for lr in rates:
            key = f"{TAG}/{base.model}/onecycle/lr{lr:g}" + ("/smoke" if smoke else "")
            cfg = base.replace(
                lr=lr, name=f"granularity {base.model} 1-cycle lr {lr:g}", tags=(TAG, f"plan:{key}")
            )
            runs.append(Planned(key, base.model, lr, cfg))
    return runs


# ------------------------------------------------------------------ pure figures
def temperatures(counts: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """Per (step, site_index) temperature at ``granularity`` from stored counts, with the cap."""
    g = Granularity.parse(granularity)
    changed_col, total_col = COUNTER_COLUMNS[g.counter]
    rows = counts.dropna(subset=[changed_col, total_col])
    changed = rows[changed_col].to_numpy(dtype=np.int64)
    total = rows[total_col].to_numpy(dtype=np.int64)
    out = rows[["step", "site_index"]].copy()
    out["temperature"] = g.temperatures(changed, total)
    cap = np.log2(2.0 * total) if g.kind != "unit" else np.full(len(total), np.inf)
    out["at_cap"] = out["temperature"] >= cap - 1e-9
    return out


def measure_figures(
    temps: pd.DataFrame, total_steps: int, peak_fraction: float
) -> dict[str, float]:
    """``at_cap`` (%), ``depth_rho`` and ``late_vs_peak`` of one run at one granularity."""
    mean = temps.groupby("step")["temperature"].mean()
    frac = mean.index.to_numpy() / total_steps
    near_peak = mean[np.abs(frac - peak_fraction) <= 0.05]
    late = mean[frac >= 0.9]
    per_site = temps.groupby("site_index")["temperature"].mean()
    return {
        "at_cap": 100.0 * float(temps["at_cap"].mean()),
        "depth_rho": rank_correlation(per_site.index.to_numpy(), per_site.to_numpy()),
        "late_vs_peak": float(late.mean() / near_peak.mean())
        if len(late) and len(near_peak) and near_peak.mean() > 0
        else float("nan"),
        "peak_temperature": float(near_peak.mean()) if len(near_peak) else float("nan"),
    }


def scan_figures(scans: pd.DataFrame, granularity: str) -> dict[str, float | str | int]:
    """Both response models fitted to every stored scan (per site and mean) at ``granularity``.

    ``scans`` has one row per (step, rate, site) with the counter columns of
    :data:`COUNTER_COLUMNS`. Returns the median RMSE of each model, which is better and the
    ratio of the medians, and the number of fits.
    """
    g = Granularity.parse(granularity)
    changed_col, total_col = COUNTER_COLUMNS[g.counter]
    rows = scans.dropna(subset=[changed_col, total_col])
    rmse: dict[str, list[float]] = {"gaussian": [], "weibull": []}
    no_fit = 0
    for _, scan in rows.groupby("step"):
        table = scan.pivot_table(index="site_index", columns="rate", values=changed_col)
        totals = scan.groupby("site_index")[total_col].first().loc[table.index].to_numpy()
        lrs = table.columns.to_numpy(dtype=float)
        temps = g.temperatures(table.to_numpy(dtype=np.int64), totals[:, None])
        res = g.resolution(totals)
        curves = [(1 - 2.0**-t, int(r)) for t, r in zip(temps, res, strict=True)]
        curves.append((1 - 2.0 ** -temps.mean(axis=0), int(res.min())))
        for p, n in curves:
            gauss, weib, _ = fit_response_models(lrs, p, resolution=n)
            for name, fit in (("gaussian", gauss), ("weibull", weib)):
                if fit is None:
                    no_fit += 1
                else:
                    rmse[name].append(fit.rmse)
    med = {k: float(np.median(v)) if v else float("nan") for k, v in rmse.items()}
    better = min(med, key=lambda k: med[k] if np.isfinite(med[k]) else np.inf)
    other = "gaussian" if better == "weibull" else "weibull"
    return {
        "scan_rmse": med[better],
        "better_model": better,
        "rmse_gaussian": med["gaussian"],
        "rmse_weibull": med["weibull"],
        "better_by": med[other] / med[better] if med[better] > 0 else float("nan"),
        "fits": sum(len(v) for v in rmse.values()),
        "no_fit": no_fit,
    }


def verdict(name: str, value: float) -> bool:
    goal = GOALS[name]
    if not np.isfinite(value):
        return False
    return value >= goal if name == "depth_rho" else value <= goal


# ------------------------------------------------------------------ runs -> figures
def best_runs(store, runs: list[Planned]) -> dict[str, tuple[Planned, dict]]:
    """Per model, the finished run with the lowest test error (the 1-cycle at its best rate)."""
    from .reproduce import find_runs

    found = find_runs(store, runs, tag=TAG)
    best: dict[str, tuple[Planned, dict]] = {}
    for p in runs:
        row = found.get(p.key)
        if row is None or row["status"] != "finished":
            continue
        err = (row["summary"] or {}).get("test_error")
        if err is None:
            continue
        if p.model not in best or err < (best[p.model][1]["summary"] or {})["test_error"]:
            best[p.model] = (p, row)
    return best


def run_figures(store, p: Planned, row: dict) -> dict[str, dict]:
    """Every figure of one run, per granularity."""
    summary = row["summary"] or {}
    total = int(summary.get("total_steps") or summary.get("steps"))
    counts = store.site_counts(row["id"])
    scans = store.scans(row["id"])
    scans = scans[scans["site"] != "mean"]
    if "batch_size" not in scans:
        scans = scans.assign(batch_size=p.config.batch_size)
    out = {}
    for g in GRANULARITIES:
        temps = temperatures(counts, g)
        figs = measure_figures(temps, total, p.config.onecycle_pct_start)
        figs.update(scan_figures(scans, g))
        out[g] = figs
    return out


def lines(model: str, p: Planned, row: dict, figs: dict[str, dict]) -> list[dict]:
    """JSON lines for ``python -m benchmarks``: one per (granularity, figure)."""
    out = []
    for g, values in figs.items():
        for name in GOALS:
            value = values[name]
            unit = "%" if name == "at_cap" else ("rmse" if name == "scan_rmse" else "ratio")
            out.append(
                {
                    "figure": f"granularity.{model}.{g}.{name}",
                    "value": round(value, 4),
                    "unit": unit,
                    "goal": ("≥ " if name == "depth_rho" else "≤ ") + f"{GOALS[name]:g}",
                    "ok": verdict(name, value),
                    "default": g == str(Granularity()),
                    "run": row["id"],
                    "lr": p.lr,
                }
            )
    return out


def _dataset_name(dataset: str) -> str:
    """``fashion-mnist``, or the folder of an ``imagefolder:<path>`` (``cifar10-jpeg``)."""
    return Path(dataset.partition(":")[2]).name if dataset.startswith("imagefolder:") else dataset


def render(results: dict[str, tuple[Planned, dict, dict]], errors: dict[str, list]) -> str:
    """The markdown report: one table per model, a row per granularity."""
    default = str(Granularity())
    out = [
        '# Granularity: which reading of "pattern" makes a portable temperature',
        "",
        "Written by `python -m benchmarks.granularity` from the runs in the store. Each run is "
        "1-cycle (30% warm-up, SGD momentum 0.9, weight decay 5e-4, batch 128, 2 epochs), measured "
        f"at the default granularity `{default}` while counting `sample` and `position` from the "
        "same two passes, so every row of a table comes from the same run. Goals: at cap ≤ 1%, "
        "ρ(depth, T) ≥ 0.5, T̄ over the last 10% ≤ 0.15 × T̄ at the peak rate, median scan-fit "
        "RMSE of the better model ≤ 0.03.",
        "",
    ]
    for model, (p, row, figs) in results.items():
        out += [f"## {model} / {_dataset_name(p.config.dataset)}", ""]
        grid = ", ".join(f"{lr:g}: {err:.2f}%" for lr, err in errors.get(model, []))
        out += [
            f"Peak-rate grid (test error): {grid}. Figures at the best rate, {p.lr:g} "
            f"(run `{row['id']}`).",
            "",
        ]
        out += [
            "| granularity | T̄ at peak (bits) | at cap | ρ(depth, T) | late / peak | "
            "scan RMSE (better model) | Gaussian / Weibull RMSE | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for g, f in figs.items():
            checks = [verdict(k, f[k]) for k in GOALS]
            met = sum(checks)
            out.append(
                f"| {'**' + g + '** (default)' if g == default else g} | {f['peak_temperature']:.2f} | "
                f"{f['at_cap']:.1f}% | {f['depth_rho']:+.2f} | {f['late_vs_peak']:.3f} | "
                f"{f['scan_rmse']:.4f} ({f['better_model']}, {f['better_by']:.1f}× better) | "
                f"{f['rmse_gaussian']:.4f} / {f['rmse_weibull']:.4f} | "
                f"{met}/{len(GOALS)} met{'' if met == len(GOALS) else ': missed ' + ', '.join(k for k, c in zip(GOALS, checks, strict=True) if not c)} |"
            )
        out.append("")
    return "\n".join(out) + "\n"


def report(store, runs: list[Planned], out: Path | None) -> list[dict]:
    from .reproduce import find_runs

    found = find_runs(store, runs, tag=TAG)
    errors: dict[str, list] = {}
    for p in runs:
        row = found.get(p.key)
        if row is not None and row["status"] == "finished":
            errors.setdefault(p.model, []).append((p.lr, (row["summary"] or {}).get("test_error")))
    results, json_lines = {}, []
    for model, (p, row) in best_runs(store, runs).items():
        figs = run_figures(store, p, row)
        results[model] = (p, row, figs)
        json_lines += lines(model, p, row, figs)
    if out is not None and results:
        out.mkdir(parents=True, exist_ok=True)
        (out / "GRANULARITY.md").write_text(render(results, errors))
        (out / "granularity.json").write_text(json.dumps(json_lines, indent=1))
    return json_lines


def main(quick: bool = False, smoke: bool = False) -> list[dict]:
    """The ``python -m benchmarks`` suite: train what is missing, return the figure lines.

    ``smoke`` trains the digits miniature into a temporary store (checks the code path);
    otherwise the plan's runs are trained (or reused) in the dashboard's store.
    """
    import tempfile

    from storage import Store

    from .reproduce import train

    if smoke:
        with tempfile.TemporaryDirectory() as home:
            store = Store(home)
            runs = plan(smoke=True)
            train(store, runs, tag=TAG)
            return [_printed(line) for line in report(store, runs, None)]
    if not SHARED_DATA.exists():
        print(f"# granularity: skipped, {SHARED_DATA} not found", file=sys.stderr)
        return []
    store = Store()
    runs = plan(False, SHARED_DATA)
    train(store, runs, tag=TAG)
    return [_printed(line) for line in report(store, runs, RESULTS)]


def _printed(line: dict) -> dict:
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return line


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a digits miniature (pipeline check)")
    parser.add_argument("--home", help="the store (default: $ACTCOOL_HOME or ./actcool-data)")
    parser.add_argument(
        "--out", type=Path, help=f"report folder (default: {RESULTS}; none with --smoke)"
    )
    parser.add_argument("--report-only", action="store_true", help="figures from stored runs only")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from storage import Store

    from .reproduce import train

    if not args.smoke and not args.data_dir.exists():
        parser.error(f"{args.data_dir} not found: it must hold FashionMNIST/ and cifar10-jpeg/")
    store = Store(args.home)
    runs = plan(args.smoke, args.data_dir)
    t0 = time.monotonic()
    if not args.report_only:
        train(store, runs, tag=TAG)
    out = args.out or (None if args.smoke else RESULTS)
    for line in report(store, runs, out):
        print(json.dumps(line, ensure_ascii=False))
    log.info("done in %.0f s", time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
