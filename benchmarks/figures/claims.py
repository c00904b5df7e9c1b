"""The paper's claims on the main setup at unit:64 (section 6): T̄ linear under 1-cycle, deeper
layers hotter, the response model of a range scan, σ and μ over training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import at_most, linear_r2, rank_correlation, relative_variation, smooth
from .runs import SMOOTH, Run, _all_or_none, _missing, _num, best_onecycle_keys

R2_GOAL = 0.8  # "roughly linear"
DEPTH_GOAL = 0.5  # Spearman ρ(site index, time-averaged site temperature)
RMSE_GOAL = 0.05  # median Gaussian-CDF fit RMSE, probability units
SIGMA_CV_GOAL = 0.25  # σ "drifts little": std/mean over training
MU_GOAL = 0.5  # μ "follows the schedule": Spearman ρ(μ, ln rate used)


def linearity(run: Run) -> dict[str, Any]:
    """R² of a straight line through T̄ under 1-cycle: from the end of warm-up to 90% of training
    on the moving average of T̄ (the claim), and over the whole run on the raw measurements."""
    m = run.measured()
    f, t = m["fraction"].to_numpy(), m["mean_temperature"].to_numpy()
    ts = smooth(t, SMOOTH)
    warm = float(run.config.get("onecycle_pct_start", 0.3))
    mid = (f >= warm) & (f <= 0.9)
    r2_mid, a_mid, b_mid = linear_r2(f[mid], ts[mid])
    r2, a, b = linear_r2(f, t)
    return {
        "key": run.key,
        "seed": run.seed,
        "rate": run.lr,
        "warmup_end": warm,
        "r2_warmup_to_90pct_smoothed": _num(r2_mid),
        "slope_warmup_to_90pct": _num(b_mid),
        "intercept_warmup_to_90pct": _num(a_mid),
        "points_warmup_to_90pct": int(mid.sum()),
        "r2_whole_run": _num(r2),
        "slope_whole_run": _num(b),
        "peak_bits": _num(np.nanmax(ts)) if ts.size else None,
        "end_bits": _num(np.nanmean(t[f > 0.95])) if (f > 0.95).any() else None,
    }


def depth(run: Run) -> dict[str, Any]:
    """Spearman ρ(site index, time-averaged site temperature) of one run."""
    temps = run.site_temperatures
    mean = np.nanmean(temps, axis=1) if temps.size else np.full(len(run.site_names), np.nan)
    return {
        "key": run.key,
        "label": run.label,
        "sites": list(run.site_names),
        "mean_temperature": [_num(v) for v in mean],
        "spearman": _num(rank_correlation(np.arange(len(mean)), mean)),
    }


def fit_comparison(fit_rows: pd.DataFrame) -> dict[str, Any]:
    """Gaussian CDF vs Weibull on the same scans: medians of each model's RMSE over the
    (run, step, site) curves that both fitted, which is lower and by what factor, the share of
    those curves where Weibull wins, and per model how many curves it fitted or refused."""
    out: dict[str, Any] = {"fitted": {}, "not_fitted": {}}
    if fit_rows.empty:
        return {
            **out,
            "paired": 0,
            "median_rmse": {"gaussian": None, "weibull": None},
            "better": None,
            "ratio": None,
            "weibull_wins_share": None,
        }
    rows = fit_rows.copy()
    rows["model"] = rows["model"].fillna("gaussian")
    for model in ("gaussian", "weibull"):
        mine = rows[rows["model"] == model]
        out["fitted"][model] = int(np.isfinite(mine["rmse"].astype(float)).sum())
        out["not_fitted"][model] = int((~np.isfinite(mine["rmse"].astype(float))).sum())
    key = ["run", "step", "site"]
    g = rows[rows["model"] == "gaussian"].dropna(subset=["rmse"]).set_index(key)["rmse"]
    w = rows[rows["model"] == "weibull"].dropna(subset=["rmse"]).set_index(key)["rmse"]
    both = pd.concat([g.rename("gaussian"), w.rename("weibull")], axis=1, join="inner").dropna()
    med = {m: _num(both[m].median()) if len(both) else None for m in ("gaussian", "weibull")}
    better = None
    ratio = None
    if (
        med["gaussian"] is not None
        and med["weibull"] is not None
        and med["gaussian"] != med["weibull"]
    ):
        better = "weibull" if med["weibull"] < med["gaussian"] else "gaussian"
        worse = "gaussian" if better == "weibull" else "weibull"
        ratio = _num(med[worse] / med[better]) if med[better] > 0 else None
    return {
        **out,
        "paired": int(len(both)),
        "median_rmse": med,
        "better": better,
        "ratio": ratio,
        "weibull_wins_share": _num((both["weibull"] < both["gaussian"]).mean())
        if len(both)
        else None,
    }


def drift(run: Run) -> dict[str, Any]:
    """Over the LR range scans of one run (the fit of the mean over sites): σ's std/mean and
    ρ(μ, ln rate used) for the Gaussian CDF; k's std/mean and ρ(ln λ0, ln rate used) for Weibull."""
    fits = run.fits
    out: dict[str, Any] = {"key": run.key, "label": run.label, "scans": 0}
    if fits.empty:
        return {
            **out,
            "sigma_cv": None,
            "spearman_mu_ln_lr": None,
            "k_cv": None,
            "spearman_ln_lambda0_ln_lr": None,
            "mu": [],
            "sigma": [],
            "lr": [],
            "fraction": [],
        }
    mean = fits[fits["site"] == "mean"]
    model = mean["model"].fillna("gaussian")
    g = mean[model == "gaussian"].dropna(subset=["mu", "sigma"]).sort_values("step")
    w = mean[model == "weibull"].dropna(subset=["lambda0", "k"]).sort_values("step")
    lr = run.steps.drop_duplicates("step").set_index("step")["lr"]
    lr_g = lr.reindex(g["step"]).to_numpy(dtype=float)
    lr_w = lr.reindex(w["step"]).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            **out,
            "scans": int(len(g)),
            "sigma_cv": _num(relative_variation(g["sigma"])),
            "sigma_range": [_num(g["sigma"].min()), _num(g["sigma"].max())] if len(g) else None,
            "spearman_mu_ln_lr": _num(rank_correlation(g["mu"], np.log(lr_g))),
            "k_cv": _num(relative_variation(w["k"])),
            "spearman_ln_lambda0_ln_lr": _num(
                rank_correlation(np.log(w["lambda0"].astype(float)), np.log(lr_w))
            ),
            "mu": [_num(v) for v in g["mu"]],
            "sigma": [_num(v) for v in g["sigma"]],
            "lr": [_num(v) for v in lr_g],
            "fraction": [_num(v) for v in g["step"].to_numpy() / run.total_steps],
        }


