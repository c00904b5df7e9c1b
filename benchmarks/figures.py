"""The numbers of the reproduction report: loaded runs in, plain dicts of numbers and verdicts out.

No store, no plots, no sentences: :mod:`benchmarks.report` loads the runs of the plan of
:mod:`benchmarks.plan` into :class:`Run` objects, calls :func:`compute`, and renders what
comes back (``REPORT.md``, the PNGs, ``results.json``). Every function here accepts a partial
reproduction: a section whose runs are missing gets ``None`` numbers and verdicts, and lists
the plan keys it is waiting for under ``"missing"``.

A verdict is ``True`` (goal met), ``False`` (missed) or ``None`` (not enough data to say).
The statistics come from :mod:`benchmarks.analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .analysis import (
    at_most,
    best_of,
    beyond_noise,
    linear_r2,
    out_of_reach,
    rank_correlation,
    relative_tracking_error,
    relative_variation,
    smooth,
    spread,
)
from .control import tracking_error
from .plan import AUTO, BASELINES, CALIBRATIONS, GAMMAS, SEEDS

GAP_GOAL = 0.3  # points of test error ActCoolLR (no tuning) may trail the best tuned baseline
REPLAY_GOAL = 0.3  # points a replay may trail the 1-cycle it replays (Fashion-MNIST)
CIFAR_REPLAY_GOAL = 1.0  # the same on CIFAR-10 (one seed, noisier)
CIFAR_GAP_GOAL = 2.0  # ActCoolLR default vs the best 1-cycle on CIFAR-10
TRACKING_GOAL = 0.3  # mean |T̄ − C| / mean C over 10-90% of training
TRACKING_WINDOW = 5  # measurements in the moving average of the smoothed tracking figure
# Fewer measurements than this and the average's window reaches across much of the run (and into
# its first 10%): no smoothed figure then.
TRACKING_MIN_MEASUREMENTS = 4 * TRACKING_WINDOW
R2_GOAL = 0.8  # "roughly linear"
DEPTH_GOAL = 0.5  # Spearman ρ(site index, time-averaged site temperature)
RMSE_GOAL = 0.05  # median Gaussian-CDF fit RMSE, probability units
SIGMA_CV_GOAL = 0.25  # σ "drifts little": std/mean over training
MU_GOAL = 0.5  # μ "follows the schedule": Spearman ρ(μ, ln rate used)
SMOOTH = 5  # measurements in the moving average of the T̄ curves (linearity, plots)


@dataclass
class Run:
    """A finished run of the plan with what the report reads from the store."""

    key: str
    group: str
    label: str
    seed: int
    id: str
    summary: dict
    config: dict
    steps: pd.DataFrame
    fits: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    site_names: list[str] = field(default_factory=list, repr=False)
    site_temperatures: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    replay_of: str | None = None

    @property
    def lr(self) -> float:
        return float(self.config.get("lr", float("nan")))

    @property
    def test_error(self) -> float:
        v = self.summary.get("test_error")
        return float(v) if v is not None else float("nan")

    @property
    def wall(self) -> float:
        v = self.summary.get("wall_time")
        return float(v) if v is not None else float("nan")

    @property
    def total_steps(self) -> float:
        total = self.summary.get("total_steps")
        if total:
            return float(total)
        return float(self.steps["step"].max() + 1) if len(self.steps) else float("nan")

    def measured(self) -> pd.DataFrame:
        """The measured steps with their fraction of training."""
        m = self.steps.dropna(subset=["mean_temperature"]).sort_values("step")
        return m.assign(fraction=m["step"].to_numpy() / self.total_steps)


# ----------------------------------------------------------------------------- helpers
def stat(by_seed: dict[int, float]) -> dict[str, Any]:
    """Mean and range over seeds, with the values per seed (JSON keys are strings)."""
    s = spread(list(by_seed.values()))
    return {
        "mean": _num(s.mean),
        "low": _num(s.low),
        "high": _num(s.high),
        "n": s.n,
        "by_seed": {str(k): _num(v) for k, v in sorted(by_seed.items())},
    }


def _spread_of(st: dict[str, Any]):
    return spread([v for v in st["by_seed"].values() if v is not None])


def _num(v: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _missing(keys: Iterable[str], runs: dict[str, Run]) -> list[str]:
    return [k for k in keys if k not in runs]


def _same_rate(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def _grid(plan: Sequence, group: str, label: str, seed: int = 0) -> list:
    return sorted(
        (p for p in plan if p.group == group and p.label == label and p.seed == seed),
        key=lambda p: p.config.lr,
    )


def _all_or_none(values: list[bool | None]) -> bool | None:
    """True if every verdict is True, False if any is False, else None."""
    if any(v is False for v in values):
        return False
    if values and all(v is True for v in values):
        return True
    return None


def setup_name(config) -> str:
    """``model/dataset`` of a planned config, the dataset without its path (``cifar10-jpeg``
    read as cifar10)."""
    dataset = (
        config.dataset.split(":")[-1].rstrip("/").split("/")[-1].replace("cifar10-jpeg", "cifar10")
    )
    return f"{config.model}/{dataset}"


def setups(plan: Sequence) -> dict[str, str | None]:
    """The two setups of the plan: the main one (the rate grids) and the deeper one (cifar)."""
    main = next((p for p in plan if p.group == "grid"), None)
    deep = next((p for p in plan if p.group == "cifar"), None)
    return {
        "main": setup_name(main.config) if main else None,
        "cifar": setup_name(deep.config) if deep else None,
    }


def expected_keys(plan: Sequence) -> dict[str, str]:
    """Every key the full reproduction will have, by group: the plan's, plus the dependent runs
    it plans only once their grid has finished (best rates with seed 1, the replays)."""
    keys = {p.key: p.group for p in plan}
    for s in BASELINES:
        keys.setdefault(f"best/{s}/seed1", "best")
    for seed in SEEDS:
        keys.setdefault(f"replay/onecycle/seed{seed}", "replay")
    keys.setdefault("cifar/replay/seed0", "cifar")
    return keys


def grid_best(runs: dict[str, Run], plan: Sequence, group: str, label: str) -> dict[str, Any]:
    """A seed-0 rate grid: test error per planned rate, the best rate so far and its run key,
    whether the grid is complete and whether the best rate sits at an end of the grid."""
    grid = _grid(plan, group, label)
    errors = {p.config.lr: runs[p.key].test_error for p in grid if p.key in runs}
    best = best_of(errors)
    rates = [p.config.lr for p in grid]
    return {
        "rates": rates,
        "test_error": {f"{lr:g}": _num(errors.get(lr)) for lr in rates},
        "complete": bool(rates) and len(errors) == len(rates),
        "best_rate": best,
        "best_key": next(
            (p.key for p in grid if best is not None and _same_rate(p.config.lr, best)), None
        ),
        "best_error": _num(errors.get(best)) if best is not None else None,
        "at_edge": (
            best is not None
            and len(rates) > 1
            and (_same_rate(best, rates[0]) or _same_rate(best, rates[-1]))
        ),
        "missing": _missing([p.key for p in grid], runs),
    }


def best_onecycle_keys(runs: dict[str, Run], plan: Sequence) -> list[str]:
    """The 1-cycle runs at the best grid rate on Fashion-MNIST: seed 0 (grid) and seed 1 (best)."""
    g = grid_best(runs, plan, "grid", "onecycle")
    keys = [g["best_key"]] if g["best_key"] in runs else []
    seed1 = runs.get("best/onecycle/seed1")
    if seed1 is not None and g["best_rate"] is not None and _same_rate(seed1.lr, g["best_rate"]):
        keys.append(seed1.key)
    return keys


# ----------------------------------------------------------------------------- 1. baselines
def baselines(runs: dict[str, Run], plan: Sequence) -> dict[str, Any]:
    """Each baseline's grid (seed 0), its best rate, and the mean over seeds 0 and 1 there.

    Verdict ``grid_ok``: every grid is complete and no best rate sits at an end of the grid
    (else a better rate may lie outside it, and the baseline was not given its best chance).
    """
    schedules: dict[str, Any] = {}
    missing: list[str] = []
    for s in BASELINES:
        g = grid_best(runs, plan, "grid", s)
        missing += g["missing"]
        by_seed: dict[int, float] = {}
        if g["best_error"] is not None:
            by_seed[0] = g["best_error"]
        seed1 = runs.get(f"best/{s}/seed1")
        if seed1 is None:
            missing.append(f"best/{s}/seed1")
        elif g["best_rate"] is not None and _same_rate(seed1.lr, g["best_rate"]):
            by_seed[1] = seed1.test_error
        schedules[s] = {**g, "at_best": stat(by_seed)}
    means = {s: v["at_best"]["mean"] for s, v in schedules.items()}
    best = best_of(means)
    grids = [v for v in schedules.values() if v["rates"]]
    grid_ok = (
        None
        if not grids or not all(v["complete"] for v in grids)
        else not any(v["at_edge"] for v in grids)
    )
    tuned = [s for s, v in schedules.items() if v["complete"] and v["at_best"]["n"] >= 2]
    return {
        "schedules": schedules,
        "best_baseline": best,
        "best_mean": means.get(best) if best else None,
        "best_n": schedules[best]["at_best"]["n"] if best else 0,
        "grid_ok": grid_ok,
        "missing": missing,
        # every baseline tuned (complete grid, best rate with 2 seeds): only then is "the
        # best tuned baseline" final, and a verdict against it more than provisional
        "tuned": tuned,
        "all_tuned": len(tuned) == len(schedules),
    }


# ----------------------------------------------------------------------------- 2. no tuning
def no_tuning(runs: dict[str, Run], base: dict[str, Any]) -> dict[str, Any]:
    """ActCoolLR's default (no tuning) per calibration, mean over seeds, against the best tuned
    baseline's mean; and which calibration did better, with the seed noise."""
    ref = base["best_mean"]
    cals: dict[str, Any] = {}
    missing: list[str] = []
    for cal in CALIBRATIONS:
        keys = [f"actcool/{cal}/seed{s}" for s in SEEDS]
        missing += _missing(keys, runs)
        got = [runs[k] for k in keys if k in runs]
        err = stat({r.seed: r.test_error for r in got})
        gap = _diff(err["mean"], ref)
        cals[cal] = {
            "test_error": err,
            "gap_points": gap,
            "ok": at_most(gap, GAP_GOAL) if base["all_tuned"] else None,
            "ok_against_tuned_so_far": at_most(gap, GAP_GOAL),
            "beats_best_baseline": None if gap is None else bool(gap < 0),
            "t_start_bits": {str(r.seed): _num(r.summary.get("t_start")) for r in got},
            "k": {str(r.seed): _num(r.summary.get("k")) for r in got},
            "response": sorted(
                {str(r.summary.get("response")) for r in got if r.summary.get("response")}
            ),
            "calibration": sorted(
                {str(r.summary.get("calibration")) for r in got if r.summary.get("calibration")}
            ),
            "median_lr": _num(np.median(np.concatenate([r.steps["lr"].to_numpy() for r in got])))
            if got
            else None,
        }
    a, b = cals["fixed"]["test_error"], cals["ramp"]["test_error"]
    diff = _diff(a["mean"], b["mean"])  # fixed − ramp: > 0 means ramp had the lower error
    better = None if diff is None or diff == 0 else ("ramp" if diff > 0 else "fixed")
    return {
        "best_baseline": base["best_baseline"],
        "best_baseline_error": ref,
        "best_baseline_n": base["best_n"],
        "goal_points": GAP_GOAL,
        "calibrations": cals,
        "provisional": not base["all_tuned"],
        "tuned_baselines": base["tuned"],
        "fixed_minus_ramp": diff,
        "better_calibration": better,
        "difference_beyond_seed_noise": beyond_noise(diff, _spread_of(a), _spread_of(b))
        if diff is not None
        else None,
        "ok": _all_or_none([c["ok"] for c in cals.values()]),
        "any_ok": (
            True
            if any(c["ok"] for c in cals.values())
            else None
            if all(c["ok"] is None for c in cals.values())
            else False
        ),
        "missing": missing,
    }


