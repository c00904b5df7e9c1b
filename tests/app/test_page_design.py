"""The Design page under streamlit.testing's AppTest, against seeded temporary stores.

Widget edits that need a browser (a lasso stroke, a table edit) are seeded through
session_state under the widget's key, as the front end would send them.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from storage import Store
from tests.app.conftest import FAKE_WEIBULL
from tests.app.page_helpers import (
    assert_clean,
    figure,
    figures,
    open_page,
    titles,
    values,
)
from tests.app.seed import seed_run


def test_design_opens_on_a_power_preset_with_its_implied_rate(store, fake_scan):
    at = open_page("design")
    assert_clean(at)
    assert len(at.data_editor[0].value) == 21
    # the calibrated default a run follows without a target: fixed, 2 bits of unit:64
    assert at.session_state["design_curve"] == {"kind": "power", "t_start": 2.0, "gamma": 1.0}
    assert fake_scan == [("convnet4", "digits", 128, "unit:64")]
    assert any("μ = **-5.00**" in m.value for m in at.markdown)
    lr = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("Implied"))
    assert lr["layout"]["yaxis"]["type"] == "log"
    assert at.info  # the empty store points at the demo


def test_design_lasso_stroke_replaces_that_stretch(store, fake_scan):
    at = open_page("design")
    rev = at.session_state["design_rev"]
    at.session_state[f"draw_{rev}"] = {
        "selection": {
            "points": [],
            "point_indices": [],
            "box": [],
            "lasso": [
                {
                    "xref": "x",
                    "yref": "y",
                    "x": [0.2, 0.3, 0.4, 0.5, 0.6],
                    "y": [2.5, 2.6, 2.5, 2.4, 2.5],
                }
            ],
        }
    }
    at.run()
    assert_clean(at)
    assert any("Stroke applied: replaced 20% to 60%" in s.value for s in at.success)
    assert at.session_state["design_rev"] == rev + 1
    points = at.data_editor[0].value
    inside = points[(points["fraction"] >= 0.2) & (points["fraction"] <= 0.6)]
    assert inside["temperature"].between(2.4, 2.6).all()
    assert points[points["fraction"] < 0.2]["temperature"].tolist() == pytest.approx(
        [2.0, 1.9, 1.8, 1.7]
    )
    curve = at.session_state["design_curve"]
    assert curve["kind"] == "drawn"
    assert any(p[0] == pytest.approx(0.4) and 2.4 <= p[1] <= 2.6 for p in curve["points"])


def test_design_table_edit_to_a_negative_temperature_is_reported(store, fake_scan):
    at = open_page("design")
    rev = at.session_state["design_rev"]
    at.session_state[f"points_{rev}"] = {
        "edited_rows": {1: {"temperature": -1.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert_clean(at)
    assert any("point 1 has temperature -1.0" in e.value for e in at.error)
    assert "design_curve" not in at.session_state
    assert at.button(key="do_save_curve").disabled


def test_design_with_one_point_left_is_reported(store, fake_scan):
    at = open_page("design")
    rev = at.session_state["design_rev"]
    at.session_state[f"points_{rev}"] = {
        "edited_rows": {},
        "added_rows": [],
        "deleted_rows": list(range(1, 21)),
    }
    at.run()
    assert_clean(at)
    assert any("at least two points" in e.value for e in at.error)


def test_design_table_edit_makes_a_drawn_curve_and_saves_it(store, fake_scan):
    at = open_page("design")
    rev = at.session_state["design_rev"]
    at.session_state[f"points_{rev}"] = {
        "edited_rows": {20: {"temperature": 0.5}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert at.session_state["design_curve"]["kind"] == "drawn"
    at.text_input(key="design_name").input("warm-finish")
    at.button(key="do_save_curve").click().run()
    assert_clean(at)
    saved = Store(store.home).load_curve("warm-finish")
    assert saved["kind"] == "drawn" and saved["points"][-1] == [1.0, 0.5]
    assert any("Saved as 'warm-finish'" in s.value for s in at.success)


def test_design_unsorted_points_can_be_sorted(store, fake_scan):
    at = open_page("design")
    rev = at.session_state["design_rev"]
    at.session_state[f"points_{rev}"] = {
        "edited_rows": {},
        "added_rows": [{"fraction": 0.01, "temperature": 3.0}],
        "deleted_rows": [],
    }
    at.run()
    assert any("sorted by fraction" in e.value for e in at.error)
    at.button(key="do_sort_points").click().run()
    assert_clean(at)
    assert not at.error
    assert at.session_state["design_curve"]["points"][1] == [0.01, 3.0]


def test_design_replay_of_a_finished_run(store, fake_scan):
    run_id = seed_run(store, "onecycle", steps=100)
    at = open_page("design")
    at.selectbox(key="design_preset").select("Replay a finished run").run()
    assert at.selectbox(key="design_replay_run").value == run_id
    at.button(key="do_apply_preset").click().run()
    assert_clean(at)
    curve = at.session_state["design_curve"]
    assert curve["kind"] == "replay"
    assert curve["temperatures"][0] == pytest.approx(3.2, abs=0.1)


def test_design_rate_from_a_past_runs_fit(store, fake_scan):
    run_id = seed_run(store, "actcool")
    at = open_page("design")
    at.radio(key="design_source").set_value("a past run").run()
    assert_clean(at)
    assert at.selectbox(key="design_fit_run").value == run_id
    assert any("μ = **-3.00**" in m.value and "B = **128**" in m.value for m in at.markdown)
    lr = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Implied learning rate")
    assert f"run {run_id}" in lr["layout"]["title"]["subtitle"]["text"]


def test_design_ramp_for_a_past_run_no_run_could_have_now_says_why(store, fake_scan):
    run_id = seed_run(store, "actcool", config_extra={"model": "oldnet"})  # a retired model
    at = open_page("design")
    at.radio(key="design_source").set_value("a past run").run()
    assert at.selectbox(key="design_fit_run").value == run_id
    at.selectbox(key="design_preset").select("Calibrated default").run()
    assert_clean(at)
    assert any("No warm-up: unknown model 'oldnet'" in i.value for i in at.sidebar.info)
    assert at.button(key="do_apply_preset").disabled


def test_design_constant_and_saved_presets(store, fake_scan):
    store.save_curve("flat", {"kind": "constant", "temperature": 1.5})
    at = open_page("design")
    at.selectbox(key="design_preset").select("Saved curve").run()
    at.button(key="do_apply_preset").click().run()
    assert at.session_state["design_curve"] == {"kind": "constant", "temperature": 1.5}
    assert at.data_editor[0].value.values.tolist() == [[0.0, 1.5], [1.0, 1.5]]
    at.selectbox(key="design_delete").select("flat").run()
    at.button(key="do_delete_curve").click().run()
    assert_clean(at)
    assert len(Store(store.home).list_curves()) == 0


def test_design_saving_over_a_saved_curve_asks_first(store, fake_scan):
    store.save_curve("mine", {"kind": "constant", "temperature": 1.5})
    at = open_page("design")
    at.text_input(key="design_name").input("mine")
    at.button(key="do_save_curve").click().run()
    assert any("A curve named 'mine' is saved already. Replace it" in w.value for w in at.warning)
    assert Store(store.home).load_curve("mine")["kind"] == "constant"  # not replaced yet
    at.button(key="do_keep_curve").click().run()
    assert Store(store.home).load_curve("mine")["kind"] == "constant"
    assert not [w for w in at.warning if "saved already" in w.value]
    at.button(key="do_save_curve").click().run()
    at.button(key="do_replace_curve").click().run()
    assert_clean(at)
    assert Store(store.home).load_curve("mine") == at.session_state["design_curve"]
    assert any("Saved as 'mine'" in s.value for s in at.success)


def test_design_flags_targets_the_measure_cannot_follow(store, fake_scan):
    at = open_page("design")
    at.selectbox(key="design_preset").select("Constant").run()
    at.button(key="do_apply_preset").click().run()
    assert any("the target never cools" in w.value for w in at.warning)
    at.selectbox(key="design_preset").select("Power cool-down").run()
    at.number_input(key="design_t_start").set_value(9.0).run()
    at.button(key="do_apply_preset").click().run()
    assert not [e for e in at.error if "Unreachable" in e.value]  # unit:64 has no cap
    at.selectbox(key="design_granularity").select("sample").run()  # batch 128: at most 8 bits
    (error,) = [e for e in at.error if "Unreachable" in e.value]
    assert "the target reaches 9.00 bits, above what the sample granularity can measure" in (
        error.value
    )


def test_design_preset_numbers_are_checked_not_silently_kept(store, fake_scan):
    at = open_page("design")
    at.selectbox(key="design_preset").select("Power cool-down").run()
    at.number_input(key="design_t_start").set_value(-1.0).run()
    assert any(
        "Not a valid curve: t_start must be a finite number >= 0, got -1.0" in i.value
        for i in at.info
    )
    assert at.button(key="do_apply_preset").disabled
    at.number_input(key="design_t_start").set_value(20.0).run()  # above any old bound
    at.selectbox(key="design_granularity").select("sample")
    at.button(key="do_apply_preset").click().run()
    assert_clean(at)
    assert at.session_state["design_curve"]["t_start"] == 20.0
    assert any("the target reaches 20.00 bits" in e.value for e in at.error)


def test_design_points_table_lets_a_minus_sign_through_to_the_check(store, fake_scan):
    at = open_page("design")
    columns = json.loads(at.data_editor[0].proto.columns)
    # a min_value of 0 makes the browser's editor drop the "-" of a typed -1 (giving +1)
    assert "min_value" not in json.dumps(columns["temperature"])
    assert "min_value" not in json.dumps(columns["fraction"])


def test_design_quick_scan_reads_the_data_folder(store, fake_scan, tmp_path, monkeypatch):
    monkeypatch.setenv("ACTCOOL_DATA_DIR", str(tmp_path / "data"))
    at = open_page("design")
    at.selectbox(key="design_dataset").select("fashion-mnist").run()
    assert at.text_input(key="design_data_dir").value == str(tmp_path / "data")  # the default
    assert any(f"data folder {tmp_path / 'data'} does not exist" in w.value for w in at.warning)
    (tmp_path / "data" / "FashionMNIST" / "raw").mkdir(parents=True)
    at.text_input(key="design_data_dir").input(str(tmp_path / "data") + "/").run()
    assert fake_scan[-1][:2] == ("convnet4", "fashion-mnist")
    for split in ("train", "test"):
        (tmp_path / "data" / "pets" / split / "cat").mkdir(parents=True)
    at.selectbox(key="design_dataset").select("imagefolder").run()
    at.text_input(key="design_dataset_path").input("pets").run()
    assert_clean(at)
    assert fake_scan[-1][:2] == ("convnet4", "imagefolder:pets")


def test_design_real_quick_scan_of_convnet4_on_digits(store):
    at = open_page("design")
    assert_clean(at)
    match = next(
        re.search(r"μ = \*\*(-?[\d.]+)\*\*", m.value) for m in at.markdown if "μ =" in m.value
    )
    assert match and math.isfinite(float(match.group(1)))


def implied_trace(at: AppTest) -> dict:
    """The preview's implied rate, as {"x": fractions, "y": rates}."""
    lr = figure(at, "Implied learning rate")
    (trace,) = [t for t in lr["data"] if t["name"] == "implied rate λ(f)"]
    return {"x": values(trace, "x"), "y": values(trace, "y")}


