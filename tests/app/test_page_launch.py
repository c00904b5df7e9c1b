"""The Launch page under streamlit.testing's AppTest, against seeded temporary stores.

Widget edits that need a browser (a lasso stroke, a table edit) are seeded through
session_state under the widget's key, as the front end would send them.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from actcool.curves import PAPER_T_START
from storage import Store
from tests.app.conftest import MAIN, REPO
from tests.app.page_helpers import (
    TIMEOUT,
    assert_clean,
    open_page,
)
from tests.app.seed import seed_run


def _queue_one(at) -> str:
    """Click Launch; the page must show no error, and its flash says one run was queued."""
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (flash,) = [s.value for s in at.success if "Queued 1 run" in s.value]
    return flash


def test_launch_offers_the_demo_on_an_empty_store(store, fake_worker):
    from app import configs

    at = open_page("launch")
    assert_clean(at)
    (card,) = [m.value for m in at.markdown if "runs of convnet4 on digits" in m.value]
    assert card == configs.demo_description(configs.demo_configs())  # read off the settings
    at.button(key="do_demo").click().run()
    assert_clean(at)
    runs = Store(store.home).list_runs()
    assert sorted(runs["schedule"]) == ["actcool"] * 3 + ["onecycle"] * 3
    seeds = runs.groupby("schedule")["config"].agg(lambda c: sorted(x["seed"] for x in c))
    assert seeds.to_dict() == {"actcool": [0, 1, 2], "onecycle": [0, 1, 2]}
    assert set(runs["status"]) == {"queued"}
    assert all("demo" in tags for tags in runs["tags"])
    assert fake_worker.ensured >= 1
    assert any("Queued 6 runs" in s.value for s in at.success)
    assert "do_demo" not in [b.key for b in at.button]  # the store is no longer empty


def test_launch_queues_one_run_per_seed(store, fake_worker):
    seed_run(store)
    at = open_page("launch")
    assert not [b for b in at.button if b.key == "do_demo"]
    at.number_input(key="launch_epochs").set_value(2)
    at.text_input(key="launch_seeds").input("0, 1")
    at.selectbox(key="launch_schedule").select("cosine")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    queued = Store(store.home).list_runs(status="queued")
    assert sorted(queued["config"].map(lambda c: (c["schedule"], c["seed"], c["epochs"]))) == [
        ("cosine", 0, 2),
        ("cosine", 1, 2),
    ]
    assert fake_worker.ensured >= 1


def test_launch_compare_schedules_shares_settings_and_a_tag(store, fake_worker):
    at = open_page("launch")
    at.number_input(key="launch_batch").set_value(64)
    at.multiselect(key="launch_compared").set_value(["actcool", "onecycle", "step"])
    at.button(key="do_compare").click().run()
    assert_clean(at)
    runs = Store(store.home).list_runs(status="queued")
    assert sorted(runs["schedule"]) == ["actcool", "onecycle", "step"]
    assert set(runs["config"].map(lambda c: c["batch_size"])) == {64}
    tags = {t for ts in runs["tags"] for t in ts if t.startswith("compare-")}
    assert len(tags) == 1 and all(tags <= set(ts) for ts in runs["tags"])


def test_launch_granularity_choice_reaches_the_queued_config(store, fake_worker):
    at = open_page("launch")
    assert at.selectbox(key="launch_granularity").value == "unit"
    assert at.number_input(key="launch_pattern_length").value == 64
    assert any("granularity unit:64" in c.value for c in at.caption)
    at.button(key="do_launch").click().run()
    assert_clean(at)
    at.number_input(key="launch_pattern_length").set_value(32)
    at.button(key="do_launch").click().run()
    assert_clean(at)
    at.selectbox(key="launch_granularity").select("position").run()
    assert at.number_input(key="launch_pattern_length").disabled  # L is unit's only
    at.button(key="do_launch").click().run()
    assert_clean(at)
    at.selectbox(key="launch_granularity").select("sample")
    at.multiselect(key="launch_compared").set_value(["actcool", "onecycle"])
    at.button(key="do_compare").click().run()
    assert_clean(at)
    queued = Store(store.home).list_runs(status="queued").sort_values("created_at")
    assert [c["granularity"] for c in queued["config"]] == [
        "unit:64",
        "unit:32",
        "position",
        "sample",
        "sample",
    ]


def test_launch_shows_validation_errors(store, fake_worker):
    at = open_page("launch")
    at.text_input(key="launch_seeds").input("one")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert any("not a whole number" in e.value for e in at.error)
    at.text_input(key="launch_seeds").input("0")
    at.text_input(key="launch_milestones").input("0.9, 0.5")
    at.selectbox(key="launch_schedule").select("step")
    at.button(key="do_launch").click().run()
    assert any("step_milestones must be increasing" in e.value for e in at.error)
    assert len(Store(store.home).list_runs()) == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("launch_epochs", 0, "epochs must be >= 1, got 0"),
        ("launch_batch", 0, "batch_size must be >= 1, got 0"),
        ("launch_lr", -0.1, "lr must be a finite number > 0, got -0.1"),
    ],
)
def test_launch_never_queues_a_value_the_user_did_not_see(store, fake_worker, key, value, message):
    at = open_page("launch")
    at.number_input(key=key).set_value(5 if key != "launch_lr" else 0.2).run()
    at.number_input(key=key).set_value(value).run()  # typed after a valid value
    assert any(e.value == message for e in at.error)  # under the field, before any click
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert len(Store(store.home).list_runs()) == 0  # not queued with the previous value
    assert sum(e.value == message for e in at.error) == 2  # and again at Launch


def test_launch_confirmation_names_the_settings_queued(store, fake_worker):
    at = open_page("launch")
    at.number_input(key="launch_epochs").set_value(3)
    at.number_input(key="launch_batch").set_value(64)
    at.number_input(key="launch_lr").set_value(0.02)
    at.selectbox(key="launch_schedule").select("cosine")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (run_id,) = Store(store.home).list_runs()["id"].tolist()
    (flash,) = [s.value for s in at.success if "Queued 1 run" in s.value]
    assert f"({run_id}): convnet4 on digits · 3 epochs · batch 64 · sgd lr 0.02 · cosine" in flash


def test_launch_a_sample_target_above_the_cap_is_blocked(store, fake_worker):
    at = open_page("launch")
    at.radio(key="launch_target_source").set_value("power").run()
    at.number_input(key="launch_t_start").set_value(9.0)
    at.selectbox(key="launch_granularity").select("sample").run()  # batch 128: 8 bits at most
    assert any(
        "above what the sample granularity can measure at batch 128" in w.value for w in at.warning
    )
    at.button(key="do_launch").click().run()
    assert any("log2(2·128) = 8.00 bits" in e.value for e in at.error)
    assert len(Store(store.home).list_runs()) == 0
    at.number_input(key="launch_batch").set_value(512)  # cap 10 bits: reachable
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert len(Store(store.home).list_runs()) == 1


def test_launch_reports_a_missing_dataset_before_queueing(store, fake_worker, tmp_path):
    at = open_page("launch")
    at.selectbox(key="launch_dataset").select("fashion-mnist")
    at.text_input(key="launch_data_dir").input(str(tmp_path / "nowhere")).run()
    assert any(f"data folder {tmp_path / 'nowhere'} does not exist" in e.value for e in at.error)
    at.button(key="do_launch").click().run()
    assert len(Store(store.home).list_runs()) == 0
    (tmp_path / "empty").mkdir()
    at.text_input(key="launch_data_dir").input(str(tmp_path / "empty"))
    at.button(key="do_launch").click().run()
    assert any("fashion-mnist is not in the data folder" in e.value for e in at.error)
    assert len(Store(store.home).list_runs()) == 0
    shared = REPO.parent / "shared" / "data"
    if (shared / "FashionMNIST" / "raw").is_dir():  # the real layout is found
        at.text_input(key="launch_data_dir").input(str(shared))
        at.button(key="do_launch").click().run()
        assert_clean(at)
        (config,) = Store(store.home).list_runs()["config"]
        assert config["dataset"] == "fashion-mnist" and config["data_dir"] == str(shared)


def test_launch_offers_image_folders(store, fake_worker, tmp_path):
    for split in ("train", "test"):
        (tmp_path / "pets" / split / "cat").mkdir(parents=True)
    at = open_page("launch")
    at.selectbox(key="launch_dataset").select("imagefolder").run()
    at.text_input(key="launch_dataset_path").input("pets")  # relative to the data folder
    at.text_input(key="launch_data_dir").input(str(tmp_path))
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (config,) = Store(store.home).list_runs()["config"]
    assert config["dataset"] == "imagefolder:pets"


def test_launch_offers_any_timm_model(store, fake_worker):
    at = open_page("launch")
    at.selectbox(key="launch_model").select("timm:<name>").run()
    at.button(key="do_launch").click().run()  # no name yet: said, nothing queued
    assert any("unknown model 'timm:'" in e.value for e in at.error)
    assert len(Store(store.home).list_runs()) == 0
    at.text_input(key="launch_model_timm").input("convnext_atto")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (config,) = Store(store.home).list_runs()["config"]
    assert config["model"] == "timm:convnext_atto"


def test_launch_a_model_family_brings_its_optimizer_and_the_optimizer_its_rate(store, fake_worker):
    at = open_page("launch")
    values = lambda: (  # noqa: E731
        at.selectbox(key="launch_optimizer").value,
        at.number_input(key="launch_lr").value,
        at.number_input(key="launch_wd").value,
    )
    assert values() == ("sgd", 0.05, 5e-4)
    at.selectbox(key="launch_model").select("vit-tiny").run()
    assert values() == ("adamw", 1e-3, 0.05)
    at.number_input(key="launch_lr").set_value(3e-4).run()  # typed: kept
    at.selectbox(key="launch_dataset").select("digits").run()  # another field: no reset
    assert values() == ("adamw", 3e-4, 0.05)
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (config,) = Store(store.home).list_runs()["config"]
    assert (config["model"], config["optimizer"], config["lr"]) == ("vit-tiny", "adamw", 3e-4)
    at.selectbox(key="launch_optimizer").select("sgd").run()
    assert values() == ("sgd", 0.05, 5e-4)


def test_launch_actcool_with_the_designed_curve(store, fake_worker):
    designed = {"kind": "drawn", "points": [[0.0, 4.0], [1.0, 0.5]], "interpolation": "linear"}
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.session_state["design_curve"] = designed
    at.switch_page("views/launch.py").run()
    source = at.radio(key="launch_target_source")
    assert source.value == "default"  # the calibrated default stays the default
    assert source.options[:2] == [
        "Calibrated default (linear cool-down)",
        "the curve on the Design page",
    ]
    source.set_value("designed").run()
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (config,) = Store(store.home).list_runs()["config"]
    assert json.loads(config["target"]) == designed


def test_launch_actcool_with_a_saved_curve(store, fake_worker):
    store.save_curve("hot", {"kind": "power", "t_start": 5.0, "gamma": 2.0})
    at = open_page("launch")
    at.radio(key="launch_target_source").set_value("saved").run()
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (config,) = Store(store.home).list_runs()["config"]
    assert json.loads(config["target"]) == {"kind": "power", "t_start": 5.0, "gamma": 2.0}


def test_launch_queue_lists_and_removes_queued_runs(store, fake_worker):
    seed_run(store, status="finished")
    queued = store.create_run({"model": "convnet4"}, name="waiting", status="queued")
    at = open_page("launch")
    assert_clean(at)
    assert fake_worker.ensured == 1  # a queued run and no worker: one is started
    assert any("waiting" in m.value for m in at.markdown)
    at.button(key=f"do_remove_{queued}").click().run()
    assert_clean(at)
    assert queued not in Store(store.home).list_runs()["id"].tolist()


def test_launch_queues_the_calibrated_default_by_default(store, fake_worker):
    seed_run(store)
    at = open_page("launch")
    assert at.radio(key="launch_target_source").value == "default"
    assert at.selectbox(key="launch_calibration").value == "auto"
    assert at.radio(key="launch_response").value == "weibull"
    assert at.checkbox(key="launch_fit_k").value  # k fitted by the step-0 scan
    assert not [w for w in at.number_input if w.key == "launch_sigma"]  # σ: gaussian only
    at.button(key="do_launch").click().run()
    assert_clean(at)
    # fixed with its start, a fixed k
    at.selectbox(key="launch_calibration").select("fixed").run()
    at.number_input(key="launch_start_bits").set_value(2.5)
    at.checkbox(key="launch_fit_k").uncheck().run()
    at.number_input(key="launch_k").set_value(1.1)
    at.button(key="do_launch").click().run()
    assert_clean(at)
    # ramp with its warm-up share, the Gaussian law with a fixed σ and no smoothing
    at.selectbox(key="launch_calibration").select("ramp").run()
    at.number_input(key="launch_ramp_fraction").set_value(0.3)
    at.number_input(key="launch_calibration_gamma").set_value(2.0)
    at.radio(key="launch_response").set_value("gaussian").run()
    assert not [w for w in at.number_input if w.key == "launch_k"]  # k: weibull only
    at.checkbox(key="launch_fit_sigma").uncheck().run()
    at.number_input(key="launch_sigma").set_value(1.5)
    at.slider(key="launch_smoothing").set_value(0.0)
    at.button(key="do_launch").click().run()
    assert_clean(at)
    queued = Store(store.home).list_runs(status="queued").sort_values("created_at")
    assert [
        (
            c["target"],
            c["calibration"],
            c["response"],
            c["k"],
            c["sigma"],
            c["smoothing"],
            c["lr_max"],
        )
        for c in queued["config"]
    ] == [
        ("default", "auto", "weibull", None, None, 0.5, None),
        ("default", "fixed:2.5", "weibull", 1.1, None, 0.5, None),
        ("default", "ramp:0.3:2", "gaussian", None, 1.5, 0.0, None),
    ]


def test_launch_fixed_calibration_at_a_pattern_granularity_names_the_field(store, fake_worker):
    at = open_page("launch")
    at.selectbox(key="launch_calibration").select("fixed").run()
    at.selectbox(key="launch_granularity").select("position").run()
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert any(
        e.value.startswith(
            "calibration fixed:2: a fixed start temperature is defined "
            "for the unit granularity, not position"
        )
        for e in at.error
    )
    assert len(Store(store.home).list_runs()) == 0
    # other schedules do not care
    at.selectbox(key="launch_schedule").select("cosine")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert len(Store(store.home).list_runs()) == 1


def test_launch_offers_every_trainer_schedule(store, fake_worker):
    at = open_page("launch")
    assert_clean(at)
    box = at.selectbox(key="launch_schedule")
    assert box.options[0] == "ActCoolLR" and "schedule-free" in box.options
    box.select("schedulefree")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    (config,) = Store(store.home).list_runs()["config"]
    assert config["schedule"] == "schedulefree"


def test_launch_demo_follows_the_calibrated_default(store, fake_worker):
    at = open_page("launch")
    at.button(key="do_demo").click().run()
    assert_clean(at)
    runs = Store(store.home).list_runs().drop_duplicates("schedule").set_index("schedule")
    actcool = runs.loc["actcool", "config"]
    assert (actcool["target"], actcool["calibration"], actcool["response"]) == (
        "default",
        "auto",
        "weibull",
    )
    assert actcool["lr"] == runs.loc["onecycle", "config"]["lr"] == 0.1


def test_a_deleted_saved_curve_is_forgotten_not_an_error(store, fake_worker):
    store.save_curve("gone", {"kind": "constant", "temperature": 1.0})
    at = open_page("launch")
    at.radio(key="launch_target_source").set_value("saved").run()
    assert at.selectbox(key="launch_saved").value == "gone"
    Store(store.home).delete_curve("gone")
    from app import data

    data.clear()
    at.run()
    assert_clean(at)
    assert at.radio(key="launch_target_source").value == "default"


def queued_configs(store) -> list[dict]:
    """The queued runs' configs, in the order they were queued."""
    runs = Store(store.home).list_runs(status="queued").sort_values("created_at")
    return list(runs["config"])