# ----------------------------------------------------------------------------- 3. replay
def _replay_pairs(runs: dict[str, Run], keys: list[str], goal: float) -> dict[str, Any]:
    pairs = []
    for k in keys:
        r = runs.get(k)
        src = runs.get(r.replay_of) if r is not None and r.replay_of else None
        if r is not None and src is not None:
            pairs.append(
                {
                    "seed": r.seed,
                    "replay": k,
                    "source": src.key,
                    "rate": src.lr,
                    "replay_error": r.test_error,
                    "source_error": src.test_error,
                    "gap_points": _num(r.test_error - src.test_error),
                }
            )
    rep = stat({p["seed"]: p["replay_error"] for p in pairs})
    src = stat({p["seed"]: p["source_error"] for p in pairs})
    gap = _diff(rep["mean"], src["mean"])
    return {
        "pairs": pairs,
        "replay_error": rep,
        "source_error": src,
        "gap_points": gap,
        "goal_points": goal,
        "ok": at_most(gap, goal),
        "missing": [k for k in keys if k not in runs]
        + [
            runs[k].replay_of
            for k in keys
            if k in runs and runs[k].replay_of and runs[k].replay_of not in runs
        ],
    }


def replay(runs: dict[str, Run]) -> dict[str, Any]:
    """ActCoolLR replaying the best 1-cycle's measured T̄ against that 1-cycle, per seed:
    Fashion-MNIST (seeds 0, 1) and CIFAR-10 (seed 0). Gap = mean(replay) − mean(source)."""
    fm = _replay_pairs(runs, [f"replay/onecycle/seed{s}" for s in SEEDS], REPLAY_GOAL)
    cifar = _replay_pairs(runs, ["cifar/replay/seed0"], CIFAR_REPLAY_GOAL)
    return {"fmnist": fm, "cifar": cifar, "missing": fm["missing"] + cifar["missing"]}