def test_design_weibull_preview_is_the_closed_form_clamped_at_the_ceiling(store, fake_scan):
    at = open_page("design")
    assert_clean(at)
    assert at.radio(key="design_law").value == "weibull"  # a run's default law
    lr = figure(at, "Implied learning rate")
    assert lr["layout"]["title"]["subtitle"]["text"] == (
        "λ0 and k from quick scan, convnet4 on digits, unit:64"
    )
    assert [t["name"] for t in lr["data"]] == [
        "implied rate λ(f)",
        "Weibull scale λ<sub>0</sub> (1.44 bits)",
        "ceiling (learning rate)",
    ]
    lambda0, k = FAKE_WEIBULL["lambda0"], FAKE_WEIBULL["k"]

    def expected(ceiling: float) -> list[float]:  # the default target: 2 bits, linear to 0
        trace = implied_trace(at)
        return [
            min(ceiling, max(1e-6, lambda0 * (2.0 * (1 - f) * math.log(2)) ** (1 / k)))
            for f in trace["x"]
        ]

    assert implied_trace(at)["y"] == pytest.approx(expected(0.05))  # below the 0.05 ceiling
    assert max(implied_trace(at)["y"]) < 0.05
    at.number_input(key="design_lr").set_value(0.02).run()  # now it clamps at the start
    assert_clean(at)
    assert implied_trace(at)["y"] == pytest.approx(expected(0.02))
    assert implied_trace(at)["y"][0] == pytest.approx(0.02)
    assert any("at the ceiling 0.02 over 0%–" in c.value for c in at.caption)
    assert len(fake_scan) == 1  # the ceiling needs no new scan
    # the paper's law from the same scan: μ and σ
    at.radio(key="design_law").set_value("gaussian").run()
    assert_clean(at)
    lr = figure(at, "Implied learning rate")
    assert lr["layout"]["title"]["subtitle"]["text"].startswith("μ and σ from quick scan")
    assert lr["data"][1]["name"] == "critical rate e<sup>μ</sup> (1 bit)"