def test_launch_hardware_options_reach_the_queued_config(store, fake_worker):
    at = open_page("launch")
    precision = at.selectbox(key="launch_precision")
    # one choice for the precision: amp (fp16) and bf16 cannot be asked for together
    assert precision.options == [
        "fp32 (default)",
        "bf16 autocast",
        "fp16 mixed precision (AMP)",
    ]
    assert precision.value == "fp32"
    assert not at.checkbox(key="launch_channels_last").value
    assert not at.checkbox(key="launch_compile").value
    for widget in (
        precision,
        at.checkbox(key="launch_channels_last"),
        at.checkbox(key="launch_compile"),
    ):
        assert "GPU" in widget.help
    at.button(key="do_launch").click().run()
    assert_clean(at)
    at.selectbox(key="launch_precision").select("bf16")
    at.checkbox(key="launch_channels_last").check()
    at.checkbox(key="launch_compile").check()
    flash = _queue_one(at)
    assert "· unit:64 · bf16 · channels-last · torch.compile · seed 0" in flash
    at.selectbox(key="launch_precision").select("fp16")
    at.checkbox(key="launch_compile").uncheck()
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert [
        (c["precision"], c["amp"], c["channels_last"], c["compile"]) for c in queued_configs(store)
    ] == [
        ("fp32", False, False, False),
        ("bf16", False, True, True),
        ("fp32", True, True, False),
    ]


