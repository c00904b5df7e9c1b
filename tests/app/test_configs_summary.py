"""Launch settings (parsing, configs, demo) and run summaries (progress, ETA, table)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app import configs, summary
from trainer.config import SCHEDULES, RunConfig


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0", [0]), ("0, 1, 2", [0, 1, 2]), ("3-5", [3, 4, 5]), ("1,1, 2;", [1, 2])],
)
def test_parse_seeds(text, seeds):
    assert configs.parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "at least one seed"), ("a", "not a whole number"), ("1.5", "not a whole number"),
     ("0-40", "at most 32"), ("__import__('os')", "not a whole number")],
)
def test_parse_seeds_rejects_anything_else(text, message):
    with pytest.raises(ValueError, match=message):
        configs.parse_seeds(text)


def test_parse_floats():
    assert configs.parse_floats("0.5, 0.75", "drops") == (0.5, 0.75)
    with pytest.raises(ValueError, match="drops: 'x' is not a number"):
        configs.parse_floats("0.5, x", "drops")
    with pytest.raises(ValueError, match="not a finite"):
        configs.parse_floats("nan", "drops")


def test_target_spec():
    designed = {"kind": "drawn", "points": [[0, 3], [1, 0]], "interpolation": "linear"}
    assert json.loads(configs.target_spec("designed", designed)) == designed
    assert configs.target_spec("saved", saved_name="hot") == "hot"
    assert configs.target_spec("power", t_start=3.17, gamma=2) == "power:3.17,2"
    with pytest.raises(ValueError, match="Design page"):
        configs.target_spec("designed", None)


def test_build_configs_one_per_schedule_and_seed():
    settings = {"model": "convnet4", "dataset": "digits", "epochs": 2, "batch_size": 64}
    runs = configs.build_configs(settings, ["actcool", "onecycle"], [0, 1], name="cmp")
    assert [(c.schedule, c.seed) for c in runs] == [
        ("actcool", 0), ("actcool", 1), ("onecycle", 0), ("onecycle", 1)]
    assert runs[1].name == "cmp-actcool-s1"
    assert {c.epochs for c in runs} == {2}
    single = configs.build_configs(settings, ["cosine"], [3])
    assert single[0].name == "convnet4-digits-cosine"


def test_build_configs_reports_runconfig_errors():
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        configs.build_configs({"epochs": 0}, ["actcool"], [0])
    with pytest.raises(ValueError, match="unknown model"):
        configs.build_configs({"model": "resnet-33"}, ["actcool"], [0])
    with pytest.raises(ValueError, match="at least one schedule"):
        configs.build_configs({}, [], [0])


def test_schedule_order_puts_actcool_first_and_keeps_all():
    order = configs.schedule_order(SCHEDULES)
    assert order[0] == "actcool" and sorted(order) == sorted(SCHEDULES)


def test_demo_is_actcool_against_onecycle_on_digits():
    demo = configs.demo_configs()
    assert [c.schedule for c in demo] == ["actcool", "onecycle"]
    for config in demo:
        assert isinstance(config, RunConfig)
        assert config.dataset == "digits" and configs.DEMO_TAG in config.tags
        assert config.epochs * 10 <= 100  # 10 steps per epoch at batch 128: a minute on a CPU


def test_run_label_and_durations():
    assert summary.run_label({"id": "ab12", "name": "x", "status": "running"}) == "x · ab12 · running"
    assert summary.format_duration(5.4) == "5 s"
    assert summary.format_duration(125) == "2 min 05 s"
    assert summary.format_duration(3 * 3600 + 120) == "3 h 02 min"
    assert summary.format_duration(None) == "—"


def test_progress_and_eta_of_a_running_run():
    steps = pd.DataFrame({"step": np.arange(100), "wall_time": 1000.0 + np.arange(100) * 0.5})
    run = {"status": "running", "summary": {"total_steps": 300}}
    done = summary.progress(run, steps)
    assert done.done == 100 and done.total == 300
    assert done.steps_per_second == pytest.approx(2.0)
    assert done.eta_seconds == pytest.approx(100.0)
    assert done.fraction == pytest.approx(1 / 3)


def test_progress_of_a_queued_or_finished_run():
    empty = pd.DataFrame({"step": [], "wall_time": []})
    queued = summary.progress({"status": "queued", "summary": {}}, empty)
    assert (queued.done, queued.total, queued.eta_seconds, queued.fraction) == (0, None, None, 0.0)
    finished = summary.progress({"status": "finished", "summary": {"total_steps": 10, "steps": 10}},
                                empty)
    assert finished.done == 10 and finished.eta_seconds is None


def test_compare_table_final_and_best_errors():
    runs = pd.DataFrame([
        {"id": "a", "name": "A", "status": "finished", "schedule": "actcool",
         "summary": {"test_error": 4.0, "wall_time": 12.0, "steps": 100}},
        {"id": "b", "name": "B", "status": "running", "schedule": "onecycle", "summary": {}},
    ])
    evals = {
        "a": pd.DataFrame({"step": [9, 99], "val_error": [9.0, 5.0], "test_error": [np.nan, 4.0]}),
        "b": pd.DataFrame({"step": [9, 19], "val_error": [8.0, 7.0],
                           "test_error": [6.0, 5.5]}),
    }
    steps = {"b": pd.DataFrame({"step": [0, 19], "wall_time": [100.0, 130.0]})}
    table = summary.compare_table(runs, evals, steps).set_index("id")
    assert table.loc["a", "final test error (%)"] == 4.0
    assert table.loc["a", "best val error (%)"] == 5.0
    assert table.loc["b", "final test error (%)"] == 5.5
    assert table.loc["b", "best test error (%)"] == 5.5
    assert table.loc["b", "wall time (s)"] == 30.0
    assert table.loc["b", "steps"] == 20
