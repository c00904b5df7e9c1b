"""Every page under streamlit.testing's AppTest, against seeded temporary stores.

Widget edits that need a browser (a lasso stroke, a table edit) are seeded through
session_state under the widget's key, as the front end would send them.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from storage import LockTimeout, Store
from tests.app.conftest import MAIN, REPO
from tests.app.seed import seed_run
from trainer.checkpoint import checkpoint_path

TIMEOUT = 120


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    if page != "design":
        at.switch_page(f"views/{page}.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def titles(at: AppTest) -> list[str]:
    return [(f["layout"].get("title") or {}).get("text", "") for f in figures(at)]


def figure(at: AppTest, title: str) -> dict:
    """The one figure of the page with that title."""
    (found,) = [f for f in figures(at) if (f["layout"].get("title") or {}).get("text") == title]
    return found


FAKE_WEIBULL = {"lambda0": 0.02, "k": 0.9}


@pytest.fixture
def fake_scan(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace the quick LR range scan (a torch training step) by fixed fits of both models."""
    from app import preview

    calls = []

    def quick_fits(config):
        calls.append((config.model, config.dataset, config.batch_size, config.granularity))
        return preview.PreviewFits(
            {"mu": -5.0, "sigma": 1.2}, dict(FAKE_WEIBULL), config.batch_size
        )

    monkeypatch.setattr(preview, "quick_fits", quick_fits)
    return calls


# ---------------------------------------------------------------------- Design
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


def values(trace: dict, axis: str) -> list[float]:
    """A trace's x or y as floats (Plotly's JSON writes numpy arrays as typed base64 data)."""
    data = trace[axis]
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return [float(v) for v in data]


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
    from app import preview

    trained = []

    def ramp_preview(config, on_step=None):
        trained.append(config)
        for i in range(1, 22):
            on_step(i, 21)
        return preview.RampPreview(
            t_start=3.0,
            fraction=0.25,
            gamma=config_gamma(config),
            floor=0.04,
            lr_peak=config.lr,
            ramp_steps=12,
            end_step=20,
            total_steps=48,
            fits=preview.PreviewFits(None, {"lambda0": 0.01, "k": 1.0}, config.batch_size),
            seconds=4.0,
        )

    def config_gamma(config):
        return 2.0 if config.calibration.endswith(":2") else 1.0

    monkeypatch.setattr(preview, "ramp_preview", ramp_preview)
    at = open_page("design")
    at.selectbox(key="design_preset").select("Calibrated default").run()
    assert at.button(key="do_apply_preset").disabled
    at.button(key="do_ramp_warmup").click().run()
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
    # every number of the warm-up from the one RampPreview: 21 steps trained (0 to 20)
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
    at.button(key="do_ramp_warmup").click().run()
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


# ---------------------------------------------------------------------- Launch
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


# ---------------------------------------------------------------------- Runs
def test_runs_empty_store_says_what_to_do(store):
    at = open_page("runs")
    assert_clean(at)
    assert "Launch" in at.info[0].value
    assert not at.get("plotly_chart")


def test_runs_shows_every_chart_of_a_finished_run(store, fake_worker):
    run_id = seed_run(store, "actcool", granularity="unit:64")
    at = open_page("runs")
    assert_clean(at)
    assert at.selectbox(key="runs_pick").value == run_id
    assert set(titles(at)) == {
        "Learning rate",
        "Mean temperature",
        "Temperature per site",
        "Error",
        "LR range scans",
        "Pattern-model fits",
        "Scan at step 80: mean over sites",
    }
    steps = next(m for m in at.metric if m.label == "Steps")
    assert steps.value == "120 / 120"
    scan = figure(at, "LR range scans")
    assert [t.get("name") for t in scan["data"]] == [
        "mean temperature",
        "rate used",
        "critical rate e<sup>μ</sup>",
        "Weibull scale λ<sub>0</sub>",
    ]
    # finished: neither stop nor resume, only delete
    assert [b.key for b in at.button] == [f"do_delete_{run_id}"]


def log_guard_cuts(store: Store, run_id: str) -> None:
    """Two cuts of the rate by ActCoolLR's divergence guard, as the trainer records them."""
    with store.writer(run_id) as writer:
        writer.log_guard_event(30, "loss_rise", "smoothed loss 2 is 1.6x its lowest", 0.08, 0.04)
        writer.log_guard_event(60, "temperature_collapse", "units died", 0.04, 0.02)
    store.update_run(run_id, status="finished")  # the writer's heartbeat marked it running


