"""The reproduction plan, a partial report (no training), and the pipeline end to end on its
--quick miniature (scikit-learn digits, a few minutes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from actcool import Calibration
from actcool.curves import REPLAY_POINTS
from benchmarks import reproduce
from benchmarks.report import HEADINGS, PNGS, write_report
from storage import Store

SECTIONS = list(HEADINGS.values())


def _finish(store: Store, p: reproduce.Planned, test_error: float) -> str:
    rid = store.create_run(p.config.to_dict(), name=p.config.name, tags=p.config.tags)
    store.update_run(
        rid,
        status="finished",
        finished=True,
        summary={"test_error": test_error, "total_steps": 10, "wall_time": 1.0},
    )
    return rid


def test_plan_covers_every_section_with_two_seeds(tmp_path):
    runs = reproduce.plan(quick=False)
    keys = {p.key for p in runs}
    assert len(keys) == len(runs)
    for s in reproduce.BASELINES:
        assert {f"grid/{s}/lr{lr:g}/seed0" for lr in reproduce.RATES} <= keys
    assert {f"actcool/{c}/seed{s}" for c in reproduce.CALIBRATIONS for s in reproduce.SEEDS} <= keys
    assert all(
        p.config.lr == reproduce.HINT_LR and p.config.schedule == "actcool"
        for p in runs
        if p.group == "actcool"
    )
    assert {p.config.calibration for p in runs if p.group == "actcool"} == {"fixed", "ramp"}
    # the γ sweep cools the default target along power curves
    gammas = {Calibration.parse(p.config.calibration) for p in runs if p.group == "gamma"}
    assert gammas == {Calibration(reproduce.AUTO, gamma=g) for g in (0.5, 2.0, 4.0)}
    assert {p.config.target for p in runs if p.group == "gamma"} == {"default"}
    assert {f"cifar/onecycle/lr{lr:g}/seed0" for lr in reproduce.CIFAR_RATES} <= keys
    # the default calibration with both seeds, the other with seed 0
    assert {f"cifar/actcool/{reproduce.AUTO}/seed{s}" for s in reproduce.SEEDS} <= keys
    assert {f"cifar/actcool/{c}/seed0" for c in reproduce.CALIBRATIONS} <= keys
    assert {p.model for p in runs if p.group == "cifar"} == {"resnet20"}
    assert all(p.config.dataset == "fashion-mnist" for p in runs if p.group != "cifar")
    assert all(f"plan:{p.key}" in p.config.tags for p in runs)
    # Without a store nothing depends on finished runs: no best rates, no replays.
    assert not any(p.group in ("best", "replay") or p.replay_of for p in runs)

    # Once a grid has finished, its best rate is planned with seed 1 (and 1-cycle's replays).
    store = Store(tmp_path / "store")
    quick = reproduce.plan(quick=True)
    assert reproduce.plan(quick=True, store=store) == quick
    errors = {0.05: 3.0, 0.2: 2.0}
    for p in quick:
        if p.group == "grid" and p.label == "onecycle":
            _finish(store, p, errors[p.config.lr])
    more = {p.key: p for p in reproduce.plan(quick=True, store=store)}
    assert set(more) - {p.key for p in quick} == {
        "best/onecycle/seed1",
        "replay/onecycle/seed0",
        "replay/onecycle/seed1",
    }
    assert more["best/onecycle/seed1"].config.lr == 0.2 and more["best/onecycle/seed1"].seed == 1
    assert more["replay/onecycle/seed0"].replay_of == "grid/onecycle/lr0.2/seed0"
    assert more["replay/onecycle/seed1"].replay_of == "best/onecycle/seed1"
    assert more["replay/onecycle/seed0"].config.lr == 0.2  # the rate ceiling: the source's peak


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
            f"actcool/{reproduce.AUTO}/seed0",
            "gamma/2/seed0",
        ),
    ],
)
def test_a_partial_reproduction_renders_every_section(tmp_path, keys):
    plan = reproduce.plan(quick=True)
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
    runs = reproduce.plan(quick=True, store=store)
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
    runs = reproduce.plan(quick=True, store=store)
    found = reproduce.find_runs(store, runs)
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


def test_a_replay_is_matched_on_the_curve_it_replayed():
    curve = {"kind": "replay", "fractions": [0.0, 1.0], "temperatures": [2.0, 0.0]}
    cfg = reproduce.plan(quick=True)[0].config.replace(schedule="actcool", target=json.dumps(curve))
    stored = {**cfg.to_dict(), "target": json.dumps(curve, indent=1)}
    assert reproduce._same(stored, cfg)
    hotter = {**curve, "temperatures": [3.0, 0.0]}
    assert not reproduce._same(stored, cfg.replace(target=json.dumps(hotter)))
    # a named target is stored resolved, so it is not compared
    named = cfg.replace(target="default")
    assert reproduce._same({**named.to_dict(), "target": json.dumps(curve)}, named)


@pytest.mark.e2e
def test_a_second_invocation_reuses_finished_runs(quick, caplog):
    store, out = quick
    before = len(store.list_runs(tag=reproduce.TAG))
    with caplog.at_level("INFO", logger="benchmarks.reproduce"):
        assert reproduce.main(["--quick", "--home", str(store.home), "--out", str(out)]) == 0
    assert len(store.list_runs(tag=reproduce.TAG)) == before
    # every planned run (the dependent ones included) is reused, none trained
    assert not any(r.message.endswith(": training") for r in caplog.records)
    done = [r.message for r in caplog.records if r.message.startswith("nothing left to train")]
    assert done == [f"nothing left to train: {before} planned runs reused, 0 not trainable now"]


@pytest.mark.e2e
def test_a_run_with_another_config_is_not_reused(quick):
    store, _ = quick
    runs = reproduce.plan(quick=True, store=store)
    changed = [
        reproduce.Planned(p.key, p.group, p.label, p.seed, p.config.replace(lr=0.01))
        for p in runs[:1]
    ]
    assert reproduce.find_runs(store, changed) == {}
    assert set(reproduce.find_runs(store, runs)) == {p.key for p in runs}


def test_a_stored_run_matches_the_calibration_it_ran_not_the_word_auto():
    cfg = reproduce.plan(quick=True)[0].config.replace(schedule="actcool", calibration="auto")
    stored = cfg.to_dict()
    # before the default became ramp, "auto" resolved to fixed; the summary says so
    assert reproduce._same(stored, cfg.replace(calibration="fixed"), {"calibration": "fixed:2"})
    assert not reproduce._same(stored, cfg, {"calibration": "fixed:2"})
    assert reproduce._same(stored, cfg, {"calibration": "ramp:0.25"})
    assert reproduce._same(stored, cfg.replace(calibration="ramp"), None)  # not started yet
    assert not reproduce._same(stored, cfg.replace(calibration="fixed"), None)


def test_outward_rates_follow_the_1_2_5_sequence():
    assert [reproduce.outward_rate(x, lower=True) for x in (0.02, 0.01, 0.05, 0.1)] == [
        0.01,
        0.005,
        0.02,
        0.05,
    ]
    assert [reproduce.outward_rate(x, lower=False) for x in (0.2, 0.5, 1.0)] == [0.5, 1.0, 2.0]


def test_a_grid_whose_best_rate_is_at_an_end_grows_outward(tmp_path):
    store = Store(tmp_path / "store")
    full = reproduce.plan(quick=False)
    cosine = {p.config.lr: p for p in full if p.group == "grid" and p.label == "cosine"}
    for lr, p in cosine.items():
        _finish(store, p, {0.02: 9.7, 0.05: 9.9, 0.1: 10.8, 0.2: 12.9}[lr])
    planned = {p.key: p for p in reproduce.plan(quick=False, store=store)}
    # best at the lowest rate: one rate below is planned, seed 1 waits for it
    assert "grid/cosine/lr0.01/seed0" in planned and "best/cosine/seed1" not in planned
    assert planned["grid/cosine/lr0.01/seed0"].config.lr == 0.01
    assert "plan:grid/cosine/lr0.01/seed0" in planned["grid/cosine/lr0.01/seed0"].config.tags
    _finish(store, planned["grid/cosine/lr0.01/seed0"], 9.5)  # better again: one more below
    planned = {p.key: p for p in reproduce.plan(quick=False, store=store)}
    assert "grid/cosine/lr0.005/seed0" in planned and "best/cosine/seed1" not in planned
    _finish(store, planned["grid/cosine/lr0.005/seed0"], 9.8)  # worse: 0.01 is inside now
    planned = {p.key: p for p in reproduce.plan(quick=False, store=store)}
    assert "grid/cosine/lr0.002/seed0" not in planned
    assert planned["best/cosine/seed1"].config.lr == 0.01
    # a grid whose best rate lies inside is not extended
    assert not any(k.startswith("grid/onecycle/lr0.01") for k in planned)


def test_the_cifar_one_cycle_grid_grows_outward_too(tmp_path):
    store = Store(tmp_path / "store")
    full = reproduce.plan(quick=False)
    for p in full:
        if p.group == "cifar" and p.label == "onecycle":
            _finish(store, p, {0.05: 36.5, 0.1: 33.8, 0.2: 33.7}[p.config.lr])
    planned = {p.key: p for p in reproduce.plan(quick=False, store=store)}
    above = planned["cifar/onecycle/lr0.5/seed0"]
    assert above.config.lr == 0.5 and above.config.model == "resnet20" and above.model == "resnet20"
    assert "cifar/replay/seed0" not in planned  # the replay waits for the grid's best rate
    _finish(store, above, 40.0)
    planned = {p.key: p for p in reproduce.plan(quick=False, store=store)}
    assert planned["cifar/replay/seed0"].replay_of == "cifar/onecycle/lr0.2/seed0"
    assert "cifar/onecycle/lr1/seed0" not in planned
