"""The Runs page under streamlit.testing's AppTest, against seeded temporary stores.

Widget edits that need a browser (a lasso stroke, a table edit) are seeded through
session_state under the widget's key, as the front end would send them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from storage import LockTimeout, Store
from tests.app.page_helpers import (
    assert_clean,
    figure,
    log_guard_cuts,
    open_page,
    titles,
    values,
)
from tests.app.seed import seed_run
from trainer.checkpoint import checkpoint_path


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


def test_runs_headline_names_how_the_run_computes(store, fake_worker):
    fast = {"precision": "bf16", "channels_last": True, "compile": True}
    fast_id = seed_run(store, "onecycle", seed=1, config_extra=fast)
    seed_run(store, "onecycle", seed=2, config_extra={"amp": True})  # the newest: shown first
    at = open_page("runs")
    assert_clean(at)
    headline = lambda: [c.value for c in at.caption if c.value.startswith("id `")]  # noqa: E731
    (line,) = headline()
    assert " · sgd · batch 128 · fp16 mixed precision · seed 2 · " in line
    at.selectbox(key="runs_pick").select(fast_id).run()
    assert_clean(at)
    (line,) = headline()
    assert " · sgd · batch 128 · bf16 · channels-last · torch.compile · seed 1 · " in line
