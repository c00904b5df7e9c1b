"""Runs, the queue, stop requests, lost detection and curves in the catalog."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from storage import Store
from storage.status import HOST

from .workers import claim_all_into

HANG_GUARD_S = 60.0  # only guards against a hang; the events normally come in a second

CONFIG = {
    "model": "resnet20",
    "dataset": "cifar10",
    "schedule": {"name": "actcool", "t0": 0.4},
    "total_steps": 500,
}


def test_create_and_get_run_round_trip(store):
    before = datetime.now(timezone.utc)
    run_id = store.create_run(CONFIG, name="first", tags=["baseline", "seed0"])
    run = store.get_run(run_id)
    after = datetime.now(timezone.utc)
    assert run["id"] == run_id and len(run_id) == 8
    assert run["name"] == "first" and run["status"] == "running"
    assert run["config"] == CONFIG and run["summary"] == {}
    assert run["tags"] == ["baseline", "seed0"]
    assert (run["model"], run["dataset"], run["schedule"]) == ("resnet20", "cifar10", "actcool")
    assert run["pid"] == os.getpid() and run["host"] == HOST
    # UTC, between the calls (a second of slack for the stored precision)
    assert before - timedelta(seconds=1) <= run["created_at"] <= after
    assert run["started_at"] == run["created_at"] and run["finished_at"] is None


def test_update_run_sets_fields_merges_summary_and_stamps_times(store):
    run_id = store.create_run(CONFIG, name="upd")
    store.update_run(run_id, device="cuda:0", summary={"best_val_error": 0.1})
    store.update_run(
        run_id,
        status="failed",
        error="boom",
        traceback="Traceback ...",
        summary={"total_steps": 400},
    )
    run = store.get_run(run_id)
    assert run["status"] == "failed" and run["device"] == "cuda:0"
    assert run["error"] == "boom" and run["traceback"] == "Traceback ..."
    assert run["summary"] == {"best_val_error": 0.1, "total_steps": 400}
    assert run["finished_at"] is not None and run["finished_at"] >= run["started_at"]
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    store.update_run(run_id, started=when)
    assert store.get_run(run_id)["started_at"] == when


def test_list_runs_filters(store):
    a = store.create_run(CONFIG, name="a", tags=["x"])
    b = store.create_run(
        {**CONFIG, "model": "convnet4", "schedule": "cosine"}, name="b", tags=["y"]
    )
    c = store.create_run({**CONFIG, "dataset": "mnist"}, name="c", status="queued")
    store.update_run(a, status="finished")
    assert store.list_runs()["id"].tolist() == [c, b, a]  # newest first
    assert store.list_runs(status="finished")["id"].tolist() == [a]
    assert set(store.list_runs(status=["queued", "running"])["id"]) == {b, c}
    assert store.list_runs(tag="y")["id"].tolist() == [b]
    assert store.list_runs(model="convnet4")["id"].tolist() == [b]
    assert store.list_runs(dataset="mnist")["id"].tolist() == [c]
    assert store.list_runs(schedule="cosine")["id"].tolist() == [b]
    assert store.list_runs(schedule="actcool", dataset="cifar10")["id"].tolist() == [a]
    assert store.list_runs(tag="nope").empty


def test_silent_running_run_reads_as_lost_until_it_beats_again(tmp_path):
    patient = Store(tmp_path / "home")  # lost after 30 s of silence
    impatient = Store(tmp_path / "home", lost_after=0.2)  # the same store, lost after 0.2 s
    run_id = patient.create_run({}, name="quiet")
    assert patient.get_run(run_id)["status"] == "running"
    deadline = time.monotonic() + HANG_GUARD_S
    while impatient.get_run(run_id)["status"] != "lost":  # wait for the silence to count
        assert time.monotonic() < deadline, "a silent run never read as lost"
        time.sleep(0.05)
    assert impatient.list_runs(status="lost")["id"].tolist() == [run_id]
    assert impatient.list_runs(status="running").empty
    assert patient.get_run(run_id)["status"] == "running"  # silent for less than its lost_after
    # A heartbeat makes it running again; on a busy machine a read may come more than 0.2 s
    # after the beat, so beat and read until one read is close enough.
    while True:
        impatient.heartbeat(run_id)
        if impatient.get_run(run_id)["status"] == "running":
            break
        assert time.monotonic() < deadline, "a heartbeat never made the run read running again"


def test_running_run_whose_process_died_on_this_host_is_lost(store):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = store.create_run({}, name="dead")
    store.update_run(dead, pid=child.pid)
    elsewhere = store.create_run({}, name="elsewhere")
    store.update_run(elsewhere, pid=child.pid, host="another-machine")
    assert store.get_run(dead)["status"] == "lost"
    assert store.get_run(elsewhere)["status"] == "running"  # cannot see that host's pids
    store.update_run(dead, status="failed")
    assert store.get_run(dead)["status"] == "failed"  # only running runs can be lost


def test_stop_requests(store):
    run_id = store.create_run({}, name="stoppable")
    assert store.stop_requested(run_id) is False
    assert store.request_stop(run_id) is True
    assert store.request_stop(run_id) is True  # idempotent
    assert store.stop_requested(run_id) is True
    store.update_run(run_id, status="running")  # a resumed run starts without the request
    assert store.stop_requested(run_id) is False

    queued = store.create_run({}, name="waiting", status="queued")
    assert store.request_stop(queued) is True
    assert store.get_run(queued)["status"] == "stopped"
    assert store.request_stop(queued) is False  # already over: nothing to stop


def test_writer_sees_a_stop_request(store):
    run_id = store.create_run({}, name="stop-me")
    with store.writer(run_id, heartbeat_interval=0.2, flush_interval=0.2) as writer:
        assert writer.stop_requested is False
        store.request_stop(run_id)
        deadline = time.monotonic() + HANG_GUARD_S  # seen at the next heartbeat, normally
        while not writer.stop_requested and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.stop_requested is True, "the writer never saw the stop request"


def test_queue_claims_oldest_first_and_remove_queued(store):
    first = store.create_run({"i": 1}, name="q1", status="queued")
    second = store.create_run({"i": 2}, name="q2", status="queued")
    third = store.create_run({"i": 3}, name="q3", status="queued")
    running = store.create_run({}, name="busy")
    claimed = store.claim_next_queued("gpu0")
    assert claimed["id"] == first and claimed["status"] == "running" and claimed["worker"] == "gpu0"
    assert claimed["config"] == {"i": 1} and claimed["started_at"] is not None
    store.remove_queued(third)
    with pytest.raises(KeyError, match=third):
        store.get_run(third)
    assert not store.run_path(third).exists()
    with pytest.raises(ValueError, match=f"run '{running}' is running, not queued"):
        store.remove_queued(running)
    assert store.claim_next_queued("gpu1")["id"] == second
    assert store.claim_next_queued("gpu1") is None


def test_two_processes_never_claim_the_same_run(store):
    queued = {store.create_run({"i": i}, name=f"q{i}", status="queued") for i in range(16)}
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    claimers = [
        ctx.Process(target=claim_all_into, args=(results, str(store.home), worker))
        for worker in ("w1", "w2")
    ]
    for claimer in claimers:
        claimer.start()
    for claimer in claimers:
        claimer.join(timeout=90)
    assert [claimer.exitcode for claimer in claimers] == [0, 0]
    got = dict(results.get(timeout=10) for _ in claimers)
    assert not set(got["w1"]) & set(got["w2"])
    assert set(got["w1"]) | set(got["w2"]) == queued
    assert len(got["w1"]) + len(got["w2"]) == 16
    runs = store.list_runs()
    assert sorted(runs["worker"]) == sorted(["w1"] * len(got["w1"]) + ["w2"] * len(got["w2"]))
    assert (runs["status"] == "lost").all()  # claimed as running; the claimers have exited


def test_delete_run(store):
    run_id = store.create_run({}, name="gone")
    with pytest.raises(ValueError, match="is running"):
        store.delete_run(run_id)
    store.update_run(run_id, status="finished")
    store.delete_run(run_id)
    assert store.list_runs().empty and not store.run_path(run_id).exists()


def test_curves_round_trip(store):
    linear = {"kind": "linear", "start": 0.5, "end": 0.05}
    store.save_curve("linear", linear)
    store.save_curve("cosine", {"kind": "cosine", "start": 0.5, "end": 0.0})
    assert store.load_curve("linear") == linear
    store.save_curve("linear", {**linear, "end": 0.1})  # replaces
    assert store.load_curve("linear")["end"] == 0.1
    curves = store.list_curves()
    assert curves["name"].tolist() == ["cosine", "linear"]
    assert curves["definition"].tolist()[0] == {"kind": "cosine", "start": 0.5, "end": 0.0}
    store.delete_curve("cosine")
    with pytest.raises(KeyError, match="unknown curve 'cosine'; saved curves: linear"):
        store.load_curve("cosine")
    with pytest.raises(KeyError, match="unknown curve 'nope'"):
        store.delete_curve("nope")


def test_home_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTCOOL_HOME", str(tmp_path / "from-env"))
    store = Store()
    assert store.home == tmp_path / "from-env"
    store.create_run({}, name="x")
    assert (tmp_path / "from-env" / "catalog.duckdb").exists()


def test_add_tags_appends_in_order_without_duplicates(tmp_path):
    store = Store(tmp_path)
    rid = store.create_run({"model": "m"}, name="r", tags=["a"])
    assert store.add_tags(rid, ["b", "a", "c"]) == ["a", "b", "c"]
    assert store.get_run(rid)["tags"] == ["a", "b", "c"]
    assert list(store.list_runs(tag="c")["id"]) == [rid]
    with pytest.raises(KeyError):
        store.add_tags("nope0000", ["x"])