def test_launch_fp16_on_the_cpu_says_it_trains_in_fp32(store, fake_worker):
    at = open_page("launch")
    at.selectbox(key="launch_precision").select("fp16").run()
    message = "fp16 mixed precision is for CUDA: on the CPU the run trains in fp32."
    assert message not in [c.value for c in at.caption]  # device auto: CUDA where present
    at.selectbox(key="launch_device").select("cpu").run()
    assert message in [c.value for c in at.caption]


def test_launch_branch_search_only_where_runconfig_takes_it(store, fake_worker):
    at = open_page("launch")
    box = at.checkbox(key="launch_branch_search")
    assert not box.value and not box.disabled  # default target, calibration auto: offered
    assert "AdamW" in box.help and "460 extra steps" in box.help
    box.check()
    flash = _queue_one(at)
    assert "ActCoolLR (default target, calibration auto, weibull, branch search)" in flash
    # ramp keeps it; fixed turns it off, says why, and queues without it
    at.selectbox(key="launch_calibration").select("ramp").run()
    assert at.checkbox(key="launch_branch_search").value
    at.selectbox(key="launch_calibration").select("fixed").run()
    box = at.checkbox(key="launch_branch_search")
    assert box.disabled and not box.value
    assert (
        "The branch search needs calibration auto or ramp, not fixed:2: it runs half-way "
        "through the ramp's warm-up." in [c.value for c in at.caption]
    )
    at.button(key="do_launch").click().run()
    assert_clean(at)
    # a given target: off, with the reason
    at.selectbox(key="launch_calibration").select("ramp").run()
    assert not at.checkbox(key="launch_branch_search").disabled
    at.checkbox(key="launch_branch_search").check().run()
    at.radio(key="launch_target_source").set_value("power").run()
    box = at.checkbox(key="launch_branch_search")
    assert box.disabled and not box.value
    assert (
        "The branch search needs the calibrated default target: it runs in the warm-up of its "
        "ramp calibration." in [c.value for c in at.caption]
    )
    at.button(key="do_launch").click().run()
    assert_clean(at)
    default, fixed, power = queued_configs(store)
    assert [(c["target"], c["calibration"], c["branch_search"]) for c in (default, fixed)] == [
        ("default", "auto", True),
        ("default", "fixed:2", False),
    ]
    assert json.loads(power["target"]) == {"kind": "power", "t_start": PAPER_T_START, "gamma": 1.0}
    assert power["branch_search"] is False


