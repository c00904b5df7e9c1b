import json

import pytest

from actcool.calibration import START_FACTOR
from trainer.config import RunConfig, new_run_defaults
from trainer.schedules import parse_target


def test_defaults_are_the_embedded_quick_run():
    c = RunConfig()
    assert (c.model, c.dataset, c.schedule, c.optimizer) == ("convnet4", "digits", "actcool", "sgd")
    assert (c.scan_every, c.scan_unit, c.scan_count, c.scan_low, c.scan_high) == (
        1,
        "epoch",
        25,
        1e-4,
        1e2,
    )
    assert c.display_name == "convnet4-digits-actcool"


def test_json_round_trip():
    c = RunConfig(
        model="resnet20",
        dataset="cifar10",
        epochs=3,
        tags=("a", "b"),
        step_milestones=(0.3, 0.6),
        sigma=1.2,
        schedule="step",
    )
    text = c.to_json()
    assert json.loads(text)["tags"] == ["a", "b"]
    assert RunConfig.from_json(text) == c


@pytest.mark.parametrize(
    "changes, error, match",
    [
        (
            {"model": "resnet-33"},
            ValueError,
            r"unknown model 'resnet-33'; choose one of: convnet4, resnet20",
        ),
        ({"dataset": "mnist"}, ValueError, r"unknown dataset 'mnist'.*imagefolder:<path>"),
        (
            {"schedule": "linear"},
            ValueError,
            r"unknown schedule 'linear'; choose one of: constant, step",
        ),
        ({"optimizer": "adam"}, ValueError, r"choose one of: sgd, adamw"),
        ({"lr": 0.0}, ValueError, r"lr must be a finite number > 0"),
        ({"lr": float("nan")}, ValueError, r"lr must be a finite number > 0"),
        ({"epochs": 0}, ValueError, r"epochs must be >= 1"),
        ({"epochs": 2.5}, TypeError, r"epochs must be of type int"),
        ({"val_fraction": 1.0}, ValueError, r"val_fraction must lie in \[0, 1\)"),
        ({"device": "tpu"}, ValueError, r"unknown device 'tpu'"),
        ({"scan_low": 10.0, "scan_high": 1.0}, ValueError, r"scan_low .* below scan_high"),
        ({"step_milestones": (0.8, 0.2)}, ValueError, r"step_milestones must be increasing"),
        ({"nesterov": True, "optimizer": "adamw"}, ValueError, r"nesterov needs optimizer 'sgd'"),
        ({"lr_min": 1.0, "lr_max": 0.1}, ValueError, r"lr_min \(1.0\) must not exceed lr_max"),
        (
            {"granularity": "pixel"},
            ValueError,
            r"bad granularity 'pixel'; choose one of: sample, position, unit, unit:L",
        ),
        ({"granularity": "unit:0"}, ValueError, r"bad granularity 'unit:0'; choose one of"),
        ({"granularity": "sample:4"}, ValueError, r"bad granularity 'sample:4'; choose one of"),
        ({"granularity": 64}, TypeError, r"granularity must be of type str"),
        (
            {"compare_granularities": ("sample", "bits")},
            ValueError,
            r"bad compare_granularities entry 'bits'; choose one of: sample, position, unit, unit:L",
        ),
    ],
)
def test_validation_names_the_problem(changes, error, match):
    with pytest.raises(error, match=match):
        RunConfig(**changes)


def test_granularities_are_stored_normalised_and_old_configs_read_as_sample():
    assert RunConfig().granularity == "unit:64" and RunConfig().compare_granularities == ()
    c = RunConfig(granularity="unit", compare_granularities=("sample", " position", "sample"))
    assert c.granularity == "unit:64"
    assert c == RunConfig(compare_granularities=("sample", "position"))
    assert RunConfig(granularity="unit:16").granularity == "unit:16"
    d = json.loads(c.to_json())
    assert d["granularity"] == "unit:64" and d["compare_granularities"] == ["sample", "position"]
    assert RunConfig.from_dict(d) == c
    # a config recorded before granularities existed was measured per sample
    assert RunConfig.from_dict({"epochs": 3}).granularity == "sample"
    assert RunConfig.from_dict({"granularity": "position"}).granularity == "position"


def test_a_config_stored_before_the_cold_start_ran_its_first_step_at_lr():
    assert RunConfig().start_factor == START_FACTOR == 0.04
    assert RunConfig.from_dict(RunConfig().to_dict()).start_factor == START_FACTOR
    stored = {k: v for k, v in RunConfig().to_dict().items() if k != "start_factor"}
    assert RunConfig.from_dict(stored).start_factor == 1.0  # what it ran with
    # a new run's partial config takes today's defaults of those keys
    new = RunConfig.from_dict({**new_run_defaults(), "epochs": 3})
    assert new.start_factor == START_FACTOR and new.granularity == "unit:64"
    with pytest.raises(ValueError, match=r"start_factor must lie in \(0, 1\]"):
        RunConfig(start_factor=0.0)


def test_unknown_keys_are_reported():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) epoch; valid keys: .*epochs"):
        RunConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="not valid JSON"):
        RunConfig.from_json("{epochs: 3")


def test_target_specs():
    assert parse_target("power:3.17,2") == {"kind": "power", "t_start": 3.17, "gamma": 2.0}
    assert parse_target("power:2") == {"kind": "power", "t_start": 2.0, "gamma": 1.0}
    assert parse_target("constant:1.5") == {"kind": "constant", "temperature": 1.5}
    drawn = {"kind": "drawn", "points": [[0, 3], [1, 0]], "interpolation": "linear"}
    assert parse_target(json.dumps(drawn))["points"] == [[0.0, 3.0], [1.0, 0.0]]
    assert parse_target("mine", load_curve=lambda n: drawn)["kind"] == "drawn"
    with pytest.raises(ValueError, match="arguments must be numbers"):
        parse_target("power:hot")
    with pytest.raises(ValueError, match="takes 1 to 2 numbers"):
        parse_target("power:1,2,3")
    with pytest.raises(ValueError, match="point 1"):
        parse_target(json.dumps({"kind": "drawn", "points": [[0, 3], [1, -1]]}))
    with pytest.raises(ValueError, match="unknown target 'mine'"):
        parse_target("mine")
