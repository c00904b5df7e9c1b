"""The reproduction report: figures (PNG), ``results.json`` and ``REPORT.md`` from stored runs.

Everything here reads the store (``storage.Store``) and the plan of
:mod:`benchmarks.reproduce`; the statistics live in :mod:`benchmarks.analysis`. Each section
states the paper's claim, the measured numbers, a goal and a verdict.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .analysis import Spread, linear_r2, rank_correlation, relative_variation, smooth, spread
from .control import tracking_error

GAP_GOAL = 0.3  # points of test error behind the best baseline
R2_GOAL = 0.8  # "roughly linear"
DEPTH_GOAL = 0.5  # Spearman ρ(depth, temperature)
RMSE_GOAL = 0.05  # median fit RMSE, probability units
SIGMA_CV_GOAL = 0.25  # σ "drifts little": std/mean over training
TRACKING_GOAL = 0.5  # bit
NAMES = {"constant": "constant", "step": "step decay", "onecycle": "1-cycle",
         "cosine": "cosine", "actcool": "ActCoolLR"}
COLORS = {"constant": "#7f7f7f", "step": "#8c564b", "onecycle": "#1f77b4",
          "cosine": "#2ca02c", "actcool": "#d62728"}


@dataclass
class Run:
    """A finished run of the plan with what the report needs from the store."""

    key: str
    group: str
    label: str
    seed: int
    id: str
    status: str
    summary: dict
    config: dict
    steps: pd.DataFrame
    fits: pd.DataFrame
    scans: pd.DataFrame
    sites: tuple[list[str], np.ndarray, np.ndarray] = field(repr=False)

    @property
    def test_error(self) -> float:
        v = self.summary.get("test_error")
        return float(v) if v is not None else float("nan")

    @property
    def wall(self) -> float:
        return float(self.summary.get("wall_time") or float("nan"))

    @property
    def fraction(self) -> np.ndarray:
        total = self.summary.get("total_steps") or (self.steps["step"].max() + 1)
        return self.steps["step"].to_numpy() / float(total)


def load_runs(store, runs, found: dict[str, dict]) -> tuple[list[Run], list[str]]:
    """The plan's finished runs, and one line per run that is missing or did not finish."""
    loaded, missing = [], []
    for p in runs:
        row = found.get(p.key)
        if row is None or row["status"] != "finished":
            missing.append(f"{p.key}: " + ("not run" if row is None else f"{row['status']} ({row['id']})"))
            continue
        rid = row["id"]
        loaded.append(Run(p.key, p.group, p.label, p.seed, rid, row["status"], row["summary"] or {},
                          row["config"], store.steps(rid), store.fits(rid), store.scans(rid),
                          store.site_matrix(rid)))
    return loaded, missing


# ----------------------------------------------------------------------------- sections
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _measured(run: Run) -> pd.DataFrame:
    return run.steps.dropna(subset=["mean_temperature"])


def _verdict(ok: bool | None) -> str:
    return {True: "**reproduced / goal met**", False: "**not reproduced / goal missed**",
            None: "no verdict (not enough data)"}[ok]


