"""The report's statistics and figures against values worked out by hand (no training)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import figures as F
from benchmarks import plan as P
from benchmarks.analysis import (
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


def test_linear_r2_of_an_exact_line_is_one_with_its_coefficients():
    x = np.linspace(0, 1, 11)
    r2, a, b = linear_r2(x, 3.17 - 2.5 * x)
    assert r2 == pytest.approx(1.0) and a == pytest.approx(3.17) and b == pytest.approx(-2.5)


def test_linear_r2_against_a_hand_computed_case():
    # y = 0, 2, 1 at x = 0, 1, 2: line 0.5 + 0.5x, residuals -0.5, 1, -0.5 -> SS_res 1.5;
    # mean 1 -> SS_tot 2; R² = 1 - 1.5/2 = 0.25.
    r2, a, b = linear_r2([0, 1, 2], [0, 2, 1])
    assert r2 == pytest.approx(0.25) and a == pytest.approx(0.5) and b == pytest.approx(0.5)


def test_linear_r2_ignores_nan_and_needs_three_points():
    r2, _, b = linear_r2([0, 1, 2, 3], [1, float("nan"), 3, 4])
    assert r2 == pytest.approx(1.0) and b == pytest.approx(1.0)
    assert math.isnan(linear_r2([0, 1], [0, 1])[0])
    assert math.isnan(linear_r2([0, 1, 2], [5, 5, 5])[0])


def test_rank_correlation_is_plus_minus_one_for_monotone_data():
    assert rank_correlation([1, 2, 3, 4], [0.1, 5, 7, 100]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [9, 3, 2, -1]) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 2], [1, 2]))


def test_spread_and_its_text():
    s = spread([7.0, 9.0, float("nan"), None])
    assert (s.mean, s.low, s.high, s.n) == (8.0, 7.0, 9.0, 2)
    assert str(s) == "8.00 (7.00–9.00)"
    assert str(spread([])) == "n/a" and str(spread([1.234])) == "1.23"


def test_smooth_keeps_constants_and_lines_and_the_length():
    assert np.allclose(smooth(np.full(7, 2.0), 3), 2.0)
    y = np.arange(10, dtype=float)
    out = smooth(y, 3)
    assert out.shape == y.shape and np.allclose(out[1:-1], y[1:-1])
    assert out[0] == pytest.approx(0.5)  # the edge averages what exists: (0 + 1) / 2
    assert smooth([1.0, 2.0], 5).shape == (2,)


def test_relative_variation():
    assert relative_variation([1.0, 3.0]) == pytest.approx(0.5)  # std 1 (population), mean 2
    assert math.isnan(relative_variation([1.0]))


def test_at_most_gives_no_verdict_without_a_number():
    assert at_most(0.2, 0.3) is True and at_most(0.3, 0.3) is True and at_most(0.31, 0.3) is False
    assert at_most(float("nan"), 0.3) is None and at_most(None, 0.3) is None


def test_best_of_takes_the_lowest_finite_value_and_the_first_of_ties():
    assert best_of({0.05: 3.0, 0.1: 2.0, 0.2: float("nan"), 0.4: None}) == 0.1
    assert best_of({"a": 1.0, "b": 1.0}) == "a"
    assert best_of({}) is None and best_of({"a": float("nan")}) is None


def test_beyond_noise_compares_with_the_widest_seed_range():
    a, b = spread([1.0, 1.2]), spread([2.0, 2.5])  # ranges 0.2 and 0.5
    assert beyond_noise(0.6, a, b) is True
    assert beyond_noise(-0.4, a, b) is False  # |−0.4| < 0.5
    assert beyond_noise(0.4, a) is True
    assert beyond_noise(0.4, spread([1.0])) is None  # one seed: noise unknown
    assert beyond_noise(float("nan"), a) is None


def test_relative_tracking_error_by_hand():
    f = [0.0, 0.2, 0.5, 0.8, 1.0]
    t = [9.0, 1.1, 0.9, 1.2, 9.0]
    c = [1.0, 1.0, 1.0, 1.0, 1.0]
    # Inside 10-90%: |0.1|, |0.1|, |0.2| -> mean 0.4/3; mean C = 1.
    assert relative_tracking_error(f, t, c) == pytest.approx(0.4 / 3)
    # Relative to the target's scale: C = 2 -> |0.9|, |1.1|, |0.8| / 2.
    assert relative_tracking_error(f, t, [2.0] * 5) == pytest.approx((0.9 + 1.1 + 0.8) / 3 / 2)
    # Smoothing over 3 measurements uses the neighbours outside the window:
    # (9 + 1.1 + 0.9)/3 = 11/3, (1.1 + 0.9 + 1.2)/3 = 3.2/3, (0.9 + 1.2 + 9)/3 = 3.7.
    expected = (abs(11 / 3 - 1) + abs(3.2 / 3 - 1) + abs(3.7 - 1)) / 3
    assert relative_tracking_error(f, t, c, window=3) == pytest.approx(expected)
    # No target (a ramp's warm-up) -> that measurement does not count.
    assert relative_tracking_error(f, t, [1.0, float("nan"), 1.0, 1.0, 1.0]) == pytest.approx(
        0.3 / 2
    )
    assert math.isnan(relative_tracking_error(f, t, [float("nan")] * 5))
    assert math.isnan(relative_tracking_error(f, t, [0.0] * 5))
    # keep: only the kept measurements count (|0.1|, |0.2| of 0.2 and 0.8)
    keep = [True, True, False, True, True]
    assert relative_tracking_error(f, t, c, keep=keep) == pytest.approx(0.3 / 2)


def test_out_of_reach_is_a_bound_against_the_direction_the_target_asks_for():
    lr = [0.05, 0.05, 0.02, 1e-6, 1e-6]
    t = [0.5, 1.5, 0.5, 1.5, 0.5]
    c = [1.0, 1.0, 1.0, 1.0, 1.0]
    # at the ceiling and colder: out of reach; at the ceiling and hotter: the controller can
    # lower the rate; below the ceiling: in reach; at the floor and hotter: out of reach
    assert out_of_reach(lr, t, c, lr_min=1e-6, lr_max=0.05).tolist() == [
        True,
        False,
        False,
        True,
        False,
    ]


# ----------------------------------------------------------------------------- figures
def _run(
    key,
    group,
    label,
    seed=0,
    lr=0.05,
    error=10.0,
    temps=None,
    targets=None,
    schedule=None,
    fits=None,
    site_temperatures=None,
    replay_of=None,
    total=100,
    **summary,
):
    steps = np.arange(total)
    t = np.full(total, np.nan) if temps is None else np.asarray(temps, dtype=float)
    c = np.full(total, np.nan) if targets is None else np.asarray(targets, dtype=float)
    frame = pd.DataFrame(
        {
            "step": steps,
            "lr": np.full(total, lr),
            "loss": 1.0,
            "mean_temperature": t,
            "target_temperature": c,
        }
    )
    sites = (
        np.empty((0, 0))
        if site_temperatures is None
        else np.asarray(site_temperatures, dtype=float)
    )
    return F.Run(
        key,
        group,
        label,
        seed,
        f"id-{key}",
        {"test_error": error, "total_steps": total, **summary},
        {"lr": lr, "schedule": schedule or label, "onecycle_pct_start": 0.3},
        frame,
        pd.DataFrame() if fits is None else fits,
        [f"s{i}" for i in range(len(sites))],
        sites,
        replay_of,
    )


def _index(*runs):
    return {r.key: r for r in runs}


def test_grid_best_and_the_edge_verdict():
    plan = [p for p in P.plan(quick=True)]
    runs = _index(
        _run("grid/onecycle/lr0.05/seed0", "grid", "onecycle", lr=0.05, error=5.0),
        _run("grid/onecycle/lr0.2/seed0", "grid", "onecycle", lr=0.2, error=4.0),
        _run("best/onecycle/seed1", "best", "onecycle", seed=1, lr=0.2, error=6.0),
    )
    g = F.grid_best(runs, plan, "grid", "onecycle")
    assert g["best_rate"] == 0.2 and g["best_key"] == "grid/onecycle/lr0.2/seed0"
    assert g["complete"] and g["at_edge"] and g["missing"] == []
    base = F.baselines(runs, plan)
    one = base["schedules"]["onecycle"]["at_best"]
    assert (one["mean"], one["low"], one["high"], one["n"]) == (5.0, 4.0, 6.0, 2)
    assert base["best_baseline"] == "onecycle" and base["best_mean"] == 5.0
    assert base["grid_ok"] is None  # the other grids are not complete: no verdict yet
    assert "grid/cosine/lr0.05/seed0" in base["missing"] and "best/cosine/seed1" in base["missing"]


def test_no_tuning_gaps_and_which_calibration_is_better():
    base = {
        "best_baseline": "onecycle",
        "best_mean": 5.0,
        "best_n": 2,
        "all_tuned": True,
        "tuned": ["onecycle"],
    }
    runs = _index(
        _run("actcool/fixed/seed0", "actcool", "actcool-fixed", error=5.1, t_start=2.0),
        _run("actcool/fixed/seed1", "actcool", "actcool-fixed", seed=1, error=5.3),
        _run("actcool/ramp/seed0", "actcool", "actcool-ramp", error=6.0),
        _run("actcool/ramp/seed1", "actcool", "actcool-ramp", seed=1, error=6.2),
    )
    n = F.no_tuning(runs, base)
    fixed, ramp = n["calibrations"]["fixed"], n["calibrations"]["ramp"]
    assert fixed["gap_points"] == pytest.approx(0.2) and fixed["ok"] is True
    assert fixed["beats_best_baseline"] is False and fixed["t_start_bits"]["0"] == 2.0
    assert ramp["gap_points"] == pytest.approx(1.1) and ramp["ok"] is False
    assert n["better_calibration"] == "fixed" and n["fixed_minus_ramp"] == pytest.approx(-0.9)
    assert n["difference_beyond_seed_noise"] is True  # 0.9 > the 0.2 seed ranges
    assert n["ok"] is False and n["any_ok"] is True and n["missing"] == []
    empty = F.no_tuning(
        {}, {"best_baseline": None, "best_mean": None, "best_n": 0, "all_tuned": False, "tuned": []}
    )
    assert (
        empty["better_calibration"] is None and empty["ok"] is None and len(empty["missing"]) == 4
    )
    # while some baseline is not tuned yet the verdict is provisional: no ✅/❌, the number stays
    partial = F.no_tuning(runs, {**base, "all_tuned": False})
    assert partial["provisional"] and partial["calibrations"]["fixed"]["ok"] is None
    assert partial["calibrations"]["fixed"]["ok_against_tuned_so_far"] is True


def test_replay_pairs_each_replay_with_its_source():
    runs = _index(
        _run("grid/onecycle/lr0.2/seed0", "grid", "onecycle", lr=0.2, error=4.0),
        _run(
            "replay/onecycle/seed0",
            "replay",
            "replay",
            lr=0.2,
            error=4.5,
            replay_of="grid/onecycle/lr0.2/seed0",
        ),
        _run(
            "replay/onecycle/seed1",
            "replay",
            "replay",
            seed=1,
            error=4.5,
            replay_of="best/onecycle/seed1",
        ),
    )
    r = F.replay(runs)
    assert [p["seed"] for p in r["fmnist"]["pairs"]] == [0]
    assert r["fmnist"]["gap_points"] == pytest.approx(0.5) and r["fmnist"]["ok"] is False
    assert "best/onecycle/seed1" in r["missing"] and "cifar/replay/seed0" in r["missing"]
    assert r["cifar"]["ok"] is None


def test_tracking_of_every_actcool_run():
    runs = _index(
        _run(
            "actcool/fixed/seed0",
            "actcool",
            "actcool-fixed",
            schedule="actcool",
            temps=np.full(100, 1.1),
            targets=np.ones(100),
        ),
        _run("grid/onecycle/lr0.2/seed0", "grid", "onecycle", temps=np.ones(100)),
    )
    t = F.tracking(runs)
    assert list(t["runs"]) == ["actcool/fixed/seed0"]
    v = t["runs"]["actcool/fixed/seed0"]
    assert v["relative"] == pytest.approx(0.1) and v["relative_smoothed"] == pytest.approx(0.1)
    assert v["absolute_bits"] == pytest.approx(0.1) and t["ok_raw"] is True and t["met_raw"] == 1
    # A run with too few measurements to average has a raw figure only; the smoothed verdict
    # is over the runs that have one, and the medians compared are over the same runs.
    runs["cifar/actcool/seed0"] = _run(
        "cifar/actcool/seed0",
        "cifar",
        "actcool-fixed",
        schedule="actcool",
        temps=np.full(10, 1.5),
        targets=np.ones(10),
        total=10,
    )
    t = F.tracking(runs)
    short = t["runs"]["cifar/actcool/seed0"]
    assert short["relative"] == pytest.approx(0.5) and short["relative_smoothed"] is None
    assert t["ok_raw"] is False and t["ok_smoothed"] is True and t["smoothed_runs"] == 1
    assert t["median_raw"] == pytest.approx(0.3) and t["median_raw_paired"] == pytest.approx(0.1)


def test_gamma_rank_correlation_against_seed_noise():
    runs = _index(
        *[
            _run(k, "gamma", f"γ={g:g}", error=e, temps=np.linspace(2, 0, 100))
            for (g, k), e in zip(sorted(F.gamma_keys().items()), [8.0, 7.0, 6.0, 5.0], strict=True)
        ],
        _run(
            f"actcool/{P.AUTO}/seed1",
            "actcool",
            f"actcool-{P.AUTO}",
            seed=1,
            error=7.5,
        ),
    )
    g = F.gamma(runs)
    assert g["spearman_gamma_error"] == pytest.approx(-1.0)
    assert g["seed_noise_points"] == pytest.approx(0.5) and g["error_span_points"] == pytest.approx(
        3.0
    )
    assert g["span_beyond_seed_noise"] is True and g["ok"] is True and g["best_gamma"] == 4.0
    flat = dict(runs)
    flat[f"actcool/{P.AUTO}/seed1"] = _run(
        f"actcool/{P.AUTO}/seed1", "actcool", f"actcool-{P.AUTO}", seed=1, error=3.0
    )
    assert F.gamma(flat)["ok"] is False  # error falls with γ, but by less than one seed's luck


def test_linearity_depth_and_fit_comparison():
    f = np.arange(100) / 100
    line = np.where(f < 0.3, 10 * f, 3.0 - 3.0 * (f - 0.3) / 0.7)
    r = _run(
        "grid/onecycle/lr0.2/seed0",
        "grid",
        "onecycle",
        temps=line,
        site_temperatures=[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]],
    )
    lin = F.linearity(r)
    # A straight fall after warm-up: R² 1 but for the moving average rounding the kink at 30%.
    assert lin["r2_warmup_to_90pct_smoothed"] == pytest.approx(1.0, abs=1e-3)
    assert lin["slope_warmup_to_90pct"] == pytest.approx(-3.0 / 0.7, rel=1e-2)
    assert lin["r2_whole_run"] < 0.9  # the warm-up's rise is not on that line
    d = F.depth(r)
    assert d["spearman"] == pytest.approx(1.0) and d["mean_temperature"] == [1.0, 2.0, 3.0]
    rows = pd.DataFrame(
        {
            "run": "a",
            "step": [0, 10, 20] * 2 + [30],
            "site": "mean",
            "model": ["gaussian"] * 3 + ["weibull"] * 3 + ["weibull"],
            "rmse": [0.02, 0.04, 0.06, 0.01, 0.02, 0.03, np.nan],
        }
    )
    fc = F.fit_comparison(rows)
    assert fc["paired"] == 3 and fc["median_rmse"] == {"gaussian": 0.04, "weibull": 0.02}
    assert fc["better"] == "weibull" and fc["ratio"] == pytest.approx(2.0)
    assert fc["weibull_wins_share"] == 1.0 and fc["not_fitted"]["weibull"] == 1


def test_drift_of_sigma_and_mu_against_the_rate_used():
    fits = pd.DataFrame(
        {
            "step": [0, 50, 90],
            "site": "mean",
            "model": "gaussian",
            "mu": [-2.0, -3.0, -4.0],
            "sigma": [1.0, 1.0, 3.0],
            "lambda0": np.nan,
            "k": np.nan,
            "rmse": 0.01,
        }
    )
    r = _run("grid/onecycle/lr0.2/seed0", "grid", "onecycle", fits=fits)
    r.steps["lr"] = np.linspace(0.2, 0.001, 100)  # falls, as μ does
    d = F.drift(r)
    assert d["scans"] == 3 and d["sigma_cv"] == pytest.approx(
        np.std([1, 1, 3]) / np.mean([1, 1, 3])
    )
    assert d["spearman_mu_ln_lr"] == pytest.approx(1.0)


def test_compute_on_no_runs_gives_no_verdicts():
    figs = F.compute([], P.plan(quick=True))
    assert figs["baselines"]["grid_ok"] is None and figs["no_tuning"]["ok"] is None
    assert figs["tracking"]["ok_raw"] is None and figs["gamma"]["ok"] is None
    assert figs["claims"]["linearity"]["ok"] is None and figs["cifar"]["ok"] is None
