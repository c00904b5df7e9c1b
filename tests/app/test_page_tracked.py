"""Runs recorded by actcool.track on the Runs and Compare pages: shown like the trainer's
own, labelled with their script, Stop asks the script, Resume never offered."""

from __future__ import annotations

import time

import pytest
import streamlit as st
import torch
from torch import nn

import actcool
from actcool import ActCoolLR, PowerCurve
from app import summary
from storage import Store
from tests.app.page_helpers import assert_clean, open_page, titles
from tests.app.seed import seed_run

STEPS = 12


def _loop(run, model, optimizer, scheduler=None, steps: int = STEPS) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 12, generator=g)
        y = x[:, :3].argmax(1)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        run.step(loss=loss)


def _setup(actcool_schedule: bool = False):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = (
        ActCoolLR(optimizer, model, PowerCurve(3.0), total_steps=STEPS, measure_every=3)
        if actcool_schedule
        else None
    )
    return model, optimizer, scheduler


def tracked_run(store: Store, actcool_schedule: bool = True) -> str:
    model, optimizer, scheduler = _setup(actcool_schedule)
    with actcool.track(model, optimizer, scheduler=scheduler, home=store.home) as run:
        _loop(run, model, optimizer, scheduler)
        run.evaluate(val_error=12.5, top1=87.5)
    if scheduler is not None:
        scheduler.close()
    return run.id


def test_a_finished_tracked_run_shows_its_charts_and_script_and_no_resume(store, fake_worker):
    run_id = tracked_run(store)
    at = open_page("runs")
    assert_clean(at)
    assert at.selectbox(key="runs_pick").value == run_id
    assert {"Learning rate", "Mean temperature", "Temperature per site", "Error"} <= set(titles(at))
    assert "LR range scans" in titles(at)  # ActCoolLR's step-0 scan
    headline = " ".join(c.value for c in at.caption)
    script = store.get_run(run_id)["config"]["script"]  # under pytest: pytest's __main__
    assert f"recorded by script {script}" in headline
    assert "ActCoolLR" in headline
    steps = next(m for m in at.metric if m.label == "Steps")
    assert steps.value == f"{STEPS} / {STEPS}"
    assert [b.key for b in at.button] == [f"do_delete_{run_id}"]


def test_a_tracked_run_without_model_or_dataset_and_without_scans_shows_cleanly(store, fake_worker):
    run_id = tracked_run(store, actcool_schedule=False)
    config = store.get_run(run_id)["config"]
    assert "model" not in config and "dataset" not in config
    at = open_page("runs")
    assert_clean(at)
    assert "Temperature per site" in titles(at)


def test_stop_asks_the_script_and_says_when_it_acknowledged(store, fake_worker):
    model, optimizer, _ = _setup()
    with actcool.track(model, optimizer, home=store.home, name="live") as run:
        _loop(run, model, optimizer, steps=3)
        at = open_page("runs")
        assert_clean(at)
        assert [b.key for b in at.button] == [f"do_stop_{run.id}"]  # no delete while running
        at.button(key=f"do_stop_{run.id}").click().run()
        assert_clean(at)
        assert Store(store.home).stop_requested(run.id)
        assert any("waiting for the script to acknowledge" in i.value for i in at.info)
        deadline = time.monotonic() + 30  # the writer refreshes the flag with its heartbeat
        while not run.stop_requested:
            assert time.monotonic() < deadline, "the stop never reached the script"
            _loop(run, model, optimizer, steps=1)
            time.sleep(0.1)
        st.cache_data.clear()  # the page's queries are cached for a second
        at.run()
        assert_clean(at)
        acknowledged = run.step_count - 1
        assert any(f"acknowledged it at step {acknowledged}" in i.value for i in at.info), [
            i.value for i in at.info
        ]
    st.cache_data.clear()
    at.run()
    assert_clean(at)
    assert store.get_run(run.id)["status"] == "stopped"
    assert any(f"Stopped by its script at step {acknowledged}" in i.value for i in at.info)
    assert f"do_resume_{run.id}" not in [b.key for b in at.button]
    assert any("cannot resume it" in c.value for c in at.caption)


def test_a_lost_tracked_run_is_not_offered_resume(store, fake_worker):
    run_id = tracked_run(store)
    store.update_run(run_id, status="running", pid=2**22 + 12345)  # no such process
    assert store.get_run(run_id)["status"] == "lost"
    at = open_page("runs")
    assert_clean(at)
    assert f"do_resume_{run_id}" not in [b.key for b in at.button]
    assert any("stopped sending heartbeats" in w.value for w in at.warning)


def test_compare_shows_tracked_runs_beside_trainer_runs(store, fake_worker):
    trainer_run = seed_run(store, "actcool", granularity="unit:64")
    tracked = tracked_run(store)
    at = open_page("compare")
    at.session_state["compare_runs"] = [trainer_run, tracked]
    at.run()
    assert_clean(at)
    (table,) = [df.value for df in at.dataframe if "recorded by" in df.value.columns]
    table = table.set_index("run")
    tracked_row = table.loc[store.get_run(tracked)["name"]]
    script = store.get_run(tracked)["config"]["script"]
    assert tracked_row["recorded by"] == f"script {script}"
    assert tracked_row["best val error (%)"] == 12.5
    assert table.loc[store.get_run(trainer_run)["name"], "recorded by"] == "trainer"


def test_a_tracked_run_with_trainer_like_keys_is_not_taken_for_a_trainer_run(store):
    model, optimizer, _ = _setup()
    keys = {"model": "mlp", "dataset": "toy", "epochs": 1, "batch_size": 16}
    with actcool.track(model, optimizer, home=store.home, config=keys) as run:
        _loop(run, model, optimizer, steps=2)
    record = store.get_run(run.id)
    assert summary.tracked_source(record).startswith("script ")
    assert not summary.recorded_by_trainer(record)


@pytest.mark.parametrize("page", ["design", "launch"])
def test_other_pages_open_with_a_tracked_run_in_the_store(store, fake_worker, page):
    tracked_run(store)
    at = open_page(page)
    assert_clean(at)