def section_schedules(runs: list[Run], out: Path, figures: dict) -> list[str]:
    group = [r for r in runs if r.group == "schedules"]
    if not group:
        return ["## 1. Schedules side by side", "", "No finished runs.", ""]
    by = {s: [r for r in group if r.label == s] for s in NAMES if any(r.label == s for r in group)}
    rows = {s: {"error": spread([r.test_error for r in rs]), "wall": spread([r.wall for r in rs]),
                "tracking": spread([tracking_error(r.steps) for r in rs]) if s == "actcool" else None}
            for s, rs in by.items()}
    baselines = {s: v for s, v in rows.items() if s != "actcool"}
    best = min(baselines, key=lambda s: baselines[s]["error"].mean) if baselines else None
    gap = rows["actcool"]["error"].mean - baselines[best]["error"].mean if best and "actcool" in rows else float("nan")
    ok = bool(gap <= GAP_GOAL) if np.isfinite(gap) else None
    figures["schedules"] = {"test_error": {s: v["error"].__dict__ for s, v in rows.items()},
                            "wall_seconds": {s: v["wall"].__dict__ for s, v in rows.items()},
                            "best_baseline": best, "actcool_gap_points": gap, "goal": f"<= {GAP_GOAL}",
                            "ok": ok}

    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    for s, rs in by.items():
        r = min(rs, key=lambda r: r.seed)
        ax[0].plot(r.fraction, r.steps["lr"], color=COLORS[s], label=NAMES[s])
        m = _measured(r)
        frac = m["step"].to_numpy() / float(r.summary.get("total_steps") or len(r.steps))
        ax[1].plot(frac, smooth(m["mean_temperature"], 5), color=COLORS[s], label=NAMES[s])
        if s == "actcool":
            ax[1].plot(frac, m["target_temperature"], "k--", lw=1, label="target (linear from 3.17)")
    names = list(by)
    means = [rows[s]["error"].mean for s in names]
    err = np.array([[rows[s]["error"].mean - rows[s]["error"].low, rows[s]["error"].high - rows[s]["error"].mean]
                    for s in names]).T
    ax[2].bar([NAMES[s] for s in names], means, yerr=err, color=[COLORS[s] for s in names], capsize=4)
    lo = min(rows[s]["error"].low for s in names)
    ax[2].set_ylim(max(0, lo - 2), max(rows[s]["error"].high for s in names) + 0.5)
    ax[0].set(xlabel="fraction of training", ylabel="learning rate", yscale="log", title="learning rate (seed 0)")
    ax[1].set(xlabel="fraction of training", ylabel="mean temperature (bits)", title="measured T̄ (seed 0, smoothed)")
    ax[2].set(ylabel="test error (%)", title="test error: mean, bars = range over seeds")
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "schedules.png", dpi=110)
    plt.close(fig)

    cfg = group[0].config
    lines = [
        "## 1. Schedules side by side",
        "",
        f"{cfg['model']} on {cfg['dataset']}, {cfg['epochs']} epochs at batch {cfg['batch_size']}, "
        f"SGD momentum {cfg['momentum']}, weight decay {cfg['weight_decay']}, rate {cfg['lr']} (the constant "
        f"rate and the peak of the others), seeds {sorted({r.seed for r in group})}. ActCoolLR follows "
        "linear cooling from 3.17 bits.",
        "",
        "| schedule | test error % (range) | wall time s | tracking error (bit) |",
        "|---|---|---|---|",
    ]
    for s in names:
        t = rows[s]["tracking"]
        lines.append(f"| {NAMES[s]} | {rows[s]['error']} | {rows[s]['wall'].mean:.0f} | {t if t else '–'} |")
    lines += [
        "",
        f"Goal: ActCoolLR within {GAP_GOAL} points of the best baseline ({NAMES.get(best, best)}). "
        f"Gap: **{gap:+.2f} points** → {_verdict(ok)}.",
        "",
        "![schedules](schedules.png)",
        "",
    ]
    return lines


