"""The activations benchmark's plan, measure figures and report against hand-computed values."""

import json
import math

import numpy as np
import pytest

from benchmarks.activations.measure import late_over_peak, measure_figures, spearman
from benchmarks.activations.plan import best_rate, first_plans, second_plans
from benchmarks.activations.report import write_report

from .conftest import rate_row as _row


def test_late_over_peak_reads_the_running_mean_at_90_percent():
    steps = list(range(0, 100, 10))
    means = [1, 2, 3, 4, 5, 4, 3, 2, 1, 0.5]
    # Window 3: running means 2, 3, 4, 4.33, 4, 3, 2, 1.17 centred on steps 10..80; 90% of 100
    # steps is step 90, the nearest centre is 80 (1.1667), the peak 4.3333.
    assert late_over_peak(steps, means, 100, window=3) == pytest.approx((3.5 / 3) / (13 / 3))
    assert late_over_peak([0], [2.0], 10) == 1.0  # one measurement: its own peak


def test_spearman_is_one_for_any_increasing_sequence_and_nan_below_three_points():
    assert spearman([0, 1, 2, 3], [0.1, 0.5, 0.6, 9.0]) == pytest.approx(1.0)
    assert spearman([0, 1, 2], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert math.isnan(spearman([0, 1], [1.0, 2.0]))


def test_best_rate_takes_seed_0_and_the_lower_rate_on_a_tie():
    rows = [
        _row("vit-tiny", "cosine", 3e-4, 0, 50.0),
        _row("vit-tiny", "cosine", 1e-3, 0, 48.0),
        _row("vit-tiny", "cosine", 3e-3, 0, 48.0),
        _row("vit-tiny", "cosine", 3e-3, 1, 10.0),  # seed 1 does not choose
    ]
    assert best_rate(rows, "vit-tiny", "cosine") == 1e-3
    assert best_rate(rows, "vit-tiny", "onecycle") is None


def test_the_plan_runs_seed_1_of_each_baseline_at_its_best_rate():
    first = first_plans(["cnn-silu"])
    assert len(first) == 2 + 3 * 3 and {p.seed for p in first} == {0}
    assert all(p.optimizer == "adamw" for p in first)
    assert {p.measure for p in first if p.schedule in ("onecycle", "actcool")} == {True}
    rows = [_row(p.model, p.schedule, p.rate, 0, 30.0 - 1000 * p.rate) for p in first]
    second = second_plans(["cnn-silu"], rows)
    baselines = {p.schedule: p.rate for p in second if p.schedule != "actcool"}
    assert baselines == {"onecycle": 3e-3, "cosine": 3e-3, "schedulefree": 3e-3}
    assert sorted(p.rate for p in second if p.schedule == "actcool") == [3e-4, 1e-3]
    assert {p.seed for p in second} == {1}


def _measure(total=100):
    """Three GELU sites and one SiLU site: the GELU sites' mean rises to 4 bits at step 40 and
    falls to 0.4 at step 90, the deeper GELU site runs hotter; one scan with known errors."""
    steps = [i * total // 10 for i in range(10)]
    shape = [1, 2, 3, 4, 4, 3, 2, 1, 0.4, 0.4]
    rows = [
        {
            "step": s,
            "lr": 1e-3,
            "mean": v,
            "sites": [v * 0.5, v, v * 1.5, 1.0],
            "sample": [1.0, 2.0, 8.0, 2.0],
            "sample_cap": 8.0,
        }
        for s, v in zip(steps, shape, strict=True)
    ]
    fits = [{"step": 50, "gaussian": [0.02, 0.04, 0.03, None], "weibull": [0.01, 0.03, 0.02, 0.02]}]
    return {
        "sites": ["a", "b", "c", "d"],
        "types": ["GELU", "GELU", "GELU", "SiLU"],
        "measurements": rows,
        "fits": fits,
    }


def test_measure_figures_per_activation_type():
    f = measure_figures(_measure(), 100)
    gelu, silu = f["GELU"], f["SiLU"]
    assert gelu["sites"] == 3 and silu["sites"] == 1
    assert gelu["hottest_unit64_bits"] == 6.0
    assert gelu["hottest_flip_fraction"] == pytest.approx(1 - 2 ** (-6 / 64))
    assert gelu["at_sample_cap"] == pytest.approx(
        1 / 3
    )  # site c sits at its cap at every measurement
    assert gelu["peak_bits"] == 4.0  # the GELU sites' mean is the shape itself
    smooth = np.convolve([1, 2, 3, 4, 4, 3, 2, 1, 0.4, 0.4], np.ones(5) / 5, "valid")
    assert gelu["late_over_peak"] == pytest.approx(smooth[-1] / smooth.max())
    assert gelu["depth_rho"] == pytest.approx(1.0)
    assert gelu["gaussian_rmse"] == pytest.approx(0.03) and gelu["weibull_rmse"] == 0.02
    assert math.isnan(silu["gaussian_rmse"]) and silu["weibull_rmse"] == 0.02
    assert math.isnan(silu["depth_rho"])  # one site has no depth order


def test_the_report_states_each_verdict(tmp_path):
    rows = []
    for schedule, errors in {
        "onecycle": (50.0, 48.0, 49.0),
        "cosine": (51.0, 49.0, 52.0),
        "schedulefree": (47.0, 47.5, 60.0),
    }.items():
        for rate, e in zip((3e-4, 1e-3, 3e-3), errors, strict=True):
            extra = {"temperatures": _measure(390)} if schedule == "onecycle" else {}
            rows.append(_row("vit-tiny", schedule, rate, 0, e, **extra))
    rows += [
        _row("vit-tiny", "onecycle", 1e-3, 1, 48.4, temperatures=_measure(390)),
        _row("vit-tiny", "cosine", 1e-3, 1, 49.0),
        _row("vit-tiny", "schedulefree", 3e-4, 1, 47.4),  # best tuned: mean 47.2
        _row("vit-tiny", "actcool", 3e-4, 0, 47.5),
        _row("vit-tiny", "actcool", 3e-4, 1, 47.7),  # +0.40: met
        _row("vit-tiny", "actcool", 1e-3, 0, 48.0),
        _row("vit-tiny", "actcool", 1e-3, 1, math.nan),  # diverged: chance, missed
        _row("vit-tiny", "actcool-branch", 1e-3, 0, 40.0),  # opt-in: shown, not judged
        _row("vit-tiny", "actcool-branch", 1e-3, 1, 42.0),
    ]
    overhead = [{"figure": "step_overhead", "value": 1.05, "spread": [1.01, 1.09], "blocks": 6}]
    (tmp_path / "activations_overhead.json").write_text(json.dumps(overhead))
    text = write_report(rows, tmp_path).read_text()
    assert "Best tuned baseline: schedule-free AdamW, 47.20%." in text
    # against 1-cycle (48.20), cosine (49.00), schedule-free (47.20), then the verdict
    assert "| 0.0003 | -0.60 | -1.40 | +0.40 | ✅ |" in text
    assert "| 0.001 | +20.80 | +20.00 | +21.80 | ❌ |" in text
    assert "❌ goal missed" in text
    branch = "| AdamW + ActCoolLR, peak from a branch search (opt-in, §4.9), typed 0.001"
    assert branch in text and "| – | 41.00 (40.00, 42.00) |" in text
    assert "| 0.001 | +20.80 |" in text  # the opt-in runs do not enter the verdict
    assert "| AdamW + 1-cycle | 50.00 | 48.00 | 49.00 | 0.001 | 48.20 (48.00, 48.40) |" in text
    assert "| 0.0003 (edge of the rates tried) | 47.20 (47.00, 47.40) |" in text
    assert "**1.050**" in text and "✅" in text
    assert (tmp_path / "activations.png").stat().st_size > 1000


@pytest.mark.parametrize("schedule", ["constant", "actcool"])
def test_a_run_records_its_measurements_per_site_and_its_scans(schedule):
    """``MeasureLog`` on a GELU/SiLU MLP: a measurement every 10 steps with each site's unit:64
    and sample temperatures, the activation types, and the scans' fit errors (three at 10/50/90%
    of training under a plain schedule; ActCoolLR's own step-0 scan under ActCoolLR)."""
    import torch
    from torch import nn

    from actcool import ActCoolLR
    from benchmarks.measure_log import MeasureLog

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 3))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    total = 50
    sched = ActCoolLR(opt, net, total_steps=total) if schedule == "actcool" else None
    log = MeasureLog(net, opt, sched, total)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    for _ in range(total):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        if sched is not None:
            sched.step(loss=loss)
        log.record(lr)
    out = log.close()
    assert out["sites"] == ["1", "3"] and out["types"] == ["GELU", "SiLU"]
    assert [m["step"] for m in out["measurements"]] == [0, 10, 20, 30, 40]
    assert all(len(m["sites"]) == 2 and m["mean"] > 0 for m in out["measurements"])
    if schedule == "constant":
        assert [f["step"] for f in out["fits"]] == [0, 20, 40]  # 10, 50, 90% of 50 steps
        assert all(m["sample_cap"] == 6.0 for m in out["measurements"])  # log2(2 * 32)
    else:
        assert [f["step"] for f in out["fits"]] == [0]
        sched.close()
    assert all(len(f["weibull"]) == 2 for f in out["fits"])