# ----------------------------------------------------------------------------- 4. tracking
def run_tracking(run: Run) -> dict[str, Any]:
    """Tracking of one ActCoolLR run: relative (raw and on a moving average, the latter only with
    at least :data:`TRACKING_MIN_MEASUREMENTS` measurements) and in bits; also the share of
    measurements the controller could not act on (rate at its ceiling while colder than the
    target, or at its floor while hotter) and the relative figure over the others."""
    m = run.measured()
    f, t = m["fraction"].to_numpy(), m["mean_temperature"].to_numpy()
    c = m["target_temperature"].to_numpy(dtype=float)
    lr_max = run.config.get("lr_max") or run.lr
    lr_min = run.config.get("lr_min") or 0.0
    pinned = out_of_reach(m["lr"].to_numpy(dtype=float), t, c, lr_min, lr_max)
    window = (f >= 0.1) & (f <= 0.9) & np.isfinite(c)
    return {
        "group": run.group,
        "label": run.label,
        "seed": run.seed,
        "relative": _num(relative_tracking_error(f, t, c)),
        "relative_smoothed": _num(relative_tracking_error(f, t, c, window=TRACKING_WINDOW))
        if len(m) >= TRACKING_MIN_MEASUREMENTS
        else None,
        "out_of_reach": _num(pinned[window].mean()) if window.any() else None,
        "relative_in_reach": _num(relative_tracking_error(f, t, c, keep=~pinned)),
        "absolute_bits": _num(tracking_error(run.steps)) if np.isfinite(c).any() else None,
        "mean_target_bits": _num(np.nanmean(c[(f >= 0.1) & (f <= 0.9)]))
        if np.isfinite(c[(f >= 0.1) & (f <= 0.9)]).any()
        else None,
        "measurements": int(len(m)),
    }