def section_gamma(runs: list[Run], out: Path, figures: dict) -> list[str]:
    group = [r for r in runs if r.group == "gamma"] + [
        r for r in runs if r.group == "schedules" and r.label == "actcool"]
    if not group:
        return ["## 2. γ sweep of the power curve", "", "No finished runs.", ""]

    def gamma(r: Run) -> float:
        return 1.0 if r.group == "schedules" else float(r.label.split("=")[1])

    gammas = sorted({gamma(r) for r in group})
    rows = {g: {"error": spread([r.test_error for r in group if gamma(r) == g]),
                "tracking": spread([tracking_error(r.steps) for r in group if gamma(r) == g])}
            for g in gammas}
    rho = rank_correlation(gammas, [rows[g]["error"].mean for g in gammas])
    hotter_helps = bool(rho < 0) if np.isfinite(rho) else None
    figures["gamma"] = {"test_error": {str(g): rows[g]["error"].__dict__ for g in gammas},
                        "tracking_bits": {str(g): rows[g]["tracking"].__dict__ for g in gammas},
                        "spearman_gamma_vs_error": rho, "hotter_longer_helps": hotter_helps}

    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    cmap = plt.get_cmap("viridis")
    for i, g in enumerate(gammas):
        r = min((r for r in group if gamma(r) == g), key=lambda r: r.seed)
        m = _measured(r)
        frac = m["step"].to_numpy() / float(r.summary.get("total_steps") or len(r.steps))
        c = cmap(i / max(len(gammas) - 1, 1))
        ax[0].plot(frac, smooth(m["mean_temperature"], 5), color=c, label=f"γ={g:g} measured")
        ax[0].plot(frac, m["target_temperature"], "--", color=c, lw=1)
    ax[1].errorbar(gammas, [rows[g]["error"].mean for g in gammas],
                   yerr=np.array([[rows[g]["error"].mean - rows[g]["error"].low,
                                   rows[g]["error"].high - rows[g]["error"].mean] for g in gammas]).T,
                   marker="o", capsize=4)
    ax[0].set(xlabel="fraction of training", ylabel="mean temperature (bits)",
              title="T̄ (solid, smoothed) vs target T_start·(1−f)^γ (dashed)")
    ax[1].set(xlabel="γ", ylabel="test error (%)", xscale="log", title="test error by γ (range over seeds)")
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "gamma.png", dpi=110)
    plt.close(fig)

    lines = ["## 2. γ sweep of the power curve", "",
             "Target `T(f) = 3.17·(1 − f)^γ`: larger γ cools earlier, smaller γ stays hot longer.", "",
             "| γ | test error % (range) | tracking error (bit) |", "|---|---|---|"]
    lines += [f"| {g:g} | {rows[g]['error']} | {rows[g]['tracking']} |" for g in gammas]
    claim = {True: "smaller γ (hotter for longer) gave lower error here, as the paper reports",
             False: "smaller γ (hotter for longer) did *not* give lower error here, unlike the paper",
             None: "too few runs to say"}[hotter_helps]
    lines += ["", f"Spearman ρ(γ, error) = {rho:+.2f}: {claim}. " + (
        "With two seeds per γ, differences below the seed range are noise." if len(gammas) > 1 else ""),
        "", "![gamma](gamma.png)", ""]
    return lines


