"""Launch settings (parsing, configs, demo) and run summaries (progress, ETA, table)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from actcool import Calibration
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
    [
        ("", "at least one seed"),
        ("a", "not a whole number"),
        ("1.5", "not a whole number"),
        ("0-40", "at most 32"),
        ("__import__('os')", "not a whole number"),
    ],
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
    assert configs.target_spec("default") == "default"
    with pytest.raises(ValueError, match="Design page"):
        configs.target_spec("designed", None)


def test_build_configs_one_per_schedule_and_seed():
    settings = {"model": "convnet4", "dataset": "digits", "epochs": 2, "batch_size": 64}
    runs = configs.build_configs(settings, ["actcool", "onecycle"], [0, 1], name="cmp")
    assert [(c.schedule, c.seed) for c in runs] == [
        ("actcool", 0),
        ("actcool", 1),
        ("onecycle", 0),
        ("onecycle", 1),
    ]
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


def test_demo_is_actcool_against_onecycle_on_digits_over_the_same_seeds():
    demo = configs.demo_configs()
    assert [(c.schedule, c.seed) for c in demo] == [
        (schedule, seed) for schedule in ("actcool", "onecycle") for seed in (0, 1, 2)
    ]
    for config in demo:
        assert isinstance(config, RunConfig)
        assert config.dataset == "digits" and configs.DEMO_TAG in config.tags
        assert config.lr == 0.1  # ActCoolLR's hint is 1-cycle's peak
        assert {
            k: v
            for k, v in config.to_dict().items()
            if k not in ("schedule", "seed", "name", "target")
        } == {
            k: v
            for k, v in demo[0].to_dict().items()
            if k not in ("schedule", "seed", "name", "target")
        }  # otherwise identical
    assert len({c.name for c in demo}) == len(demo)
    actcool = demo[0]
    assert (actcool.target, actcool.calibration, actcool.response) == ("default", "auto", "weibull")
    assert actcool.lr_max is None and actcool.granularity == "unit:64"
    # the ramp calibration: 80 steps (10 per epoch at batch 128), a 20-step warm-up measured
    # every 2 steps, its second half (where T_start is read) 5 measurements
    steps = actcool.epochs * 10
    warmup = Calibration.parse(actcool.calibration).fraction * steps
    assert steps == 80 and warmup / 2 / actcool.measure_every == 5


def test_demo_description_is_read_off_the_demo_configs():
    demo = configs.demo_configs()
    text = configs.demo_description(demo)
    assert "**ActCoolLR** against **1-cycle**, each with the seeds 0, 1, 2" in text
    assert "8 epochs at batch 128" in text and "calibration **ramp:0.25**" in text
    assert "2 bits" not in text  # the fixed calibration's start, which the demo does not use
    fixed = [c.replace(calibration="fixed:3", epochs=4, seed=c.seed + 5) for c in demo]
    text = configs.demo_description(fixed)
    assert "calibration **fixed:3**" in text and "from **3 bits**" in text
    assert "4 epochs" in text and "seeds 5, 6, 7" in text and "ramp" not in text


def test_seed_spread_says_whether_the_schedules_differ_beyond_the_seeds():
    table = pd.DataFrame(
        {
            "id": ["a0", "a1", "a2", "o0", "o1", "o2", "q"],
            "schedule": ["actcool"] * 3 + ["onecycle"] * 3 + ["cosine"],
            "final test error (%)": [0.84, 0.56, 0.84, 0.84, 0.84, 0.84, np.nan],
        }
    )
    seeds = {"a0": 0, "a1": 1, "a2": 2, "o0": 0, "o1": 1, "o2": 2, "q": 0}
    text = summary.seed_spread(table, seeds, configs.SCHEDULE_LABELS)
    assert "**ActCoolLR** 0.75% (0.56–0.84%, 3 runs, seeds 0, 1, 2)" in text
    assert "**1-cycle** 0.84% (0.84–0.84%, 3 runs, seeds 0, 1, 2)" in text
    assert "cosine" not in text  # no test error yet
    assert "The means differ by 0.09 points" in text and "up to 0.28 points" in text
    assert "do not tell the schedules apart" in text
    apart = table.assign(**{"final test error (%)": [0.5, 0.6, 0.5, 2.0, 2.1, 2.0, np.nan]})
    assert "more than the runs of one schedule differ" in summary.seed_spread(apart, seeds)
    assert summary.seed_spread(table.iloc[[0, 3]], seeds) is None  # one run each: no spread


@pytest.mark.e2e
def test_demo_actcool_run_finishes_sensibly_on_digits(tmp_path):
    """The demo's first ActCoolLR run, trained for real (80 steps on digits, under a minute):
    the controller steers the cool-down (the rate leaves the peak), which it does not on
    digits at 160 steps (see configs.demo_configs)."""
    from storage import Store
    from trainer.run import train_run

    store = Store(tmp_path / "home")
    result = train_run(configs.demo_configs()[0], store, progress=False)
    assert result.status == "finished", result.message
    run = store.get_run(result.run_id)
    assert run["summary"]["calibration"] == "ramp:0.25" and run["summary"]["t_start"] > 0
    assert run["summary"]["response"] == "weibull" and 0.3 < run["summary"]["k"] < 3
    assert result.test_error is not None and result.test_error < 10.0  # % on digits
    steps = store.steps(result.run_id, max_points=None)
    assert len(steps) == 80
    # the peak the finder chose from the step-0 scan (the typed 0.1, or 4.5 λ0) is the ceiling
    peak = run["summary"]["found_lr"]
    assert peak == pytest.approx(4.5 * run["summary"]["rate_scale"]) or peak == 0.1
    assert steps["lr"].between(1e-6, peak + 1e-12).all()
    measured = steps.dropna(subset=["mean_temperature", "target_temperature"])
    # After the ramp the rate stays at the ceiling only while the temperature there is below
    # the target (T̄/λ keeps falling after the warm-up, docs/algorithm.md §5) ...
    ceiling = peak * (1 - 1e-9)
    capped, free = measured[measured["lr"] >= ceiling], measured[measured["lr"] < ceiling]
    assert (capped["mean_temperature"] - capped["target_temperature"]).median() < 0
    # ... and wherever the rate is free, the measured temperature follows the cool-down
    assert len(free) >= 3
    assert (free["mean_temperature"] - free["target_temperature"]).abs().median() < 0.5


def test_calibration_spec():
    assert configs.calibration_spec("auto") == "auto"
    assert configs.calibration_spec("fixed", start_bits=2.5) == "fixed:2.5"
    assert configs.calibration_spec("ramp", fraction=0.3) == "ramp:0.3"
    with pytest.raises(ValueError, match="calibration warm-up share: fraction must lie"):
        configs.calibration_spec("ramp", fraction=1.0)
    with pytest.raises(ValueError, match=r"calibration start temperature \(bits\)"):
        configs.calibration_spec("fixed", start_bits=0.0)
    with pytest.raises(ValueError, match="calibration: unknown kind 'warm'"):
        configs.calibration_spec("warm")
    # a cool-down γ other than 1 is written out (auto with γ is the ramp it stands for)
    assert configs.calibration_spec("ramp", fraction=0.3, gamma=2.0) == "ramp:0.3:2"
    assert configs.calibration_spec("auto", gamma=0.5) == "ramp:0.25:0.5"
    assert configs.calibration_spec("fixed", start_bits=2.5, gamma=1.0) == "fixed:2.5"
    with pytest.raises(ValueError, match="calibration γ: gamma must be a finite number > 0"):
        configs.calibration_spec("ramp", gamma=0.0)


def actcool_run(summary_: dict, status: str = "finished", **config) -> dict:
    return {
        "schedule": "actcool",
        "status": status,
        "summary": summary_,
        "config": RunConfig(**config).to_dict(),
    }


def test_actcool_details_of_the_calibrated_default():
    fixed = actcool_run(
        {"calibration": "fixed:2", "t_start": 2.0, "response": "weibull", "k": 0.97}
    )
    assert summary.actcool_details(fixed) == [
        "calibrated default target, calibration fixed:2, T_start 2.00 bits",
        "law weibull k = 0.97, smoothing 0.5",
    ]
    ramp = {"calibration": "ramp:0.25", "t_start": None, "response": "gaussian", "sigma": 1.2}
    details = summary.actcool_details(actcool_run(ramp, "running", response="gaussian"))
    assert details == [
        "calibrated default target, calibration ramp:0.25, T_start pending until the warm-up ends",
        "law gaussian σ = 1.20, smoothing 0.5",
    ]
    ended = summary.actcool_details(actcool_run(ramp, "stopped", response="gaussian"))
    assert "T_start not reached (the run ended during the warm-up)" in ended[0]
    # before the trainer wrote its summary: what was asked for
    queued = summary.actcool_details(actcool_run({}, "queued", calibration="ramp:0.3"))
    assert queued == [
        "calibrated default target, calibration ramp:0.3 (resolved when the run starts)",
        "law weibull k fitted at step 0, smoothing 0.5",
    ]


def test_actcool_details_say_only_what_a_run_recorded_outside_the_trainer_knows():
    outside = {"schedule": "actcool", "status": "finished", "summary": {}, "config": {}}
    assert summary.actcool_details(outside) == []
    said = {**outside, "config": {"schedule": "actcool", "response": "weibull", "k": 0.9}}
    assert summary.actcool_details(said) == ["law weibull k = 0.90"]
    assert summary.known_granularity(outside) is None
    assert summary.known_granularity({**outside, "summary": {"granularity": "unit"}}) == "unit:64"
    old_trainer_run = actcool_run({})
    old_trainer_run["config"].pop("granularity")
    assert summary.known_granularity(old_trainer_run) == "sample"  # RunConfig.LEGACY


def test_recorded_t_start_inverts_the_calibrated_cool_down():
    from actcool.calibration import cooldown_after

    curve = cooldown_after(3.5, 0.3, 2.0)
    steps = pd.DataFrame(
        {"step": [10, 200, 250], "target_temperature": [np.nan, curve(0.5), curve(0.625)]}
    )
    run = {"summary": {"calibration": "ramp:0.3:2", "total_steps": 400}}
    assert summary.recorded_t_start(run, steps) == pytest.approx(3.5)
    assert summary.recorded_t_start(run, steps.iloc[:1]) is None  # still warming up
    fixed = {"summary": {"calibration": "fixed:2", "total_steps": 400}}
    assert summary.recorded_t_start(fixed, steps) is None


def test_actcool_details_name_the_peak_rate_the_finder_chose():
    found = {"calibration": "ramp:0.25", "t_start": 2.5, "response": "weibull", "k": 1.0}
    details = summary.actcool_details(actcool_run({**found, "found_lr": 0.03}, lr=0.5))
    assert details[1] == "peak rate 0.03 found from the step-0 scan (typed 0.5)"
    kept = summary.actcool_details(actcool_run({**found, "found_lr": 0.05}, lr=0.05))
    assert kept[1] == "peak rate 0.05 found from the step-0 scan, the typed 0.05 kept"
    assert len(summary.actcool_details(actcool_run(found, lr=0.05))) == 2  # no finder: nothing


def test_actcool_details_of_a_given_target_and_other_schedules():
    target = json.dumps({"kind": "power", "t_start": 6.0, "gamma": 2.0})
    run = actcool_run({"response": "weibull", "k": 1.0}, target=target, k=1.0)
    assert summary.actcool_details(run) == [
        "target power cool-down from 6 bits, γ 2",
        "law weibull k = 1.00, smoothing 0.5",
    ]
    assert summary.actcool_details({"schedule": "onecycle", "summary": {}, "config": {}}) == []


def test_run_label_and_durations():
    assert (
        summary.run_label({"id": "ab12", "name": "x", "status": "running"}) == "x · ab12 · running"
    )
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
    finished = summary.progress(
        {"status": "finished", "summary": {"total_steps": 10, "steps": 10}}, empty
    )
    assert finished.done == 10 and finished.eta_seconds is None


def test_compare_table_final_and_best_errors():
    runs = pd.DataFrame(
        [
            {
                "id": "a",
                "name": "A",
                "status": "finished",
                "schedule": "actcool",
                "summary": {"test_error": 4.0, "wall_time": 12.0, "steps": 100},
                "config": {"granularity": "unit:32"},
            },
            {"id": "b", "name": "B", "status": "running", "schedule": "onecycle", "summary": {}},
        ]
    )
    evals = {
        "a": pd.DataFrame({"step": [9, 99], "val_error": [9.0, 5.0], "test_error": [np.nan, 4.0]}),
        "b": pd.DataFrame({"step": [9, 19], "val_error": [8.0, 7.0], "test_error": [6.0, 5.5]}),
    }
    steps = {"b": pd.DataFrame({"step": [0, 19], "wall_time": [100.0, 130.0]})}
    table = summary.compare_table(runs, evals, steps).set_index("id")
    assert table.loc["a", "final test error (%)"] == 4.0
    assert table.loc["a", "best val error (%)"] == 5.0
    assert table.loc["b", "final test error (%)"] == 5.5
    assert table.loc["b", "best test error (%)"] == 5.5
    assert table.loc["b", "wall time (s)"] == 30.0
    assert table.loc["b", "steps"] == 20
    assert list(table["granularity"]) == ["unit:32", "sample"]  # b: recorded before


@pytest.mark.parametrize(
    ("kind", "length", "spec"),
    [
        ("unit", 64, "unit:64"),
        ("unit", 32, "unit:32"),
        ("position", 32, "position"),
        ("sample", 64, "sample"),
    ],
)
def test_granularity_spec(kind, length, spec):
    assert configs.granularity_spec(kind, length) == spec


def test_build_configs_new_runs_take_the_default_granularity():
    (config,) = configs.build_configs({"epochs": 1}, ["cosine"], [0])
    assert config.granularity == "unit:64"
    (config,) = configs.build_configs({"granularity": "position"}, ["cosine"], [0])
    assert config.granularity == "position"


def test_granularity_spec_rejects_a_bad_choice():
    with pytest.raises(ValueError, match="unknown granularity"):
        configs.granularity_spec("pixel")
    with pytest.raises(ValueError, match="positive integer"):
        configs.granularity_spec("unit", 0)


def test_granularity_of_a_config():
    assert summary.granularity_of({"granularity": "unit:32"}) == "unit:32"
    assert summary.granularity_of({"granularity": "unit"}) == "unit:64"  # normalised
    assert summary.granularity_of({"model": "convnet4"}) == "sample"  # recorded before
    assert summary.granularity_of(None) == "sample"
    assert summary.granularity_of({"granularity": "pixel:3"}) == "pixel:3"  # shown as written


def test_granularity_groups_keep_the_order_of_the_runs():
    groups = summary.granularity_groups({"a": "unit:64", "b": "sample", "c": "unit:64"})
    assert groups == {"unit:64": ["a", "c"], "sample": ["b"]}
    assert list(groups) == ["unit:64", "sample"]


def two_model_fits() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "step": 0,
                "site": "mean",
                "model": "gaussian",
                "mu": -3.0,
                "sigma": 1.5,
                "lambda0": np.nan,
                "k": np.nan,
                "rmse": 0.05,
                "n_informative": 9,
                "reason": None,
            },
            {
                "step": 0,
                "site": "mean",
                "model": "weibull",
                "mu": np.nan,
                "sigma": np.nan,
                "lambda0": 0.04,
                "k": 0.9,
                "rmse": 0.01,
                "n_informative": 9,
                "reason": None,
            },
            {
                "step": 0,
                "site": "relu1",
                "model": "gaussian",
                "mu": np.nan,
                "sigma": np.nan,
                "lambda0": np.nan,
                "k": np.nan,
                "rmse": np.nan,
                "n_informative": 1,
                "reason": "too few informative points",
            },
            {
                "step": 0,
                "site": "relu1",
                "model": "weibull",
                "mu": np.nan,
                "sigma": np.nan,
                "lambda0": 0.05,
                "k": 1.1,
                "rmse": 0.02,
                "n_informative": 1,
                "reason": None,
            },
            {
                "step": 10,
                "site": "mean",
                "model": "gaussian",
                "mu": -4.0,
                "sigma": 1.0,
                "lambda0": np.nan,
                "k": np.nan,
                "rmse": 0.03,
                "n_informative": 9,
                "reason": None,
            },
        ]
    )


def test_fit_table_has_both_models_per_site_and_why_one_is_missing():
    table = summary.fit_table(two_model_fits(), 0).set_index("site")
    assert list(table.index) == ["mean", "relu1"]
    assert table.loc["mean", "e^μ"] == pytest.approx(np.exp(-3.0))
    assert table.loc["mean", "λ0"] == 0.04 and table.loc["mean", "k"] == 0.9
    assert table.loc["mean", "better"] == "Weibull"
    assert table.loc["mean", "note"] == ""
    assert np.isnan(table.loc["relu1", "e^μ"]) and table.loc["relu1", "λ0"] == 0.05
    assert table.loc["relu1", "note"] == "Gaussian CDF — no fit: too few informative points"
    assert table.loc["relu1", "better"] == ""  # only one model fitted


def test_fits_of_an_old_store_read_as_gaussian_only():
    old = two_model_fits()
    old = old[old["model"] == "gaussian"].drop(columns=["model", "lambda0", "k", "reason"])
    fits = summary.normalize_fits(old)
    assert set(fits["model"]) == {"gaussian"}
    params, why = summary.model_fit(fits, 10, "mean", "gaussian")
    assert params == {"mu": -4.0, "sigma": 1.0, "rmse": 0.03} and why is None
    params, why = summary.model_fit(fits, 10, "mean", "weibull")
    assert params is None and why == "not recorded for this scan"
    params, why = summary.model_fit(fits, 0, "relu1", "gaussian")
    assert params is None and why == "reason not recorded"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("lr", float("inf"), "lr must be a finite number > 0, got inf"),
        ("lr", float("nan"), "lr must be a finite number > 0, got nan"),
        ("epochs", 0, "epochs must be >= 1, got 0"),
        ("lr_max", -1.0, "lr_max must be a finite number > 0, got -1.0"),
    ],
)
def test_a_launch_fields_problem_is_runconfigs_message(name, value, message):
    # (Streamlit's number field itself refuses inf and nan; the check does not rely on it.)
    assert configs.field_problem(name, value) == message
    assert configs.field_problem(name, 1) is None


def test_reach_problems_flag_a_target_above_the_sample_cap_and_one_that_never_cools():
    errors, warnings = configs.reach_problems(
        {"kind": "power", "t_start": 9.0, "gamma": 1.0}, "sample", 128
    )
    assert len(errors) == 1 and "log2(2·128) = 8.00 bits" in errors[0] and warnings == []
    assert configs.reach_problems(
        {"kind": "power", "t_start": 9.0, "gamma": 1.0}, "unit:64", 128
    ) == ([], [])  # unit has no cap
    errors, warnings = configs.reach_problems(
        {"kind": "constant", "temperature": 2.0}, "unit:64", 128
    )
    assert errors == [] and "never cools" in warnings[0]


def test_fits_at_the_edge_of_the_scan_grid_are_named_with_a_grid_to_use():
    rates = np.logspace(-4, 2, 25)  # 1e-4 .. 1e2, as RunConfig scans
    scans = pd.DataFrame({"step": 0, "rate": rates, "site": "mean"})
    fits = pd.DataFrame(
        {
            "step": [0, 0],
            "site": ["mean", "mean"],
            "model": ["gaussian", "weibull"],
            "mu": [np.log(1.2e-4), np.nan],
            "sigma": [1.0, np.nan],
            "lambda0": [np.nan, 0.05],
            "k": [np.nan, 1.0],
            "rmse": [0.01, 0.01],
            "reason": [None, None],
        }
    )
    (message,) = summary.grid_edge_fits(scans, fits)  # λ0 = 0.05 lies well inside
    assert message.startswith(
        "step 0: e^μ = 0.00012 lies at the low edge of the scan grid 0.0001–100"
    )
    assert "scan 1e-07–0.1 instead (scan_low=1e-07, scan_high=0.1)" in message
    inside = fits.assign(mu=np.log(0.05))
    assert summary.grid_edge_fits(scans, inside) == []


def test_picker_label_names_the_steps_of_an_ended_run_only():
    ended = {
        "id": "ab12",
        "name": "x",
        "status": "stopped",
        "summary": {"steps": 40, "total_steps": 400},
    }
    assert summary.picker_label(ended) == "x · ab12 · stopped · 40/400 steps"
    # once it runs again, the stop's count is out of date: the panel shows the live step
    assert summary.picker_label({**ended, "status": "running"}) == "x · ab12 · running"


def test_precision_settings_never_ask_for_amp_and_bf16():
    settings = {choice: configs.precision_settings(choice) for choice in configs.PRECISION_LABELS}
    assert settings == {
        "fp32": {"precision": "fp32", "amp": False},
        "bf16": {"precision": "bf16", "amp": False},
        "fp16": {"precision": "fp32", "amp": True},
    }
    for fields in settings.values():
        RunConfig(**fields)  # each one accepted
    with pytest.raises(
        ValueError, match="unknown precision 'fp8'; choose one of: fp32, bf16, fp16"
    ):
        configs.precision_settings("fp8")


def test_branch_search_refusal_follows_runconfig():
    assert configs.branch_search_refusal("default", "auto") is None
    assert configs.branch_search_refusal("default", "ramp:0.3:2") is None
    assert configs.branch_search_refusal("default", "fixed:2") == (
        "The branch search needs calibration auto or ramp, not fixed:2: it runs half-way "
        "through the ramp's warm-up."
    )
    assert configs.branch_search_refusal("power:3,1", "auto").startswith(
        "The branch search needs the calibrated default target"
    )
    assert configs.BRANCH_SEARCH_STEPS == 460  # 7 × (60 + 16/3), docs/algorithm.md §4.9


def test_build_configs_gives_the_branch_search_to_actcool_runs_only():
    runs = configs.build_configs({"branch_search": True}, ["actcool", "onecycle"], [0])
    assert [(c.schedule, c.branch_search) for c in runs] == [("actcool", True), ("onecycle", False)]


def test_hardware_details_and_the_settings_line():
    assert summary.hardware_details(RunConfig().to_dict()) == ["fp32"]
    assert summary.hardware_details(RunConfig().to_dict(), fp32=False) == []
    fast = RunConfig(precision="bf16", channels_last=True, compile=True)
    assert summary.hardware_details(fast.to_dict()) == ["bf16", "channels-last", "torch.compile"]
    assert summary.hardware_details(RunConfig(amp=True).to_dict()) == ["fp16 mixed precision"]
    assert summary.hardware_details({"model": "mlp"}) == []  # recorded elsewhere: nothing said
    assert configs.settings_line(fast).endswith(
        "· unit:64 · bf16 · channels-last · torch.compile · seed 0"
    )
    assert configs.settings_line(RunConfig()).endswith("weibull) · unit:64 · seed 0")


def test_actcool_details_name_the_branch_search():
    found = {"calibration": "ramp:0.25", "t_start": 2.5, "response": "weibull", "k": 1.0}
    run = actcool_run({**found, "found_lr": 0.03}, lr=0.5, branch_search=True)
    assert summary.actcool_details(run)[1] == (
        "peak rate 0.03 found from the step-0 scan and a branch search (typed 0.5)"
    )
    queued = actcool_run({}, "queued", branch_search=True)
    assert summary.actcool_details(queued)[1] == (
        "peak rate from the step-0 scan and a branch search half-way through the warm-up"
    )
