"""The reproduction's plan: its runs, the runs planned once others finish (best rates with
seed 1, replays, grids growing outward), and how stored runs are matched to it (no training)."""

from __future__ import annotations

import json

from actcool import Calibration
from benchmarks import plan as P
from storage import Store


def _finish(store: Store, p: P.Planned, test_error: float) -> str:
    rid = store.create_run(p.config.to_dict(), name=p.config.name, tags=p.config.tags)
    store.update_run(
        rid,
        status="finished",
        finished=True,
        summary={"test_error": test_error, "total_steps": 10, "wall_time": 1.0},
    )
    return rid


def test_plan_covers_every_section_with_two_seeds(tmp_path):
    runs = P.plan(quick=False)
    keys = {p.key for p in runs}
    assert len(keys) == len(runs)
    for s in P.BASELINES:
        assert {f"grid/{s}/lr{lr:g}/seed0" for lr in P.RATES} <= keys
    assert {f"actcool/{c}/seed{s}" for c in P.CALIBRATIONS for s in P.SEEDS} <= keys
    assert all(
        p.config.lr == P.HINT_LR and p.config.schedule == "actcool"
        for p in runs
        if p.group == "actcool"
    )
    assert {p.config.calibration for p in runs if p.group == "actcool"} == {"fixed", "ramp"}
    # the γ sweep cools the default target along power curves
    gammas = {Calibration.parse(p.config.calibration) for p in runs if p.group == "gamma"}
    assert gammas == {Calibration(P.AUTO, gamma=g) for g in (0.5, 2.0, 4.0)}
    assert {p.config.target for p in runs if p.group == "gamma"} == {"default"}
    assert {f"cifar/onecycle/lr{lr:g}/seed0" for lr in P.CIFAR_RATES} <= keys
    # the default calibration with both seeds, the other with seed 0
    assert {f"cifar/actcool/{P.AUTO}/seed{s}" for s in P.SEEDS} <= keys
    assert {f"cifar/actcool/{c}/seed0" for c in P.CALIBRATIONS} <= keys
    assert {p.model for p in runs if p.group == "cifar"} == {"resnet20"}
    assert all(p.config.dataset == "fashion-mnist" for p in runs if p.group != "cifar")
    assert all(f"plan:{p.key}" in p.config.tags for p in runs)
    # Without a store nothing depends on finished runs: no best rates, no replays.
    assert not any(p.group in ("best", "replay") or p.replay_of for p in runs)

    # Once a grid has finished, its best rate is planned with seed 1 (and 1-cycle's replays).
    store = Store(tmp_path / "store")
    quick = P.plan(quick=True)
    assert P.plan(quick=True, store=store) == quick
    errors = {0.05: 3.0, 0.2: 2.0}
    for p in quick:
        if p.group == "grid" and p.label == "onecycle":
            _finish(store, p, errors[p.config.lr])
    more = {p.key: p for p in P.plan(quick=True, store=store)}
    assert set(more) - {p.key for p in quick} == {
        "best/onecycle/seed1",
        "replay/onecycle/seed0",
        "replay/onecycle/seed1",
    }
    assert more["best/onecycle/seed1"].config.lr == 0.2 and more["best/onecycle/seed1"].seed == 1
    assert more["replay/onecycle/seed0"].replay_of == "grid/onecycle/lr0.2/seed0"
    assert more["replay/onecycle/seed1"].replay_of == "best/onecycle/seed1"
    assert more["replay/onecycle/seed0"].config.lr == 0.2  # the rate ceiling: the source's peak


def test_a_replay_is_matched_on_the_curve_it_replayed():
    curve = {"kind": "replay", "fractions": [0.0, 1.0], "temperatures": [2.0, 0.0]}
    cfg = P.plan(quick=True)[0].config.replace(schedule="actcool", target=json.dumps(curve))
    stored = {**cfg.to_dict(), "target": json.dumps(curve, indent=1)}
    assert P._same(stored, cfg)
    hotter = {**curve, "temperatures": [3.0, 0.0]}
    assert not P._same(stored, cfg.replace(target=json.dumps(hotter)))
    # a named target is stored resolved, so it is not compared
    named = cfg.replace(target="default")
    assert P._same({**named.to_dict(), "target": json.dumps(curve)}, named)


