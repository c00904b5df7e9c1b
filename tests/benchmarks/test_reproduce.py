"""A partial report (no training), and the reproduction end to end on its --quick miniature
(scikit-learn digits, a few minutes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from actcool.curves import REPLAY_POINTS
from benchmarks import plan as P
from benchmarks import rates as sweep
from benchmarks import reproduce
from benchmarks.report import HEADINGS, PNGS, RATES_PNG, write_report
from storage import Store

from .conftest import rate_row

SECTIONS = list(HEADINGS.values())


class _FakeStore:
    """What the report reads of a store, for runs that were never trained."""

    def __init__(self):
        self.data: dict[str, tuple] = {}

    def add(self, rid: str, temps: np.ndarray, targets: np.ndarray | None = None) -> None:
        n = len(temps)
        steps = pd.DataFrame(
            {
                "step": np.arange(n),
                "epoch": 0.0,
                "lr": np.linspace(0.05, 0.001, n),
                "loss": 1.0,
                "mean_temperature": temps,
                "target_temperature": np.full(n, np.nan) if targets is None else targets,
                "wall_time": 0.0,
            }
        )
        fits = pd.DataFrame(
            {
                "step": [0, 0, 5, 5],
                "site": "mean",
                "model": ["gaussian", "weibull"] * 2,
                "mu": [-3.0, np.nan, -3.5, np.nan],
                "sigma": [1.0, np.nan, 1.2, np.nan],
                "lambda0": [np.nan, 0.1, np.nan, 0.2],
                "k": [np.nan, 1.0, np.nan, 1.1],
                "rmse": [0.04, 0.01, 0.05, 0.02],
                "n_informative": 10,
                "reason": None,
            }
        )
        sites = np.vstack([temps * 0.5, temps, temps * 1.5])
        self.data[rid] = (steps, fits, (["a", "b", "c"], np.arange(n), sites))

    def steps(self, rid):
        return self.data[rid][0]

    def fits(self, rid):
        return self.data[rid][1]

    def site_matrix(self, rid):
        return self.data[rid][2]


@pytest.mark.parametrize(
    "keys",
    [
        (),
        (
            "grid/onecycle/lr0.05/seed0",
            "grid/onecycle/lr0.2/seed0",
            f"actcool/{P.AUTO}/seed0",
            "gamma/2/seed0",
        ),
    ],
)
def test_a_partial_reproduction_renders_every_section(tmp_path, keys):
    plan = P.plan(quick=True)
    store, found = _FakeStore(), {}
    for i, key in enumerate(keys):
        p = next(p for p in plan if p.key == key)
        temps = np.linspace(2.0, 0.2, 10)
        store.add(f"r{i}", temps, temps * 1.1 if p.config.schedule == "actcool" else None)
        found[key] = {
            "id": f"r{i}",
            "status": "finished",
            "config": p.config.to_dict(),
            "summary": {"test_error": 5.0 + i, "total_steps": 10, "wall_time": 30.0},
        }
    found["actcool/fixed/seed0"] = {"id": "x", "status": "stopped", "config": {}, "summary": {}}
    out = tmp_path / "out"
    path = write_report(store, plan, found, out, quick=True)
    report = path.read_text()
    for heading in SECTIONS:
        assert heading in report
    assert "Missing runs" in report
    assert "- actcool/fixed/seed0: stopped (run x)" in report
    assert "- best/onecycle/seed1: not planned yet" in report
    results = json.loads((out / "results.json").read_text())
    assert set(results["runs"]) == set(keys)
    assert results["wall_seconds_total"] == pytest.approx(30.0 * len(keys))
    assert all((out / png).exists() for png in results["pngs"].values())
    if keys:
        assert results["figures"]["baselines"]["schedules"]["onecycle"]["best_rate"] == 0.05
        assert results["figures"]["gamma"]["test_error"] == {"1": 7.0, "2": 8.0}
        assert "![baselines](baselines.png)" in report
    else:
        assert results["pngs"] == {} and "✅" not in report
    # no rate sweep given: section 8 says how to train it
    assert (
        "No run of the rate sweep in this report: `python -m benchmarks.reproduce --rates`"
        in report
    )
    assert "rates" not in results["pngs"]


SWEEP = [
    rate_row("convnet4", "onecycle", 0.1, 0, 10.0),
    rate_row("convnet4", "onecycle", 0.1, 1, 10.4),  # best 1-cycle: mean 10.2 at 0.1
    rate_row("convnet4", "onecycle", 1.0, 0, 90.0),
    rate_row("convnet4", "actcool", 0.1, 0, 10.3),
    rate_row("convnet4", "actcool", 0.1, 1, 10.5),  # +0.2 of the best: met
    rate_row("convnet4", "actcool", 1.0, 0, 10.8, events=[{"step": 80}]),  # +0.6: missed
    rate_row("resnet20", "onecycle", 0.1, 0, 40.0),
    rate_row("resnet20", "actcool", 0.1, 0, 40.5),  # +0.5, goal 1 point: met
]


def test_section_8_renders_the_rate_sweep_with_a_verdict_per_typed_rate(tmp_path):
    out = tmp_path / "out"
    text = write_report(_FakeStore(), P.plan(quick=True), {}, out, rates=SWEEP).read_text()
    section = text[text.index(HEADINGS["rates"]) :]
    # RATES.md's tables, a level down, in its order of setups
    assert section.index("### convnet4 / Fashion-MNIST, 1 epoch") < section.index(
        "### resnet20 / CIFAR-10, 1 epoch"
    )
    assert "Best tuned 1-cycle: 10.20% at 0.1." in section
    assert "| 0.1 | +0.20 | no | ✅ |" in section and "| 1 | +0.60 | no | ❌ |" in section
    assert "Best tuned 1-cycle: 40.00% at 0.1. Goal: ActCoolLR within 1 points" in section
    assert "| 0.1 | +0.50 | no | ✅ |" in section
    assert "0.03, 1 cut" in section  # ActCoolLR's highest rate and the guard's cut at rate 1
    assert f"![error against the typed rate]({RATES_PNG})" in section
    assert (out / RATES_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "results.json").read_text())["pngs"] == {"rates": RATES_PNG}


def test_the_cli_trains_the_rate_sweep_through_benchmarks_rates(tmp_path, monkeypatch):
    data = tmp_path / "data"
    for d in ("FashionMNIST", "cifar10-jpeg"):
        (data / d).mkdir(parents=True)
    runs_file = tmp_path / "rates.jsonl"
    runs_file.write_text(
        "".join(json.dumps({**r, "key": str(i)}) + "\n" for i, r in enumerate(SWEEP))
    )
    trained, rated = [], []
    monkeypatch.setattr(sweep, "RUNS_FILE", runs_file)
    monkeypatch.setattr(sweep, "run", lambda plans, jobs, data_dir: trained.extend(plans))
    monkeypatch.setattr("benchmarks.rates_report.write_report", lambda rows: rated.extend(rows))
    monkeypatch.setattr(reproduce, "train_all", lambda *a: pytest.fail("the plan was trained"))
    out = tmp_path / "out"
    argv = ["--rates", "--home", str(tmp_path / "store"), "--out", str(out)]
    assert reproduce.main([*argv, "--data-dir", str(data)]) == 0
    # every model, schedule, rate and seed of the sweep; RATES.md and REPORT.md from its rows
    assert {(p.model, p.schedule, p.rate, p.seed) for p in trained} == {
        (m, s, r, seed)
        for m in sweep.MODELS
        for s in sweep.SCHEDULES
        for r in sweep.RATES
        for seed in (0, 1)
    }
    assert len(rated) == len(SWEEP)
    assert "| 1 | +0.60 | no | ❌ |" in (out / "REPORT.md").read_text()
    with pytest.raises(SystemExit):
        reproduce.main([*argv, "--quick"])


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reproduce")
    home, out = tmp / "store", tmp / "out"
    assert reproduce.main(["--quick", "--home", str(home), "--out", str(out)]) == 0
    return Store(home), out


@pytest.mark.e2e
def test_quick_reproduction_writes_every_section_with_figures(quick):
    store, out = quick
    report = (out / "REPORT.md").read_text()
    for heading in SECTIONS:
        assert heading in report
    assert "Missing runs" not in report
    for png in PNGS.values():
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, png
        assert f"({png})" in report
    results = json.loads((out / "results.json").read_text())
    runs = P.plan(quick=True, store=store)
    assert {"best", "replay"} <= {p.group for p in runs}
    assert set(results["runs"]) == {p.key for p in runs} and results["missing"] == []
    for r in results["runs"].values():  # the report's numbers are the store's
        assert store.get_run(r["id"])["summary"]["test_error"] == pytest.approx(r["test_error"])
    f = results["figures"]
    one = f["baselines"]["schedules"]["onecycle"]
    for lr, err in one["test_error"].items():
        rid = results["runs"][f"grid/onecycle/lr{lr}/seed0"]["id"]
        assert store.get_run(rid)["summary"]["test_error"] == pytest.approx(err)
    assert results["wall_seconds_total"] == pytest.approx(
        sum(store.get_run(r["id"])["summary"]["wall_time"] for r in results["runs"].values())
    )
    assert set(f["gamma"]["test_error"]) == {"0.5", "1", "2", "4"}
    assert f["no_tuning"]["calibrations"]["fixed"]["test_error"]["n"] == 2
    assert (
        f["replay"]["fmnist"]["gap_points"] is not None and len(f["replay"]["fmnist"]["pairs"]) == 2
    )
    assert f["replay"]["cifar"]["gap_points"] is not None
    assert f["claims"]["fits"]["paired"] > 0
    assert all(v["relative"] is not None for v in f["tracking"]["runs"].values())
    assert {r["section"] for r in results["summary"]} == set(PNGS)


@pytest.mark.e2e
def test_the_replay_run_follows_the_measured_one_cycle_curve(quick):
    store, _ = quick
    runs = P.plan(quick=True, store=store)
    found = P.find_runs(store, runs)
    replay = next(p for p in runs if p.key == "replay/onecycle/seed0")
    source, run = found[replay.replay_of], found[replay.key]
    target = run["config"]["target"]
    target = json.loads(target) if isinstance(target, str) else target
    assert target["kind"] == "replay"
    steps = store.steps(source["id"]).dropna(subset=["mean_temperature"])
    total = source["summary"]["total_steps"]
    # More measurements than the replay's 20 bins: each point averages the measurements of its
    # twentieth of training.
    f = steps["step"] / total
    assert len(steps) > REPLAY_POINTS
    bins = steps.assign(f=f).groupby(np.minimum((f * REPLAY_POINTS).astype(int), 19))
    assert target["fractions"] == pytest.approx(bins["f"].mean().tolist())
    assert target["temperatures"] == pytest.approx(bins["mean_temperature"].mean().tolist())


@pytest.mark.e2e
def test_a_second_invocation_reuses_finished_runs(quick, caplog):
    store, out = quick
    before = len(store.list_runs(tag=P.TAG))
    with caplog.at_level("INFO", logger="benchmarks.reproduce"):
        assert reproduce.main(["--quick", "--home", str(store.home), "--out", str(out)]) == 0
    assert len(store.list_runs(tag=P.TAG)) == before
    # every planned run (the dependent ones included) is reused, none trained
    assert not any(r.message.endswith(": training") for r in caplog.records)
    done = [r.message for r in caplog.records if r.message.startswith("nothing left to train")]
    assert done == [f"nothing left to train: {before} planned runs reused, 0 not trainable now"]


@pytest.mark.e2e
def test_a_run_with_another_config_is_not_reused(quick):
    store, _ = quick
    runs = P.plan(quick=True, store=store)
    changed = [
        P.Planned(p.key, p.group, p.label, p.seed, p.config.replace(lr=0.01)) for p in runs[:1]
    ]
    assert P.find_runs(store, changed) == {}
    assert set(P.find_runs(store, runs)) == {p.key for p in runs}