def test_design_preview_scans_at_the_chosen_granularity(store, fake_scan):
    at = open_page("design")
    at.number_input(key="design_pattern_length").set_value(32).run()
    assert_clean(at)
    assert fake_scan[-1] == ("convnet4", "digits", 128, "unit:32")
    # the default calibration (auto = ramp) is read off the run's warm-up: train it to see it
    at.selectbox(key="design_preset").select("Calibrated default").run()
    assert any(
        "calibration **ramp:0.25** at unit:32" in i.value
        and "Train its warm-up (**Train the warm-up**)" in i.value
        for i in at.sidebar.info
    )
    assert at.button(key="do_apply_preset").disabled
    # the fixed calibration at unit:32: its start 2 bits × 32/64
    at.selectbox(key="design_calibration").select("fixed").run()
    assert any("linear from **1 bits**" in c.value for c in at.sidebar.caption)
    at.button(key="do_apply_preset").click().run()
    assert_clean(at)
    assert at.session_state["design_curve"] == {"kind": "power", "t_start": 1.0, "gamma": 1.0}
    # with a cool-down γ, the preview is that power curve
    at.number_input(key="design_calibration_gamma").set_value(2.0).run()
    assert any("a power curve (γ = 2) from **1 bits**" in c.value for c in at.sidebar.caption)
    at.button(key="do_apply_preset").click().run()
    assert at.session_state["design_curve"] == {"kind": "power", "t_start": 1.0, "gamma": 2.0}
    at.number_input(key="design_calibration_gamma").set_value(1.0).run()
    # ramp at a pattern granularity: a warm-up to train there too
    at.selectbox(key="design_calibration").select("auto").run()
    at.selectbox(key="design_granularity").select("position").run()
    assert_clean(at)
    assert fake_scan[-1][3] == "position"
    assert any(
        "calibration **ramp:0.25** at position" in i.value and "Train its warm-up" in i.value
        for i in at.sidebar.info
    )
    assert at.button(key="do_apply_preset").disabled
    at.selectbox(key="design_calibration").select("fixed").run()
    assert any(
        "fixed start is defined for the unit granularity" in i.value for i in at.sidebar.info
    )