def section_linearity(runs: list[Run], out: Path, figures: dict) -> list[str]:
    group = [r for r in runs if r.group == "schedules" and r.label == "onecycle"]
    if not group:
        return ["## 3. Temperature under 1-cycle", "", "No finished runs.", ""]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    results = []
    for r in sorted(group, key=lambda r: r.seed):
        m = _measured(r)
        f = m["step"].to_numpy() / float(r.summary.get("total_steps") or len(r.steps))
        t = m["mean_temperature"].to_numpy()
        r2, a, b = linear_r2(f, t)
        warm = float(r.config.get("onecycle_pct_start", 0.3))
        r2_after, _, _ = linear_r2(f[f >= warm], t[f >= warm])
        results.append({"seed": r.seed, "r2": r2, "slope_bits_per_run": b, "r2_after_warmup": r2_after})
        ax.plot(f, t, ".", ms=2, alpha=0.5, label=f"seed {r.seed}: measured")
        ax.plot(f, a + b * f, "-", lw=1.5, label=f"seed {r.seed}: linear fit, R²={r2:.2f}")
    ax.axvline(warm, color="k", ls=":", lw=1)
    ax.set(xlabel="fraction of training", ylabel="mean temperature (bits)",
           title="1-cycle: measured T̄ and a straight line (dotted: end of warm-up)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "onecycle_linearity.png", dpi=110)
    plt.close(fig)
    r2 = spread([x["r2"] for x in results])
    slope = spread([x["slope_bits_per_run"] for x in results])
    ok = bool(r2.mean >= R2_GOAL and slope.mean < 0) if r2.n else None
    figures["onecycle_linearity"] = {"per_seed": results, "goal": f"R2 >= {R2_GOAL}, falling", "ok": ok}
    lines = ["## 3. Temperature under 1-cycle falls roughly linearly (paper §3.2)", "",
             "| seed | R² (whole run) | slope (bits per run) | R² after warm-up |", "|---|---|---|---|"]
    lines += [f"| {x['seed']} | {x['r2']:.3f} | {x['slope_bits_per_run']:+.2f} | {x['r2_after_warmup']:.3f} |"
              for x in results]
    lines += ["", f"Goal: R² ≥ {R2_GOAL} with a negative slope → {_verdict(ok)}.", "",
              "![1-cycle linearity](onecycle_linearity.png)", ""]
    return lines


def section_depth(runs: list[Run], out: Path, figures: dict) -> list[str]:
    group = [r for r in runs if r.group == "schedules"]
    if not group:
        return ["## 4. Deeper layers are hotter", "", "No finished runs.", ""]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    result = {}
    for s in NAMES:
        rs = [r for r in group if r.label == s]
        if not rs:
            continue
        per_run = []
        for r in rs:
            names, _, temps = r.sites
            per_run.append(np.nanmean(temps, axis=1) if temps.size else np.full(len(names), np.nan))
        mean = np.nanmean(np.vstack(per_run), axis=0)
        depth = np.arange(len(mean))
        rho = rank_correlation(depth, mean)
        result[s] = {"sites": names, "mean_temperature": [float(v) for v in mean], "spearman_depth": rho}
        ax.plot(depth, mean, "o-", color=COLORS[s], label=f"{NAMES[s]} (ρ={rho:+.2f})")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set(xlabel="ReLU site, input → output", ylabel="temperature averaged over training (bits)",
           title="per-site temperature by depth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "depth.png", dpi=110)
    plt.close(fig)
    rhos = [v["spearman_depth"] for v in result.values() if np.isfinite(v["spearman_depth"])]
    ok = bool(np.mean(rhos) >= DEPTH_GOAL) if rhos else None
    figures["depth"] = {"by_schedule": result, "goal": f"mean Spearman rho >= {DEPTH_GOAL}", "ok": ok}
    lines = ["## 4. Deeper layers are hotter", "",
             "Per-site temperature averaged over each run's measured steps (and over seeds), by depth.", "",
             "| schedule | " + " | ".join(names) + " | Spearman ρ |", "|---" * (len(names) + 2) + "|"]
    for s, v in result.items():
        lines.append(f"| {NAMES[s]} | " + " | ".join(f"{t:.2f}" for t in v["mean_temperature"])
                     + f" | {v['spearman_depth']:+.2f} |")
    lines += ["", f"Goal: mean ρ(depth, temperature) ≥ {DEPTH_GOAL} → {_verdict(ok)}.", "",
              "![depth](depth.png)", ""]
    return lines


def section_fits(runs: list[Run], out: Path, figures: dict) -> list[str]:
    group = [r for r in runs if r.group in ("schedules", "gamma")]
    fits = pd.concat([r.fits.assign(run=r.key) for r in group if not r.fits.empty], ignore_index=True) \
        if group else pd.DataFrame()
    if fits.empty:
        return ["## 5. Hypothesis 1: the Gaussian-CDF fits", "", "No LR scans were fitted.", ""]
    scans = pd.concat([r.scans.assign(run=r.key) for r in group if not r.scans.empty], ignore_index=True)
    n_curves = scans.groupby(["run", "step", "site"]).ngroups
    rmse = fits["rmse"].to_numpy()
    mean_rmse = fits.loc[fits["site"] == "mean", "rmse"].to_numpy()
    drift = {}
    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    for s in ("onecycle", "step"):
        r = min((r for r in group if r.group == "schedules" and r.label == s), key=lambda r: r.seed, default=None)
        if r is None:
            continue
        f = r.fits[r.fits["site"] == "mean"].sort_values("step")
        lr_at = r.steps.set_index("step")["lr"].reindex(f["step"]).to_numpy()
        total = float(r.summary.get("total_steps") or len(r.steps))
        drift[s] = {"sigma_cv": relative_variation(f["sigma"]),
                    "sigma_range": [float(f["sigma"].min()), float(f["sigma"].max())],
                    "mu_range": [float(f["mu"].min()), float(f["mu"].max())],
                    "spearman_mu_vs_ln_lr": rank_correlation(f["mu"], np.log(lr_at)),
                    "scans": int(len(f))}
        ax[1].plot(f["step"] / total, np.exp(f["mu"]), "o-", color=COLORS[s], label=f"{NAMES[s]}: e^μ")
        ax[1].plot(r.fraction, r.steps["lr"], "-", color=COLORS[s], alpha=0.4, label=f"{NAMES[s]}: rate used")
        ax[2].plot(f["step"] / total, f["sigma"], "o-", color=COLORS[s], label=NAMES[s])
    # One scan with its fit, the mean over sites, from the middle of the 1-cycle run.
    example = min((r for r in group if r.label == "onecycle"), key=lambda r: r.seed, default=group[0])
    mean_scan = example.scans[example.scans["site"] == "mean"]
    if not mean_scan.empty:
        steps = sorted(mean_scan["step"].unique())
        st = steps[len(steps) // 2]
        pts = mean_scan[mean_scan["step"] == st].sort_values("rate")
        ax[0].semilogx(pts["rate"], pts["probability"], "o", label=f"measured P̄, step {st}")
        fit = example.fits[(example.fits["step"] == st) & (example.fits["site"] == "mean")]
        if not fit.empty:
            from actcool import change_probability

            grid = np.logspace(np.log10(pts["rate"].min()), np.log10(pts["rate"].max()), 200)
            mu, sig = float(fit["mu"].iloc[0]), float(fit["sigma"].iloc[0])
            ax[0].semilogx(grid, change_probability(grid, mu, sig), "-",
                           label=f"Φ((ln λ − μ)/σ): e^μ={np.exp(mu):.3g}, σ={sig:.2f}")
    ax[0].set(xlabel="learning rate λ", ylabel="P(change)", title=f"an LR range scan and its fit ({NAMES.get(example.label, example.label)})")
    ax[1].set(xlabel="fraction of training", ylabel="learning rate", yscale="log", title="critical rate e^μ vs the rate used")
    ax[2].set(xlabel="fraction of training", ylabel="σ (ln units)", title="σ over training")
    for a in ax:
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fits.png", dpi=110)
    plt.close(fig)
    fitted = len(fits)
    ok_rmse = bool(np.median(rmse) <= RMSE_GOAL)
    ok_sigma = all(v["sigma_cv"] <= SIGMA_CV_GOAL for v in drift.values()) if drift else None
    figures["fits"] = {"curves": n_curves, "fitted": fitted, "rmse_median": float(np.median(rmse)),
                       "rmse_p90": float(np.percentile(rmse, 90)), "rmse_max": float(rmse.max()),
                       "rmse_mean_site_median": float(np.median(mean_rmse)) if mean_rmse.size else None,
                       "rmse_goal": f"median <= {RMSE_GOAL}", "rmse_ok": ok_rmse, "drift": drift,
                       "sigma_goal": f"std/mean <= {SIGMA_CV_GOAL}", "sigma_ok": ok_sigma}
    lines = ["## 5. Hypothesis 1: P(λ) = Φ((ln λ − μ)/σ) fits the LR range scans (paper §3.3)", "",
             f"{n_curves} scan curves (per site and the mean, every LR range scan of the "
             f"{group[0].config['model']}/{group[0].config['dataset'].split('/')[-1]} runs); "
             f"{fitted} had enough signal to fit (the rest were all 0 or all 1).", "",
             f"RMSE of the fits in probability units: median **{np.median(rmse):.4f}**, 90th percentile "
             f"{np.percentile(rmse, 90):.4f}, max {rmse.max():.4f}"
             + (f"; for the mean over sites, median {np.median(mean_rmse):.4f}" if mean_rmse.size else "")
             + f". Goal: median ≤ {RMSE_GOAL} → {_verdict(ok_rmse)}.", "",
             "| schedule | scans | σ range | σ std/mean | e^μ range | Spearman ρ(μ, ln rate used) |",
             "|---|---|---|---|---|---|"]
    for s, v in drift.items():
        lines.append(f"| {NAMES[s]} | {v['scans']} | {v['sigma_range'][0]:.2f}–{v['sigma_range'][1]:.2f} | "
                     f"{v['sigma_cv']:.2f} | {np.exp(v['mu_range'][0]):.3g}–{np.exp(v['mu_range'][1]):.3g} | "
                     f"{v['spearman_mu_vs_ln_lr']:+.2f} |")
    lines += ["", f"σ drifts little if its std/mean ≤ {SIGMA_CV_GOAL} → {_verdict(ok_sigma)}. "
              "μ following the schedule shows as a positive ρ(μ, ln rate).", "", "![fits](fits.png)", ""]
    return lines


def section_cifar(runs: list[Run], out: Path, figures: dict) -> list[str]:
    group = [r for r in runs if r.group == "cifar"]
    if not group:
        return ["## 6. ResNet-20 on CIFAR-10", "", "No finished runs.", ""]
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    rows = {}
    for r in group:
        m = _measured(r)
        total = float(r.summary.get("total_steps") or len(r.steps))
        rows[r.label] = {"test_error": r.test_error, "wall_seconds": r.wall,
                         "tracking_bits": tracking_error(r.steps) if r.label == "actcool" else None}
        ax[0].plot(r.fraction, r.steps["lr"], color=COLORS[r.label], label=NAMES[r.label])
        ax[1].plot(m["step"] / total, smooth(m["mean_temperature"], 5), color=COLORS[r.label], label=NAMES[r.label])
        if r.label == "actcool":
            ax[1].plot(m["step"] / total, m["target_temperature"], "k--", lw=1, label="target")
    ax[0].set(xlabel="fraction of training", ylabel="learning rate", yscale="log")
    ax[1].set(xlabel="fraction of training", ylabel="mean temperature (bits)")
    for a in ax:
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cifar.png", dpi=110)
    plt.close(fig)
    gap = (rows["actcool"]["test_error"] - rows["onecycle"]["test_error"]
           if {"actcool", "onecycle"} <= rows.keys() else float("nan"))
    ok = bool(gap <= GAP_GOAL) if np.isfinite(gap) else None
    figures["cifar"] = {"runs": rows, "actcool_gap_points": gap, "goal": f"<= {GAP_GOAL}", "ok": ok}
    cfg = group[0].config
    lines = ["## 6. ResNet-20 on CIFAR-10 (short)", "",
             f"{cfg['model']}, {cfg['epochs']} epochs at batch {cfg['batch_size']}, seed {group[0].seed}, "
             "random crop + flip, rate 0.05 (1-cycle peak; ActCoolLR's start).", "",
             "| schedule | test error % | wall time s | tracking error (bit) |", "|---|---|---|---|"]
    for s, v in rows.items():
        t = v["tracking_bits"]
        lines.append(f"| {NAMES[s]} | {v['test_error']:.2f} | {v['wall_seconds']:.0f} | "
                     f"{f'{t:.3f}' if t is not None else '–'} |")
    lines += ["", f"ActCoolLR − 1-cycle: **{gap:+.2f} points** (goal ≤ {GAP_GOAL}) → {_verdict(ok)}. "
              "One seed: differences of a point are within seed noise at this budget.", "",
              "![cifar](cifar.png)", ""]
    return lines


# ----------------------------------------------------------------------------- the report
def _machine() -> str:
    import torch

    return (f"{platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{os.cpu_count()} CPU cores, {'CUDA' if torch.cuda.is_available() else 'no GPU'}")


def write_report(store, runs, found: dict[str, dict], out: Path, quick: bool = False,
                 train_seconds: float | None = None) -> Path:
    """Write ``REPORT.md``, the PNGs and ``results.json`` under ``out``; return the report path."""
    out.mkdir(parents=True, exist_ok=True)
    loaded, missing = load_runs(store, runs, found)
    figures: dict[str, Any] = {}
    body: list[str] = []
    for section in (section_schedules, section_gamma, section_linearity, section_depth,
                    section_fits, section_cifar):
        body += section(loaded, out, figures)
    total_wall = sum(r.wall for r in loaded if np.isfinite(r.wall))
    head = [
        "# ActCool: the paper's claims at CPU scale" + (" (quick pipeline check, digits)" if quick else ""),
        "",
        f"Written by `python -m benchmarks.reproduce{' --quick' if quick else ''}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({_machine()}). "
        f"{len(loaded)} of {len(runs)} planned runs finished; their training took {total_wall / 60:.1f} min"
        + (f" (this invocation: {train_seconds / 60:.1f} min)" if train_seconds is not None else "")
        + ". Every run is in the store, so the dashboard's Compare page shows them (tag `reproduce`).",
        "",
    ]
    if quick:
        head += ["This is the `--quick` miniature on scikit-learn digits: it checks the pipeline; its numbers "
                 "say nothing about the paper.", ""]
    if missing:
        head += ["Missing runs (rerun the script to train or resume them):", ""] + [f"- {m}" for m in missing] + [""]
    verdicts = _summary_table(figures)
    text = "\n".join(head + verdicts + body)
    (out / "REPORT.md").write_text(text)
    (out / "results.json").write_text(json.dumps(
        {"figures": figures, "runs": {r.key: {"id": r.id, "test_error": r.test_error, "wall_seconds": r.wall}
                                      for r in loaded}, "missing": missing}, indent=1, default=_json))
    return out / "REPORT.md"


def _summary_table(figures: dict) -> list[str]:
    rows = []

    def add(claim: str, value: str, goal: str, ok: bool | None) -> None:
        rows.append(f"| {claim} | {value} | {goal} | {'✅' if ok else '❌' if ok is False else '–'} |")

    if "schedules" in figures:
        f = figures["schedules"]
        add("ActCoolLR vs best baseline (Fashion-MNIST)", f"{f['actcool_gap_points']:+.2f} points", f["goal"], f["ok"])
    if "gamma" in figures:
        f = figures["gamma"]
        add("hotter for longer (smaller γ) helps", f"ρ(γ, error) = {f['spearman_gamma_vs_error']:+.2f}", "ρ < 0",
            f["hotter_longer_helps"])
    if "onecycle_linearity" in figures:
        f = figures["onecycle_linearity"]
        add("T̄ falls linearly under 1-cycle", "R² = " + ", ".join(f"{x['r2']:.2f}" for x in f["per_seed"]),
            f["goal"], f["ok"])
    if "depth" in figures:
        f = figures["depth"]
        rhos = [v["spearman_depth"] for v in f["by_schedule"].values()]
        add("deeper layers are hotter", f"mean ρ = {np.nanmean(rhos):+.2f}", f["goal"], f["ok"])
    if "fits" in figures:
        f = figures["fits"]
        add("Gaussian-CDF fits the scans", f"median RMSE {f['rmse_median']:.4f}", f["rmse_goal"], f["rmse_ok"])
        cvs = ", ".join(f"{NAMES[s]} {v['sigma_cv']:.2f}" for s, v in f["drift"].items())
        add("σ drifts little", cvs or "–", f["sigma_goal"], f["sigma_ok"])
    if "cifar" in figures:
        f = figures["cifar"]
        add("ActCoolLR vs 1-cycle (ResNet-20/CIFAR-10)", f"{f['actcool_gap_points']:+.2f} points", f["goal"], f["ok"])
    return ["| claim | measured | goal | verdict |", "|---|---|---|---|", *rows, ""]


def _json(x: Any) -> Any:
    if isinstance(x, Spread):
        return x.__dict__
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