def test_runs_marks_the_guard_cuts_on_the_learning_rate(store, fake_worker):
    run_id = seed_run(store, "actcool", granularity="unit:64")
    log_guard_cuts(store, run_id)
    at = open_page("runs")
    assert_clean(at)
    rate = figure(at, "Learning rate")
    names = [t.get("name") for t in rate["data"]]
    assert names == ["learning rate", "ceiling after a cut", "cut by the divergence guard"]
    cuts = rate["data"][2]
    assert values(cuts, "x") == [30, 60] and values(cuts, "y") == [0.08, 0.04]
    assert "the loss rose" in cuts["text"][0] and "rate cut to 0.04" in cuts["text"][0]
    assert values(rate["data"][1], "y") == [0.04, 0.02, 0.02]
    caption = [c.value for c in at.caption if "divergence guard" in c.value]
    assert caption == [
        "ActCoolLR's divergence guard cut the rate 2 times (▼ on the learning-rate chart; "
        "hover for why): the rate was breaking the network. No later step trains above 0.02."
    ]


def test_runs_labels_every_temperature_with_the_granularity(store, fake_worker):
    seed_run(store, "actcool", granularity="unit:32")
    at = open_page("runs")
    assert_clean(at)
    assert any("granularity unit:32" in c.value for c in at.caption)
    temperature = figure(at, "Mean temperature")
    assert temperature["layout"]["yaxis"]["title"]["text"] == "temperature (bits, unit:32)"
    for title in ("Temperature per site", "LR range scans"):
        assert figure(at, title)["data"][0]["colorbar"]["title"]["text"] == "bits<br>unit:32"


def test_runs_of_an_old_store_are_labelled_sample(store, fake_worker):
    seed_run(store, "onecycle", legacy=True)  # its config has no granularity
    at = open_page("runs")
    assert_clean(at)
    assert any("granularity sample" in c.value for c in at.caption)
    temperature = figure(at, "Mean temperature")
    assert temperature["layout"]["yaxis"]["title"]["text"] == "temperature (bits, sample)"


def test_runs_scan_view_shows_both_models_and_why_one_is_missing(store, fake_worker):
    seed_run(
        store, "actcool", granularity="unit:64", no_weibull_fit="too few informative points (2 < 3)"
    )
    at = open_page("runs")
    assert_clean(at)
    assert at.selectbox(key="runs_scan_step").options == ["0", "40", "80"]
    assert at.selectbox(key="runs_scan_step").value == 80  # the latest scan
    scan = figure(at, "Scan at step 80: mean over sites")
    assert [t["name"] for t in scan["data"] if t.get("showlegend") is not False] == [
        "measured",
        "Gaussian CDF (RMSE 0.020)",
    ]
    assert [a["text"] for a in scan["layout"]["annotations"]] == [
        "Weibull — no fit: too few informative points (2 < 3)"
    ]
    assert scan["layout"]["yaxis"]["title"]["text"] == "change probability P (unit:64)"
    table = at.dataframe[0].value.set_index("site")
    assert list(table.index) == ["mean", "relu1", "relu2", "relu3"]
    assert "note" not in table  # said under the chart, so that the table fits the screen
    assert any(
        c.value.startswith("**mean**: Weibull — no fit: too few informative points")
        for c in at.caption
    )
    assert table.loc["relu2", "better"] == "Weibull"
    # an earlier scan, one site: both models fitted
    at.selectbox(key="runs_scan_step").select(40)
    at.selectbox(key="runs_scan_site").select("relu2").run()
    assert_clean(at)
    scan = figure(at, "Scan at step 40: site relu2")
    assert [t["name"] for t in scan["data"] if t.get("showlegend") is not False] == [
        "measured",
        "Gaussian CDF (RMSE 0.020)",
        "Weibull (RMSE 0.010)",
    ]
    assert not scan["layout"].get("annotations")


