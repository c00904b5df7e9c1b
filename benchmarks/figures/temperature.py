"""How the temperature follows its target: tracking per ActCoolLR run (section 4) and the γ
sweep of the default's cool-down (5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analysis import at_most, best_of, out_of_reach, rank_correlation, relative_tracking_error
from ..control import tracking_error
from ..plan import AUTO, GAMMAS, SEEDS
from .runs import Run, _all_or_none, _missing, _num

TRACKING_GOAL = 0.3  # mean |T̄ − C| / mean C over 10-90% of training
TRACKING_WINDOW = 5  # measurements in the moving average of the smoothed tracking figure
# Fewer measurements than this and the average's window reaches across much of the run (and into
# its first 10%): no smoothed figure then.
TRACKING_MIN_MEASUREMENTS = 4 * TRACKING_WINDOW


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