def tracking(runs: dict[str, Run]) -> dict[str, Any]:
    """Every ActCoolLR run's tracking error; verdicts: every run within the goal, raw and
    smoothed (the latter over the runs with enough measurements to average). ``median_raw_paired``
    is the raw median over the runs that have a smoothed figure, to compare like with like."""
    per = {k: run_tracking(r) for k, r in runs.items() if r.config.get("schedule") == "actcool"}
    raw = [v["relative"] for v in per.values()]
    sm = [v["relative_smoothed"] for v in per.values() if v["relative_smoothed"] is not None]
    paired = [v["relative"] for v in per.values() if v["relative_smoothed"] is not None]

    def verdict(values: list[float | None]) -> bool | None:
        return _all_or_none([at_most(v, TRACKING_GOAL) for v in values]) if values else None

    def median(values: list[float | None]) -> float | None:
        values = [v for v in values if v is not None]
        return _num(np.median(values)) if values else None

    return {
        "runs": per,
        "goal": TRACKING_GOAL,
        "window": TRACKING_WINDOW,
        "min_measurements_smoothed": TRACKING_MIN_MEASUREMENTS,
        "met_raw": sum(1 for v in raw if v is not None and v <= TRACKING_GOAL),
        "met_smoothed": sum(1 for v in sm if v is not None and v <= TRACKING_GOAL),
        "median_raw": median(raw),
        "median_smoothed": median(sm),
        "median_raw_paired": median(paired),
        "smoothed_runs": len(sm),
        "ok_raw": verdict(raw),
        "ok_smoothed": verdict(sm),
    }


# ----------------------------------------------------------------------------- 5. γ sweep
def gamma_keys() -> dict[float, str]:
    """The runs of the γ sweep, seed 0; γ = 1 is the default's run."""
    return {1.0: f"actcool/{AUTO}/seed0", **{g: f"gamma/{g:g}/seed0" for g in GAMMAS}}


