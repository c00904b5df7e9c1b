"""CI's smoke run of ``python -m benchmarks --smoke``: every suite's code path, every figure
well-formed, in range and with a verdict that follows from its value and goal (the sizes are
too small to judge the goals by; benchmarks do that)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOAL = re.compile(r"^(<=|>=|≤|≥)\s*([-+0-9.e]+)$")  # "<= 1.2", "≥ 0.5"


@pytest.mark.e2e
def test_every_suite_prints_well_formed_figures_and_a_summary():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    summary = rows.pop()
    assert summary["summary"] is True and summary["figures"] == len(rows) and "smoke" in summary
    names = {r["figure"] for r in rows}
    assert {"step_overhead", "measurement_vs_forward", "scan_vs_forwards"} <= names
    assert {"track_step_overhead", "track_row_lag"} <= names  # actcool.track's two figures
    assert any(n.startswith("control_accuracy[") for n in names)
    assert any("query steps" in n for n in names) and any("Runs page figures" in n for n in names)
    for g in ("sample", "position", "unit:64"):  # every granularity's four figures
        for figure in ("at_cap", "depth_rho", "late_vs_peak", "scan_rmse"):
            assert f"granularity.convnet4.{g}.{figure}" in names
    for r in rows:
        assert {"figure", "value", "unit", "goal", "ok"} <= r.keys(), r
        assert isinstance(r["value"], (int, float)) and r["value"] == r["value"], r  # not NaN
        assert r["ok"] in (True, False, None), r
    # The summary counts the verdicts of the figures above it.
    assert summary["ok"] == sum(r["ok"] is True for r in rows)
    assert summary["missed"] == [r["figure"] for r in rows if r["ok"] is False]
    assert summary["no_goal"] == sum(r["ok"] is None for r in rows)
    for r in rows:  # a verdict follows from the value and the goal (away from the boundary)
        goal = GOAL.match(str(r["goal"]))
        if goal is None or r["ok"] is None:
            continue
        bound = float(goal[2])
        if abs(r["value"] - bound) > 1e-3 * max(1.0, abs(bound)):
            below = r["value"] < bound
            assert r["ok"] == (below if goal[1] in ("<=", "≤") else not below), r
    for r in rows:  # values in the range their unit allows
        if r["unit"] in ("s", "ms", "us"):
            assert r["value"] > 0, r
        name = r["figure"]
        if name.endswith(".at_cap"):
            assert 0 <= r["value"] <= 100, r  # a percentage of the measured values
        elif name.endswith(".depth_rho"):
            assert -1 <= r["value"] <= 1, r  # a rank correlation
        elif name.endswith((".scan_rmse", ".late_vs_peak")):
            assert r["value"] >= 0, r
    ratios = {r["figure"]: r["value"] for r in rows if r["unit"] == "ratio"}
    # A scan step runs 25 more forwards than a plain measurement step, so its extra cost
    # cannot be a small fraction of 25 forwards, whatever the noise.
    assert ratios["scan_vs_forwards"] > 0.5, ratios
