"""The CLI as a new user meets it: the run id up front, no dry-run litter, quiet pipes,
hints that name commands, delete, one-file exports that never overwrite, live step counts,
and resume through the queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from storage import Store
from trainer import worker
from trainer.checkpoint import checkpoint_path
from trainer.cli import main

from .conftest import REPO, cli, popen


def finished_run(store: Store, steps: int = 3) -> str:
    run_id = store.create_run({"model": "convnet4", "total_steps": steps}, name="done")
    with store.writer(run_id) as writer:
        for step in range(steps):
            writer.log_step(step, epoch=0, lr=0.1, loss=1.0)
    store.update_run(run_id, status="finished", summary={"steps": steps, "total_steps": steps})
    return run_id


def test_unknown_run_hint_names_the_list_command(tmp_path, capsys):
    Store(tmp_path).created_at()  # a store without that run (no store: see test_cli_newuser)
    assert main(["--home", str(tmp_path), "stop", "abcdef12"]) == 2
    err = capsys.readouterr().err
    assert "unknown run id 'abcdef12'" in err and "see: python -m trainer list" in err
    assert "list_runs()" not in err


def test_list_into_a_closed_pipe_ends_quietly(tmp_path):
    finished_run(Store(tmp_path))
    env = {**os.environ, "ACTCOOL_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    proc.stdout.close()  # like `| head -0`: the reader is gone before the first line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert stderr == ""


def test_list_shows_the_live_step_of_a_running_run(tmp_path, capsys):
    store = Store(tmp_path)
    run_id = store.create_run({"model": "convnet4", "max_steps": 100}, name="live")
    with store.writer(run_id) as writer:
        for step in range(7):
            writer.log_step(step, epoch=0, lr=0.1, loss=1.0)
    store.update_run(run_id, summary={"total_steps": 100})  # steps are set when it ends
    assert main(["--home", str(tmp_path), "list"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if run_id in row]
    assert "running" in line and "7/100" in line


def test_delete_removes_runs_with_checkpoints_and_refuses_a_running_one(tmp_path, capsys):
    store = Store(tmp_path)
    done = finished_run(store)
    checkpoint = checkpoint_path(tmp_path, done)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    running = store.create_run({"model": "convnet4"}, name="busy")
    assert main(["--home", str(tmp_path), "delete", done]) == 0
    assert f"deleted run {done}" in capsys.readouterr().out
    assert store.list_runs()["id"].tolist() == [running]
    assert not checkpoint.parent.exists() and not store.run_path(done).exists()
    assert main(["--home", str(tmp_path), "delete", running]) == 2
    err = capsys.readouterr().err
    assert f"run {running} is running; stop it first (python -m trainer stop {running})" in err
    assert store.list_runs()["id"].tolist() == [running]


def test_export_writes_one_parquet_file_and_keeps_an_existing_one(tmp_path, capsys):
    store = Store(tmp_path)
    run_id = finished_run(store)
    out = tmp_path / "run.parquet"
    assert main(["--home", str(tmp_path), "export", run_id, "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert frame[frame["kind"] == "steps"]["step"].tolist() == [0, 1, 2]
    before = out.read_bytes()
    assert main(["--home", str(tmp_path), "export", run_id, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "run.parquet already exists" in err and err.rstrip().endswith("(--force)")
    assert out.read_bytes() == before
    assert main(["--home", str(tmp_path), "export", run_id, "--out", str(out), "--force"]) == 0


def test_resume_goes_through_the_queue(tmp_path, monkeypatch):
    store = Store(tmp_path)
    run_id = store.create_run({"model": "convnet4"}, name="paused")
    store.update_run(run_id, status="stopped")
    ensured = []
    monkeypatch.setattr(worker, "ensure_worker", lambda s, parallel=1: ensured.append(1) or 7)
    with pytest.raises(ValueError, match=f"run {run_id} \\(stopped\\) has no checkpoint"):
        worker.resume(store, run_id)
    checkpoint_path(tmp_path, run_id).parent.mkdir(parents=True)
    checkpoint_path(tmp_path, run_id).write_bytes(b"weights")
    assert worker.resume(store, run_id) == 7 and ensured == [1]
    assert store.get_run(run_id)["status"] == "queued"  # not 'stopped' until a process starts
    assert store.claim_next_queued("w")["id"] == run_id  # a worker takes it like any run
    store.update_run(run_id, status="finished")
    with pytest.raises(ValueError, match="is finished; only stopped, lost, failed runs resume"):
        worker.resume(store, run_id)


@pytest.mark.e2e
def test_run_prints_its_id_first_and_a_dry_run_leaves_nothing(tmp_path):
    r = cli(
        "run", "--dataset", "digits", "--epochs", "1", "--max-steps", "3", "--quiet", home=tmp_path
    )
    assert r.returncode == 0, r.stderr
    (run_id,) = Store(tmp_path).list_runs()["id"].tolist()
    assert r.stdout.splitlines()[0].startswith(f"run {run_id}: training")
    r = cli("run", "--dry-run", "--quiet", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dry run finished (5 steps on synthetic data); nothing was recorded" in r.stdout
    assert Store(tmp_path).list_runs()["id"].tolist() == [run_id]


@pytest.mark.e2e
def test_a_resumed_run_continues_under_the_worker(tmp_path):
    store = Store(tmp_path)
    # 40 epochs of 23 steps: the stop lands after the first epoch's checkpoint (resume needs
    # one) and long before the end, however busy the machine
    proc = popen("run", "--epochs", "40", "--batch-size", "64", "--quiet", home=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (
            len(store.list_runs())
            and checkpoint_path(tmp_path, run_id := store.list_runs()["id"][0]).exists()
        ):
            assert time.monotonic() < deadline, "the run wrote no checkpoint"
            time.sleep(0.05)
        store.request_stop(run_id)
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    assert store.get_run(run_id)["status"] == "stopped"
    store.requeue(run_id)  # what the Runs page's Resume does (then it makes sure of a worker)
    r = cli("worker", "--idle-exit", "1", home=tmp_path, timeout=900)  # a guard against a hang
    assert r.returncode == 0, r.stdout + r.stderr
    run = store.get_run(run_id)
    assert run["status"] == "finished", run["error"]
    total = run["summary"]["total_steps"]
    assert store.steps(run_id)["step"].tolist() == list(range(total))  # continued, not restarted


def test_queueing_a_run_whose_dataset_is_missing_is_refused_at_once(tmp_path, capsys):
    args = [
        "--home",
        str(tmp_path),
        "run",
        "--queue",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        str(tmp_path / "nowhere"),
        "--no-download",
    ]
    assert main(args) == 2
    assert f"data folder {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    assert Store(tmp_path).list_runs().empty


def test_taking_a_resumed_run_out_of_the_queue_keeps_it(tmp_path, capsys):
    store = Store(tmp_path)
    run_id = finished_run(store)
    store.update_run(run_id, status="stopped")
    store.requeue(run_id)
    assert main(["--home", str(tmp_path), "stop", run_id]) == 0
    run = store.get_run(run_id)
    assert run["status"] == "stopped" and len(store.steps(run_id)) == 3  # not deleted
    fresh = store.create_run({"model": "convnet4"}, name="never ran", status="queued")
    store.remove_queued(fresh)
    assert fresh not in store.list_runs()["id"].tolist()