def test_runs_headline_shows_calibration_t_start_and_law(store, fake_worker):
    seed_run(
        store,
        "actcool",
        granularity="unit:64",
        summary_extra={
            "calibration": "fixed:2",
            "t_start": 2.0,
            "response": "weibull",
            "k": 0.9713,
        },
    )
    at = open_page("runs")
    assert_clean(at)
    (caption,) = [c.value for c in at.caption if c.value.startswith("ActCoolLR:")]
    assert caption == (
        "ActCoolLR: calibrated default target, calibration fixed:2, T_start "
        "2.00 bits · law weibull k = 0.97, smoothing 0.5"
    )


def test_runs_headline_of_a_ramp_before_its_warm_up_ends(store, fake_worker):
    seed_run(
        store,
        "actcool",
        status="running",
        steps=40,
        total_steps=400,
        config_extra={"calibration": "ramp", "response": "gaussian"},
        summary_extra={
            "calibration": "ramp:0.25",
            "t_start": None,
            "response": "gaussian",
            "sigma": 1.234,
        },
    )
    at = open_page("runs")
    assert_clean(at)
    (caption,) = [c.value for c in at.caption if c.value.startswith("ActCoolLR:")]
    assert "calibration ramp:0.25, T_start pending until the warm-up ends" in caption
    assert "law gaussian σ = 1.23" in caption


def test_runs_headline_of_a_resumed_ramp_run_shows_the_start_it_restored(store, fake_worker):
    """A resumed run's summary has no T_start until it ends (the trainer writes it before it
    restores the checkpoint): at 96% of training the header reads it off the recorded target
    instead of saying "pending until the warm-up ends"."""
    from actcool.calibration import cooldown_after

    run_id = seed_run(
        store,
        "actcool",
        status="running",
        steps=384,
        total_steps=400,
        config_extra={"calibration": "ramp", "response": "weibull"},
        summary_extra={"calibration": "ramp:0.25", "t_start": None, "response": "weibull"},
    )
    store.truncate_run(run_id, after_step=-1)  # recorded as the trainer does:
    curve = cooldown_after(5.79, 0.25)  # no target during the warm-up, then the cool-down
    with store.writer(run_id) as writer:
        for step in range(390):
            target = float(curve(step / 400)) if step >= 100 else None
            writer.log_step(step, step / 40, 0.01, 0.3, 0.2, target)
    at = open_page("runs")
    assert_clean(at)
    (caption,) = [c.value for c in at.caption if c.value.startswith("ActCoolLR:")]
    assert "T_start 5.79 bits (read off its recorded target)" in caption
    assert "pending" not in caption


def test_runs_headline_of_a_run_recorded_outside_the_trainer_invents_nothing(store, fake_worker):
    """A run recorded with storage's RunWriter: its header says what it recorded, and
    nothing of the trainer's defaults (no law, no calibration, no granularity)."""
    run_id = store.create_run({"schedule": "actcool", "model": "mlp"}, name="my-loop")
    with store.writer(run_id) as writer:
        for step in range(20):
            writer.log_step(step, 0.0, 0.1, 1.0 / (step + 1), 1.5)
    store.update_run(run_id, status="finished")
    at = open_page("runs")
    assert_clean(at)
    header = " ".join(c.value for c in at.caption)
    assert f"id `{run_id}` · mlp · actcool" in header
    for invented in ("law", "fitted", "calibrat", "granularity", "target", "sample"):
        assert invented not in header, invented


def test_runs_headline_of_other_schedules_has_no_actcool_line(store, fake_worker):
    seed_run(store, "onecycle")
    at = open_page("runs")
    assert_clean(at)
    assert not [c for c in at.caption if c.value.startswith("ActCoolLR:")]


def test_runs_failed_run_shows_its_message(store, fake_worker):
    seed_run(store, "cosine", status="failed", error="RuntimeError: out of memory")
    at = open_page("runs")
    assert_clean(at)
    assert any("out of memory" in e.value for e in at.error)
    assert not [b for b in at.button if b.key.startswith("do_resume")]  # no checkpoint