def test_design_trains_the_ramp_warm_up_and_previews_the_run_it_starts(
    store, fake_scan, monkeypatch
):
    from actcool import Calibration
    from app import preview
    from trainer.warmup import TrainedWarmup

    trained = []

    def warmup_preview(config, on_step=None):
        trained.append(config)
        for i in range(1, 22):
            on_step(i, 21)
        warmup = TrainedWarmup(
            calibration=Calibration("ramp", floor=0.04, gamma=config_gamma(config)),
            t_start=3.0,
            lr_peak=config.lr,
            ramp_steps=12,
            end_step=20,
            total_steps=48,
            lrs=(),
            temperatures=(),
            scan=None,  # not read: the fits are given
            seconds=4.0,
        )
        fits = preview.PreviewFits(None, {"lambda0": 0.01, "k": 1.0}, config.batch_size)
        return preview.WarmupPreview(warmup, fits)

    def config_gamma(config):
        return 2.0 if config.calibration.endswith(":2") else 1.0

    monkeypatch.setattr(preview, "warmup_preview", warmup_preview)
    at = open_page("design")
    at.selectbox(key="design_preset").select("Calibrated default").run()
    assert at.button(key="do_apply_preset").disabled
    at.button(key="do_train_warmup").click().run()
    assert_clean(at)
    (config,) = trained  # a new run's defaults with this page's set-up
    assert (config.model, config.dataset, config.batch_size, config.granularity) == (
        "convnet4",
        "digits",
        128,
        "unit:64",
    )
    assert (config.schedule, config.target, config.calibration) == ("actcool", "default", "auto")
    assert (config.lr, config.epochs, config.download) == (0.05, 5, False)
    # every number of the warm-up from the one WarmupPreview: 21 steps trained (0 to 20)
    assert any(
        "4 s): the first 21 of the run's 48 steps (its rate warms up over 12; the "
        "calibration ends at the first measurement after them), calibrated **T_start = 3 "
        "bits**" in c.value
        for c in at.sidebar.caption
    )
    at.button(key="do_apply_preset").click().run()
    assert_clean(at)
    marked = [m.value for m in at.markdown if "← in use" in m.value]
    assert len(marked) == 1 and "At the warm-up's end (the scan after step 21 of 48)" in marked[0]
    assert any("*Not in use: after the warm-up" in m.value for m in at.markdown)
    assert at.session_state["design_curve"] == {
        "kind": "power",
        "t_start": 3.0,
        "gamma": 1.0,
        "hold": 0.25,
    }
    # the implied rate: the warm-up's own rates, then the law of the scan at its end
    lr = figure(at, "Implied learning rate")
    assert (
        "the scan after step 21 of 48 (the warm-up's end)"
        in lr["layout"]["title"]["subtitle"]["text"]
    )
    x, y = np.array(values(lr["data"][0], "x")), np.array(values(lr["data"][0], "y"))
    assert y[0] == pytest.approx(0.04 * 0.05)  # the warm-up starts at 0.04 × the rate
    after = x > 0.25
    c = 3.0 * (1 - (x[after] - 0.25) / 0.75)
    np.testing.assert_allclose(y[after], np.clip(0.01 * c * math.log(2), 1e-6, 0.05), rtol=1e-6)
    assert any("The first 25% is the warm-up's linear rate" in c.value for c in at.caption)
    # the same set-up again: no second training; another γ: another warm-up to train
    at.run()
    assert len(trained) == 1
    at.number_input(key="design_calibration_gamma").set_value(2.0).run()
    assert at.button(key="do_apply_preset").disabled
    at.button(key="do_train_warmup").click().run()
    assert len(trained) == 2 and trained[1].calibration == "ramp:0.25:2"
    # the applied curve is still the first warm-up's, but for another batch it is not drawn
    # as that run: the quick scan's law throughout
    at.number_input(key="design_batch").set_value(64).run()
    assert_clean(at)
    subtitle = figure(at, "Implied learning rate")["layout"]["title"]["subtitle"]["text"]
    assert "warm-up" not in subtitle and "quick scan" in subtitle
    assert not any("warm-up's linear rate" in c.value for c in at.caption)


