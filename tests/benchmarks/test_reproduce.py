"""The reproduction pipeline end to end on its --quick miniature (scikit-learn digits)."""

from __future__ import annotations

import json

import pytest

from benchmarks import reproduce
from storage import Store

SECTIONS = ["## 1. Schedules side by side", "## 2. γ sweep", "## 3. Temperature under 1-cycle",
            "## 4. Deeper layers are hotter", "## 5. Hypothesis 1", "## 6. ResNet-20 on CIFAR-10"]
PNGS = ["schedules.png", "gamma.png", "onecycle_linearity.png", "depth.png", "fits.png", "cifar.png"]


def test_plan_covers_every_section_with_two_seeds():
    assert all(p.replay_of in {q.key for q in reproduce.plan()} for p in reproduce.plan() if p.replay_of)
    runs = reproduce.plan(quick=False)
    keys = {p.key for p in runs}
    assert len(keys) == len(runs)
    for s in reproduce.SCHEDULES:
        assert {f"schedules/{s}/seed0", f"schedules/{s}/seed1"} <= keys
    assert {reproduce.gamma_of(p) for p in runs if p.group == "gamma"} == {0.5, 2.0, 4.0}
    assert {p.config.schedule for p in runs if p.group == "cifar"} == {"onecycle", "actcool"}
    assert all(p.config.dataset == "fashion-mnist" for p in runs if p.group != "cifar")
    assert all(f"plan:{p.key}" in p.config.tags for p in runs)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reproduce")
    home, out = tmp / "store", tmp / "out"
    assert reproduce.main(["--quick", "--home", str(home), "--out", str(out)]) == 0
    return Store(home), out


def test_quick_reproduction_writes_every_section_with_figures(quick):
    store, out = quick
    report = (out / "REPORT.md").read_text()
    for heading in SECTIONS:
        assert heading in report
    assert "Missing runs" not in report
    for png in PNGS:
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, png
        assert f"({png})" in report
    results = json.loads((out / "results.json").read_text())
    runs = reproduce.plan(quick=True)
    assert set(results["runs"]) == {p.key for p in runs} and results["missing"] == []
    for r in results["runs"].values():  # the report's numbers are the store's
        assert store.get_run(r["id"])["summary"]["test_error"] == pytest.approx(r["test_error"])
    f = results["figures"]
    assert 0 <= f["fits"]["rmse_median"] <= f["fits"]["rmse_max"] <= 1
    assert set(f["gamma"]["test_error"]) == {"0.5", "1.0", "2.0", "4.0"}
    assert -1 <= f["gamma"]["spearman_gamma_vs_error"] <= 1
    assert f["schedules"]["replay_vs_onecycle_points"] is not None


def test_the_replay_run_follows_the_measured_one_cycle_curve(quick):
    store, _ = quick
    found = reproduce.find_runs(store, reproduce.plan(quick=True))
    source, replay = found["schedules/onecycle/seed0"], found["replay/onecycle/seed0"]
    target = replay["config"]["target"]
    target = json.loads(target) if isinstance(target, str) else target
    assert target["kind"] == "replay"
    steps = store.steps(source["id"]).dropna(subset=["mean_temperature"])
    total = source["summary"]["total_steps"]
    # Fewer measurements than the replay's 100 bins: each one is a point of the curve, exactly.
    assert len(steps) < 100
    assert target["fractions"] == pytest.approx((steps["step"] / total).tolist())
    assert target["temperatures"] == pytest.approx(steps["mean_temperature"].tolist())


def test_a_second_invocation_reuses_finished_runs(quick, caplog):
    store, out = quick
    before = len(store.list_runs(tag=reproduce.TAG))
    with caplog.at_level("INFO", logger="benchmarks.reproduce"):
        assert reproduce.main(["--quick", "--home", str(store.home), "--out", str(out)]) == 0
    assert len(store.list_runs(tag=reproduce.TAG)) == before
    assert sum("reused" in r.message for r in caplog.records) == before


def test_a_run_with_another_config_is_not_reused(quick):
    store, _ = quick
    runs = reproduce.plan(quick=True)
    changed = [reproduce.Planned(p.key, p.group, p.label, p.seed, p.config.replace(lr=0.01))
               for p in runs[:1]]
    assert reproduce.find_runs(store, changed) == {}
    assert set(reproduce.find_runs(store, runs)) == {p.key for p in runs}