def test_runs_failed_process_headline_is_its_last_log_line_with_the_log_a_click_away(
    store, fake_worker
):
    from trainer.worker import _reap

    run_id = seed_run(store, "cosine", status="running", steps=1, steps_per_epoch=1)
    logs = store.home / "logs"
    logs.mkdir()
    (logs / f"{run_id}.log").write_text(
        "loading fashion-mnist\npython -m trainer: error: Fashion-MNIST not found under "
        "/nowhere/FashionMNIST/raw; run with --data-dir pointing at it\n"
    )

    class Exited:  # the worker's view of a child process that exited with status 2
        def poll(self):
            return 2

    _reap(store, {run_id: Exited()}, logs)
    at = open_page("runs")
    assert_clean(at)
    (headline,) = at.error
    assert headline.value.startswith("Run failed: Fashion-MNIST not found under /nowhere")
    assert "exited with code 2" in headline.value
    (log,) = [c for c in at.code if "loading fashion-mnist" in c.value]
    assert "Fashion-MNIST not found" in log.value
    assert not [b for b in at.button if b.key.startswith("do_resume")]


def test_runs_delete_asks_first_and_removes_the_run(store, fake_worker):
    keep = seed_run(store, "onecycle", seed=1)
    run_id = seed_run(store, "cosine", status="stopped", steps=40, total_steps=400)
    checkpoint = checkpoint_path(store.home, run_id)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    at = open_page("runs")
    at.selectbox(key="runs_pick").select(run_id).run()
    at.button(key=f"do_delete_{run_id}").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key=f"do_cancel_delete_{run_id}").click().run()
    assert run_id in Store(store.home).list_runs()["id"].tolist()
    at.button(key=f"do_delete_{run_id}").click().run()
    at.button(key=f"do_confirm_delete_{run_id}").click().run()
    assert_clean(at)
    assert Store(store.home).list_runs()["id"].tolist() == [keep]
    assert not checkpoint.parent.exists()
    assert any("Deleted run" in s.value and run_id in s.value for s in at.success)
    assert at.selectbox(key="runs_pick").value == keep


def test_runs_a_running_run_offers_stop_not_delete(store, fake_worker):
    run_id = seed_run(store, "actcool", status="running", steps=40, total_steps=400)
    at = open_page("runs")
    assert [b.key for b in at.button] == [f"do_stop_{run_id}"]


def test_runs_marks_a_fit_at_the_edge_of_the_scan_grid(store, fake_worker):
    run_id = seed_run(store, "actcool")
    at = open_page("runs")
    assert not [w for w in at.warning if "edge of the scan grid" in w.value]
    last = int(store.fits(run_id)["step"].max())
    store.append_rows(
        run_id,
        "fits",
        pd.DataFrame(
            {  # a later fit, e^μ near the top rate
                "step": [last],
                "site": ["mean"],
                "model": ["gaussian"],
                "mu": [np.log(50.0)],
                "sigma": [1.0],
                "rmse": [0.01],
                "n_informative": [3],
            }
        ),
    )
    st.cache_data.clear()
    at.run()
    assert_clean(at)
    (warning,) = [w for w in at.warning if "edge of the scan grid" in w.value]
    assert f"step {last}: e^μ = 50 lies at the high edge" in warning.value
    assert "scan_low=" in warning.value


def test_runs_stop_a_running_run(store, fake_worker):
    run_id = seed_run(store, "actcool", status="running", steps=40, total_steps=400)
    at = open_page("runs")
    assert_clean(at)
    eta = next(m for m in at.metric if m.label == "ETA")
    assert eta.value != "—"
    at.button(key=f"do_stop_{run_id}").click().run()
    assert_clean(at)
    assert Store(store.home).stop_requested(run_id)


def test_runs_stopped_run_can_resume(store, fake_worker):
    run_id = seed_run(store, "onecycle", status="stopped", steps=40, total_steps=400)
    at = open_page("runs")
    assert f"do_resume_{run_id}" not in [b.key for b in at.button]  # no checkpoint yet
    assert any("cannot resume: it ended before its first checkpoint" in c.value for c in at.caption)
    checkpoint = checkpoint_path(store.home, run_id)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    at.run()
    at.button(key=f"do_resume_{run_id}").click().run()
    assert_clean(at)
    assert fake_worker.resumed == [run_id]
    # through the queue: it reads queued at once, in the picker and the headline
    assert store.get_run(run_id)["status"] == "queued"
    assert at.selectbox(key="runs_pick").format_func(run_id).endswith("· queued")
    assert any("Queued: a worker will start it soon." in i.value for i in at.info)