def gamma(runs: dict[str, Run]) -> dict[str, Any]:
    """Error vs γ of the default's power-curve cool-down; Spearman ρ(γ, error) (< 0: hotter for
    longer helps); whether the spread of errors over γ exceeds the seed-to-seed difference of the
    γ = 1 run; and whether larger γ really ran hotter (ρ(γ, mean T̄ over 10–90% of training), and
    how far apart those means are, relative to their mean)."""
    keys = gamma_keys()
    got = {g: runs[k] for g, k in sorted(keys.items()) if k in runs}
    errors = {g: r.test_error for g, r in got.items()}
    hot = {}
    for g, r in got.items():
        m = r.measured()
        middle = m.loc[(m["fraction"] >= 0.1) & (m["fraction"] <= 0.9), "mean_temperature"]
        hot[g] = float(middle.mean()) if len(middle) else float("nan")
    gs = list(errors)
    rho = rank_correlation(gs, [errors[g] for g in gs])
    rho_hot = rank_correlation(gs, [hot[g] for g in gs])
    noise_runs = [runs.get(f"actcool/{AUTO}/seed{s}") for s in SEEDS]
    noise = (
        abs(noise_runs[0].test_error - noise_runs[1].test_error)
        if all(r is not None for r in noise_runs)
        else None
    )
    finite = [e for e in errors.values() if np.isfinite(e)]
    span = float(max(finite) - min(finite)) if len(finite) >= 2 else None
    beyond = None if span is None or noise is None else bool(span > noise)
    if not np.isfinite(rho):
        ok = None
    else:
        ok = bool(rho < 0) and beyond is not False
    best = best_of(errors)
    return {
        "test_error": {f"{g:g}": _num(e) for g, e in errors.items()},
        "mean_temperature": {f"{g:g}": _num(t) for g, t in hot.items()},
        "temperature_spread": _num((max(temps) - min(temps)) / np.mean(temps))
        if len(temps := [t for t in hot.values() if np.isfinite(t)]) >= 2
        else None,
        "spearman_gamma_error": _num(rho),
        "spearman_gamma_temperature": _num(rho_hot),
        "best_gamma": best,
        "error_span_points": _num(span),
        "seed_noise_points": _num(noise),
        "span_beyond_seed_noise": beyond,
        "ok": ok,
        "missing": _missing(keys.values(), runs),
    }


# ----------------------------------------------------------------------------- 6. claims
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


# ----------------------------------------------------------------------------- 7. CIFAR
def cifar(runs: dict[str, Run], plan: Sequence, rep: dict[str, Any]) -> dict[str, Any]:
    """ResNet-20 / CIFAR-10: the 1-cycle grid, ActCoolLR's default (seeds 0, 1) against the best
    1-cycle, the replay (from :func:`replay`) and ρ(depth, T) on ResNet-20's sites."""
    g = grid_best(runs, plan, "cifar", "onecycle")
    keys = [p.key for p in plan if p.group == "cifar" and p.label == f"actcool-{AUTO}"]
    others = {
        p.label.removeprefix("actcool-"): p.key
        for p in plan
        if p.group == "cifar" and p.label.startswith("actcool-") and p.key not in keys
    }
    got = [runs[k] for k in keys if k in runs]
    err = stat({r.seed: r.test_error for r in got})
    gap = _diff(err["mean"], g["best_error"])
    dep = [depth(runs[k]) for k in [g["best_key"], *keys] if k in runs]
    return {
        "grid": g,
        "actcool": err,
        "gap_points": gap,
        "goal_points": CIFAR_GAP_GOAL,
        "ok": at_most(gap, CIFAR_GAP_GOAL),
        "beats_best_onecycle": None if gap is None else bool(gap < 0),
        "t_start_bits": {str(r.seed): _num(r.summary.get("t_start")) for r in got},
        "calibration": AUTO,
        "other_calibrations": {
            cal: {
                "key": k,
                "test_error": runs[k].test_error if k in runs else None,
                "gap_points": _diff(runs[k].test_error, g["best_error"]) if k in runs else None,
            }
            for cal, k in others.items()
        },
        "replay": rep["cifar"],
        "depth": dep,
        "missing": g["missing"] + _missing(keys, runs) + rep["cifar"]["missing"],
    }


# ----------------------------------------------------------------------------- all of them
def compute(loaded: list[Run], plan: Sequence) -> dict[str, Any]:
    """Every section's numbers, keyed as in ``results.json``."""
    runs = {r.key: r for r in loaded}
    base = baselines(runs, plan)
    rep = replay(runs)
    return {
        "setups": setups(plan),
        "baselines": base,
        "no_tuning": no_tuning(runs, base),
        "replay": rep,
        "tracking": tracking(runs),
        "gamma": gamma(runs),
        "claims": claims(runs, plan, base),
        "cifar": cifar(runs, plan, rep),
    }