def test_launch_branch_warmup_to_the_lowest_candidate_only_with_the_search(store, fake_worker):
    at = open_page("launch")
    low = at.checkbox(key="launch_branch_warmup")
    assert low.disabled and not low.value  # no search, nothing to warm up to
    assert "lowest candidate" in low.help and "§4.9" in low.help
    at.checkbox(key="launch_branch_search").check().run()
    assert not at.checkbox(key="launch_branch_warmup").disabled
    at.checkbox(key="launch_branch_warmup").check().run()
    flash = _queue_one(at)
    assert "branch search from the lowest candidate)" in flash
    # the search unticked: the warm-up setting goes with it
    at.checkbox(key="launch_branch_search").uncheck().run()
    low = at.checkbox(key="launch_branch_warmup")
    assert low.disabled and not low.value
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert [(c["branch_search"], c["branch_warmup"]) for c in queued_configs(store)] == [
        (True, "lowest"),
        (False, "centre"),
    ]


def test_launch_branch_draws_only_with_the_search(store, fake_worker):
    at = open_page("launch")
    draws = at.number_input(key="launch_branch_draws")
    assert draws.disabled and draws.value == 1
    assert "mean held-out loss" in draws.help and "§4.9" in draws.help
    at.checkbox(key="launch_branch_search").check().run()
    assert not at.number_input(key="launch_branch_draws").disabled
    at.number_input(key="launch_branch_draws").set_value(2).run()
    flash = _queue_one(at)
    assert "branch search over 2 draws)" in flash
    # the search unticked: the draws go back to 1 with it
    at.checkbox(key="launch_branch_search").uncheck().run()
    draws = at.number_input(key="launch_branch_draws")
    assert draws.disabled and draws.value == 1
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert [(c["branch_search"], c["branch_draws"]) for c in queued_configs(store)] == [
        (True, 2),
        (False, 1),
    ]


def test_launch_branch_search_goes_to_the_actcool_runs_only(store, fake_worker):
    at = open_page("launch")
    at.checkbox(key="launch_branch_search").check()
    at.multiselect(key="launch_compared").set_value(["actcool", "onecycle"])
    at.button(key="do_compare").click().run()
    assert_clean(at)
    at.selectbox(key="launch_schedule").select("cosine")
    at.button(key="do_launch").click().run()
    assert_clean(at)
    assert [(c["schedule"], c["branch_search"]) for c in queued_configs(store)] == [
        ("actcool", True),
        ("onecycle", False),
        ("cosine", False),
    ]