def test_runs_run_stopped_in_the_queue_can_resume_from_the_beginning(store, fake_worker):
    run_id = store.create_run(
        {"model": "mlp", "schedule": "onecycle"}, name="waiting", status="queued"
    )
    store.request_stop(run_id)  # stopped before a worker started it: nothing trained
    assert store.get_run(run_id)["status"] == "stopped"
    at = open_page("runs")
    assert_clean(at)
    assert not any("cannot resume" in c.value for c in at.caption)
    at.button(key=f"do_resume_{run_id}").click().run()
    assert_clean(at)
    assert fake_worker.resumed == [run_id]


def test_runs_lock_conflict_is_a_warning_not_a_traceback(store, monkeypatch):
    from app import data

    seed_run(store)

    def busy(self, *args, **kwargs):
        raise LockTimeout("database file stayed locked")

    monkeypatch.setattr(Store, "list_runs", busy)
    monkeypatch.setattr(data, "RETRY_SECONDS", 0.0)
    monkeypatch.setattr(data, "RETRIES", 2)
    at = open_page("runs")
    assert_clean(at)
    assert any("Store busy" in w.value for w in at.warning)


# ---------------------------------------------------------------------- Compare
def test_compare_empty_store_says_what_to_do(store):
    at = open_page("compare")
    assert_clean(at)
    assert "Launch" in at.info[0].value


def test_compare_overlays_a_tagged_group(store):
    a = seed_run(store, "actcool", tags=("compare-1",), seed=0, granularity="unit:64")
    b = seed_run(store, "onecycle", tags=("compare-1",), seed=1, granularity="unit:64")
    seed_run(store, "cosine", granularity="sample")  # newest, but not in the group
    at = open_page("compare")
    assert_clean(at)
    assert not at.warning  # one granularity
    assert sorted(at.multiselect(key="compare_runs").value) == sorted([a, b])
    shown = titles(at)
    assert {"Learning rate", "Mean temperature (bits, unit:64)", "Validation error (%)"} <= set(
        shown
    )
    assert sum(t.startswith(("actcool-s0", "onecycle-s1")) for t in shown) == 2  # LR heatmaps
    lr = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Learning rate")
    assert lr["layout"]["yaxis"]["type"] == "log"
    colors = {t["name"].split(" · ")[0]: t["line"]["color"] for t in lr["data"]}
    assert colors == {"actcool-s0": "#D55E00", "onecycle-s1": "#0072B2"}
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["onecycle-s1", "final test error (%)"] == 6.0
    assert table.loc["actcool-s0", "best val error (%)"] == pytest.approx(25 / 3)
    assert len(at.get("download_button")) == 2
    assert set(table["granularity"]) == {"unit:64"}


def test_compare_says_each_schedules_seed_to_seed_spread(store):
    """The demo's comparison: the same seeds per schedule, and a caption with each schedule's
    mean test error, its spread from seed to seed, and whether the means differ beyond it."""
    for schedule in ("actcool", "onecycle"):
        for seed in (0, 1, 2):  # seed_run records a test error of 5 + seed
            seed_run(store, schedule, tags=("demo",), seed=seed)
    at = open_page("compare")
    assert_clean(at)
    (caption,) = [c.value for c in at.caption if c.value.startswith("Final test error by")]
    assert "**ActCoolLR** 6.00% (5.00–7.00%, 3 runs, seeds 0, 1, 2)" in caption
    assert "**1-cycle** 6.00% (5.00–7.00%, 3 runs, seeds 0, 1, 2)" in caption
    assert "The means differ by 0.00 points" in caption and "up to 2.00 points" in caption


def test_compare_marks_the_guard_cuts_on_the_rate_overlay(store):
    a = seed_run(store, "actcool", tags=("compare-1",), seed=0, granularity="unit:64")
    seed_run(store, "onecycle", tags=("compare-1",), seed=1, granularity="unit:64")
    log_guard_cuts(store, a)
    at = open_page("compare")
    assert_clean(at)
    rate = figure(at, "Learning rate")
    cuts = rate["data"][-1]
    assert cuts["name"] == "cut by the divergence guard" and values(cuts, "x") == [30, 60]
    assert cuts["text"][0].startswith("actcool-s0")
    at.radio(key="compare_by").set_value("fraction").run()
    assert_clean(at)
    cuts = figure(at, "Learning rate")["data"][-1]
    assert values(cuts, "x") == pytest.approx([30 / 120, 60 / 120])