def test_a_baseline_best_on_the_grid_edge_is_tried_one_rate_further():
    from benchmarks.activations.plan import beyond, extension_plans

    assert beyond(3e-3) == 0.01 and beyond(3e-4) == 1e-4 and beyond(1e-3) is None
    assert beyond(0.01) == 0.03
    rows = [
        _row("cnn-silu", "onecycle", 3e-4, 0, 20.0),
        _row("cnn-silu", "onecycle", 1e-3, 0, 15.0),
        _row("cnn-silu", "onecycle", 3e-3, 0, 12.0),  # best on the top edge: try 1e-2
        _row("cnn-silu", "cosine", 3e-4, 0, 20.0),
        _row("cnn-silu", "cosine", 1e-3, 0, 11.0),  # inside: tuned
        _row("cnn-silu", "cosine", 3e-3, 0, 12.0),
    ]
    plans = extension_plans(["cnn-silu"], rows)
    assert [(p.schedule, p.rate, p.seed) for p in plans] == [("onecycle", 0.01, 0)]
    rows.append(_row("cnn-silu", "onecycle", 0.01, 0, 13.0))  # worse: the best is inside now
    assert extension_plans(["cnn-silu"], rows) == []
    # still better at each rung: three rungs past the grid at most, over every run of the study
    rows[-1] = _row("cnn-silu", "onecycle", 0.01, 0, 11.0)
    rows.append(_row("cnn-silu", "onecycle", 0.03, 0, 10.5))
    assert [p.rate for p in extension_plans(["cnn-silu"], rows)] == [0.1]
    rows.append(_row("cnn-silu", "onecycle", 0.1, 0, 10.0))
    assert extension_plans(["cnn-silu"], rows) == []