def test_design_range_test_of_the_runs_first_batch(store, fake_scan, monkeypatch):
    from actcool.scale import peak_rate, rate_scale
    from app import range_preview

    scanned = []
    real_scan = range_preview.first_batch_scan

    def first_batch_scan(config):
        scanned.append(config)
        return real_scan(config)

    monkeypatch.setattr(range_preview, "first_batch_scan", first_batch_scan)
    at = open_page("design")
    assert not scanned and not any(t.startswith("LR range test") for t in titles(at))
    at.button(key="do_range_test").click().run()
    assert_clean(at)
    (config,) = scanned  # the page's set-up, as a new run's defaults
    assert (config.model, config.dataset, config.batch_size, config.lr) == (
        "convnet4",
        "digits",
        128,
        0.05,
    )
    chart = figure(at, "LR range test (trained at λ_t = 0.05)")
    assert [t["name"] for t in chart["data"]][:3] == ["loss", "loss at θ_t", "mean temperature"]
    (result,) = at.session_state["design_range_tests"].values()
    scale = rate_scale(result.scan)
    (text,) = [c.value for c in at.caption if "ActCoolLR will peak at" in c.value]
    assert f"ActCoolLR will peak at **{peak_rate(0.05, scale):.3g}**" in text
    assert f"your rate 0.05 is {'kept' if peak_rate(0.05, scale) == 0.05 else 'replaced'}" in text
    assert f"A 1-cycle schedule would peak near **{result.suggestion():.3g}**" in text
    # kept for the set-up: no second scan; another rate is another set-up
    at.run()
    assert len(scanned) == 1 and figure(at, "LR range test (trained at λ_t = 0.05)")
    at.number_input(key="design_lr").set_value(1.0).run()
    assert not any(t.startswith("LR range test") for t in titles(at))
    at.button(key="do_range_test").click().run()
    assert_clean(at)
    assert len(scanned) == 2
    result = next(r for r in at.session_state["design_range_tests"].values() if r.lr_used == 1)
    (text,) = [c.value for c in at.caption if "ActCoolLR will peak at" in c.value]
    assert f"ActCoolLR will peak at **{peak_rate(1.0, rate_scale(result.scan)):.3g}**" in text
    assert "your rate 1 is replaced" in text