def test_compare_warns_on_mixed_granularities_and_splits_temperatures(store):
    a = seed_run(store, "actcool", tags=("compare-1",), seed=0, granularity="unit:64")
    b = seed_run(store, "onecycle", tags=("compare-1",), seed=1, granularity="sample")
    c = seed_run(store, "cosine", tags=("compare-1",), seed=2, granularity="unit:64")
    at = open_page("compare")
    assert_clean(at)
    assert sorted(at.multiselect(key="compare_runs").value) == sorted([a, b, c])
    (warning,) = at.warning
    assert "different granularities" in warning.value

    def named(granularity: str) -> set[str]:  # the runs the warning lists for a granularity
        return set(
            warning.value.split(f"**{granularity}**: ")[1].split(";")[0].split(". ")[0].split(", ")
        )

    assert named("unit:64") == {f"actcool-s0 · {a}", f"cosine-s2 · {c}"}
    assert named("sample") == {f"onecycle-s1 · {b}"}
    # one temperature overlay per granularity, each with only its own runs
    hot = figure(at, "Mean temperature (bits, unit:64)")
    assert sorted(t["name"] for t in hot["data"]) == [f"actcool-s0 · {a}", f"cosine-s2 · {c}"]
    assert hot["layout"]["yaxis"]["title"]["text"] == "mean temperature (bits, unit:64)"
    cold = figure(at, "Mean temperature (bits, sample)")
    assert [t["name"] for t in cold["data"]] == [f"onecycle-s1 · {b}"]
    assert not [t for t in titles(at) if t == "Mean temperature (bits)"]
    # rates and errors stay overlaid for every run
    assert len(figure(at, "Learning rate")["data"]) == 3
    assert len(figure(at, "Validation error (%)")["data"]) == 3
    # the heatmaps name their granularity on the colour bar
    heat = figure(at, f"onecycle-s1 · {b}")
    assert heat["data"][0]["colorbar"]["title"]["text"] == "bits<br>sample"
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["onecycle-s1", "granularity"] == "sample"


def test_compare_by_fraction_and_filters(store):
    seed_run(store, "actcool", tags=("compare-1",))
    seed_run(store, "onecycle", tags=("compare-1",))
    seed_run(store, "cosine", status="failed", tags=("compare-1",))
    at = open_page("compare")
    at.radio(key="compare_by").set_value("fraction").run()
    assert_clean(at)
    lr = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Learning rate")
    assert lr["layout"]["xaxis"]["tickformat"] == ".0%"
    at.multiselect(key="compare_schedule").set_value(["onecycle"]).run()
    assert_clean(at)
    assert len(at.multiselect(key="compare_runs").value) == 1
    at.multiselect(key="compare_status").set_value(["failed"]).run()
    assert any("No run matches" in i.value for i in at.info)


def test_comparison_csv_has_every_value_of_every_metric(store):
    import io

    import pandas as pd

    from app import data

    a = seed_run(store, "actcool", steps=120)
    b = seed_run(store, "onecycle", steps=80)
    csv = pd.read_csv(io.BytesIO(data.comparison_csv((a, b), "fraction", {a: "A", b: "B"})))
    assert list(csv.columns) == ["run_id", "run", "metric", "fraction", "value"]
    csv = pd.read_csv(
        io.BytesIO(
            data.comparison_csv((a, b), "fraction", {a: "A", b: "B"}, {a: "unit:64", b: "sample"})
        )
    )
    assert list(csv.columns) == ["run_id", "run", "granularity", "metric", "fraction", "value"]
    assert set(csv.loc[csv["run_id"] == b, "granularity"]) == {"sample"}
    lr = csv[csv["metric"] == "lr"]
    assert (lr["run_id"] == a).sum() == 120 and (lr["run_id"] == b).sum() == 80
    assert lr["fraction"].max() == pytest.approx(119 / 120)
    assert set(csv["run"]) == {"A", "B"}
    assert {"mean_temperature", "val_error", "test_error"} <= set(csv["metric"])


def test_settings_survive_a_visit_to_another_page(store, fake_worker, fake_scan):
    at = open_page("launch")
    at.number_input(key="launch_epochs").set_value(7)
    at.selectbox(key="launch_schedule").select("cosine").run()
    at.switch_page("views/design.py").run()
    assert_clean(at)
    at.switch_page("views/launch.py").run()
    assert_clean(at)
    assert at.number_input(key="launch_epochs").value == 7
    assert at.selectbox(key="launch_schedule").value == "cosine"


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