def claims(runs: dict[str, Run], plan: Sequence, base: dict[str, Any]) -> dict[str, Any]:
    """The paper's claims on Fashion-MNIST at the default measure (unit:64)."""
    lin = [linearity(runs[k]) for k in best_onecycle_keys(runs, plan)]
    r2s = [x["r2_warmup_to_90pct_smoothed"] for x in lin]
    lin_ok = (
        None
        if not lin or any(v is None for v in r2s)
        else bool(
            np.mean(r2s) >= R2_GOAL and all((x["slope_warmup_to_90pct"] or 0) < 0 for x in lin)
        )
    )

    depth_runs = [runs[v["best_key"]] for v in base["schedules"].values() if v["best_key"] in runs]
    dep = [depth(r) for r in depth_runs]
    rhos = [d["spearman"] for d in dep if d["spearman"] is not None]
    depth_ok = bool(np.mean(rhos) >= DEPTH_GOAL) if rhos else None

    fm = [r for r in runs.values() if r.group != "cifar" and not r.fits.empty]
    rows = (
        pd.concat([r.fits.assign(run=r.key) for r in fm], ignore_index=True)
        if fm
        else pd.DataFrame(columns=["run", "step", "site", "model", "rmse"])
    )
    fits = fit_comparison(rows)
    g_med = fits["median_rmse"]["gaussian"]
    fits["gaussian_ok"] = at_most(g_med, RMSE_GOAL)
    fits["weibull_better"] = None if fits["better"] is None else fits["better"] == "weibull"

    drifts = {}
    for s in ("onecycle", "step"):
        k = base["schedules"].get(s, {}).get("best_key")
        if k in runs:
            drifts[s] = drift(runs[k])
    cvs = [d["sigma_cv"] for d in drifts.values()]
    sigma_ok = _all_or_none([at_most(v, SIGMA_CV_GOAL) for v in cvs]) if cvs else None
    mus = [d["spearman_mu_ln_lr"] for d in drifts.values()]
    mu_ok = None if not mus or any(v is None for v in mus) else bool(min(mus) >= MU_GOAL)
    return {
        "linearity": {
            "runs": lin,
            "goal": R2_GOAL,
            "ok": lin_ok,
            "mean_r2": _num(np.mean(r2s)) if r2s and None not in r2s else None,
        },
        "depth": {
            "runs": dep,
            "goal": DEPTH_GOAL,
            "ok": depth_ok,
            "mean_spearman": _num(np.mean(rhos)) if rhos else None,
        },
        "fits": {**fits, "goal": RMSE_GOAL},
        "drift": {
            "runs": drifts,
            "sigma_goal": SIGMA_CV_GOAL,
            "sigma_ok": sigma_ok,
            "mu_goal": MU_GOAL,
            "mu_ok": mu_ok,
        },
        "missing": _missing(["best/onecycle/seed1"], runs)
        + [k for v in base["schedules"].values() for k in v["missing"]],
    }