def test_design_range_test_without_a_fit_says_so(store, fake_scan, monkeypatch):
    import dataclasses

    from app import range_preview

    real_scan = range_preview.first_batch_scan

    def flat_scan(config):  # no unit ever flips: no rate scale
        result = real_scan(config)
        counts = {name: np.zeros_like(np.asarray(c)) for name, c in result.scan.counts.items()}
        return dataclasses.replace(result, scan=dataclasses.replace(result.scan, counts=counts))

    monkeypatch.setattr(range_preview, "first_batch_scan", flat_scan)
    at = open_page("design")
    at.button(key="do_range_test").click().run()
    assert_clean(at)
    assert any(w.value.startswith("No fit: ") for w in at.warning)
    assert not any("ActCoolLR will peak at" in c.value for c in at.caption)


def test_design_draws_a_finished_runs_measured_rate_over_the_preview(store, fake_scan):
    other = seed_run(store, "onecycle")  # not ActCoolLR: not offered
    run_id = seed_run(
        store,
        "actcool",
        granularity="unit:64",
        summary_extra={"calibration": "fixed:2", "t_start": 2.0, "response": "weibull", "k": 0.97},
    )
    at = open_page("design")
    box = at.selectbox(key="design_check_run")
    assert box.options == ["—", f"actcool-s0 · {run_id} · finished"]
    assert other not in box.options
    box.select(run_id).run()
    assert_clean(at)
    lr = figure(at, "Implied learning rate")
    names = [t["name"] for t in lr["data"]]
    assert names[0] == "implied rate λ(f)" and names[-1] == "measured · actcool-s0"
    measured = {axis: values(lr["data"][-1], axis) for axis in ("x", "y")}
    assert measured["y"][0] == pytest.approx(0.1001)  # the seeded rate, step 0
    # measured / preview over 10-90% of training, as computed from the two traces
    implied = implied_trace(at)
    ratios = [
        y / float(np.exp(np.interp(x, implied["x"], np.log(implied["y"]))))
        for x, y in zip(measured["x"], measured["y"], strict=True)
        if 0.1 <= x <= 0.9
    ]
    ratio = float(np.median(ratios))
    (note,) = lr["layout"]["annotations"]
    assert note["text"] == f"measured / preview: median ×{ratio:.2g} over 10%–90% of training"
    (caption,) = [c.value for c in at.caption if "measured rate is a median" in c.value]
    assert f"median **×{ratio:.2g}** of the preview over 10%–90% of training" in caption
    assert "calibration fixed:2, T_start 2.00 bits" in caption
    assert "differs from the preview in: ceiling" not in caption  # both 0.05