def test_runs_prefers_a_running_run_and_waits_for_a_queued_one(store, fake_worker):
    running = seed_run(store, "actcool", status="running", steps=40, total_steps=400)
    queued = store.create_run({"model": "convnet4"}, name="waiting", status="queued")
    at = open_page("runs")
    assert_clean(at)
    assert at.selectbox(key="runs_pick").value == running  # not the newer queued one
    at.selectbox(key="runs_pick").select(queued).run()
    assert_clean(at)
    assert any("Queued" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at.button(key=f"do_stop_{queued}").click().run()  # stopping a queued run cancels it
    assert Store(store.home).get_run(queued)["status"] == "stopped"


# ---------------------------------------------------------------------- the store itself
@pytest.mark.parametrize("page", ["design", "launch", "runs", "compare"])
def test_a_store_deleted_under_the_app_is_said_and_replaced_by_an_empty_one(
    store, fake_worker, fake_scan, page
):
    run_id = seed_run(store, "onecycle")
    at = open_page(page)
    assert_clean(at)
    shutil.rmtree(store.home)
    at.run()
    assert_clean(at)
    assert any(
        f"The store at `{store.home}` was deleted or replaced" in w.value for w in at.warning
    )
    assert Store(store.home).list_runs().empty and store.catalog_path.exists()
    if page == "runs":
        assert not [s for s in at.selectbox if s.key == "runs_pick"]  # nothing stale shown
        assert run_id not in str([m.value for m in at.markdown])
    at.run()
    assert not [w for w in at.warning if "was deleted" in w.value]  # said once


@pytest.mark.parametrize("page", ["design", "launch", "runs", "compare"])
def test_a_store_being_deleted_is_not_written_into(store, fake_worker, fake_scan, page):
    """Half-way through ``rm -r`` (catalog gone, a run file left): the page says so and
    creates nothing in the folder; once the folder is gone, an empty store takes its place."""
    run_id = seed_run(store, "onecycle")
    at = open_page(page)
    assert_clean(at)
    store.catalog_path.unlink()
    left = sorted(p.relative_to(store.home) for p in store.home.rglob("*"))
    at.run()
    assert_clean(at)
    assert any("is being deleted" in w.value for w in at.warning)
    assert sorted(p.relative_to(store.home) for p in store.home.rglob("*")) == left
    assert not store.catalog_path.exists()
    shutil.rmtree(store.home)
    at.run()
    assert_clean(at)
    assert any("was deleted or replaced" in w.value for w in at.warning)
    assert Store(store.home).list_runs().empty
    assert run_id not in str([m.value for m in at.markdown])


def test_reads_of_a_store_deleted_mid_page_create_nothing(store, monkeypatch):
    """A query that finds the store gone (deleted after the page's check) raises StoreGone
    instead of opening, and so creating, a file in the folder being removed."""
    from app import data

    run_id = seed_run(store, "onecycle")
    st.cache_data.clear()
    (store.home / "runs" / f"{run_id}.duckdb").unlink()
    store.catalog_path.unlink()
    for query in (data.runs, data.curves, data.store):
        with pytest.raises(data.StoreGone):
            query()
    for query in (data.steps, data.scans, data.fits, data.evaluations, data.guard_events):
        with pytest.raises(data.StoreGone):
            query(run_id)
    with pytest.raises(data.StoreGone):
        data.aligned((run_id,), "loss", "step")
    assert not store.catalog_path.exists()
    assert list((store.home / "runs").iterdir()) == []


def test_an_unreadable_store_file_is_explained_and_can_be_moved_aside(store, fake_worker):
    seed_run(store, "onecycle")
    store.catalog_path.unlink()
    store.catalog_path.write_bytes(b"written by another version" * 200)
    at = open_page("runs")
    assert_clean(at)
    (message,) = at.main.error  # on the page, not in the sidebar
    assert "The store cannot be read: the catalog file" in message.value
    assert "not a valid DuckDB database file" in message.value
    at.button(key="do_set_aside").click().run()
    assert_clean(at)
    assert any("catalog.duckdb.unreadable-" in s.value for s in at.success)
    at.run()
    assert_clean(at)
    assert any("No runs yet" in i.value for i in at.info)