def test_a_stored_run_matches_the_calibration_it_ran_not_the_word_auto():
    cfg = P.plan(quick=True)[0].config.replace(schedule="actcool", calibration="auto")
    stored = cfg.to_dict()
    # before the default became ramp, "auto" resolved to fixed; the summary says so
    assert P._same(stored, cfg.replace(calibration="fixed"), {"calibration": "fixed:2"})
    assert not P._same(stored, cfg, {"calibration": "fixed:2"})
    assert P._same(stored, cfg, {"calibration": "ramp:0.25"})
    assert P._same(stored, cfg.replace(calibration="ramp"), None)  # not started yet
    assert not P._same(stored, cfg.replace(calibration="fixed"), None)


def test_outward_rates_follow_the_1_2_5_sequence():
    assert [P.outward_rate(x, lower=True) for x in (0.02, 0.01, 0.05, 0.1)] == [
        0.01,
        0.005,
        0.02,
        0.05,
    ]
    assert [P.outward_rate(x, lower=False) for x in (0.2, 0.5, 1.0)] == [0.5, 1.0, 2.0]


def test_a_grid_whose_best_rate_is_at_an_end_grows_outward(tmp_path):
    store = Store(tmp_path / "store")
    full = P.plan(quick=False)
    cosine = {p.config.lr: p for p in full if p.group == "grid" and p.label == "cosine"}
    for lr, p in cosine.items():
        _finish(store, p, {0.02: 9.7, 0.05: 9.9, 0.1: 10.8, 0.2: 12.9}[lr])
    planned = {p.key: p for p in P.plan(quick=False, store=store)}
    # best at the lowest rate: one rate below is planned, seed 1 waits for it
    assert "grid/cosine/lr0.01/seed0" in planned and "best/cosine/seed1" not in planned
    assert planned["grid/cosine/lr0.01/seed0"].config.lr == 0.01
    assert "plan:grid/cosine/lr0.01/seed0" in planned["grid/cosine/lr0.01/seed0"].config.tags
    _finish(store, planned["grid/cosine/lr0.01/seed0"], 9.5)  # better again: one more below
    planned = {p.key: p for p in P.plan(quick=False, store=store)}
    assert "grid/cosine/lr0.005/seed0" in planned and "best/cosine/seed1" not in planned
    _finish(store, planned["grid/cosine/lr0.005/seed0"], 9.8)  # worse: 0.01 is inside now
    planned = {p.key: p for p in P.plan(quick=False, store=store)}
    assert "grid/cosine/lr0.002/seed0" not in planned
    assert planned["best/cosine/seed1"].config.lr == 0.01
    # a grid whose best rate lies inside is not extended
    assert not any(k.startswith("grid/onecycle/lr0.01") for k in planned)


def test_the_cifar_one_cycle_grid_grows_outward_too(tmp_path):
    store = Store(tmp_path / "store")
    full = P.plan(quick=False)
    for p in full:
        if p.group == "cifar" and p.label == "onecycle":
            _finish(store, p, {0.05: 36.5, 0.1: 33.8, 0.2: 33.7}[p.config.lr])
    planned = {p.key: p for p in P.plan(quick=False, store=store)}
    above = planned["cifar/onecycle/lr0.5/seed0"]
    assert above.config.lr == 0.5 and above.config.model == "resnet20" and above.model == "resnet20"
    assert "cifar/replay/seed0" not in planned  # the replay waits for the grid's best rate
    _finish(store, above, 40.0)
    planned = {p.key: p for p in P.plan(quick=False, store=store)}
    assert planned["cifar/replay/seed0"].replay_of == "cifar/onecycle/lr0.2/seed0"
    assert "cifar/onecycle/lr1/seed0" not in planned
