"""The second new-user pass over the CLI and the worker (issue 25): runs recorded from
outside the trainer list what they recorded, a stopped queued run is kept and resumes,
reading commands create no store, a dashboard's worker exits when idle, and the internal
command and empty columns stay out of sight."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from storage import Store
from trainer import worker
from trainer.cli import build_parser, main

from .conftest import REPO, cli


def _row(out: str, run_id: str) -> str:
    (line,) = [row for row in out.splitlines() if row.startswith(run_id)]
    return line


def _steps_cell(line: str) -> str:
    """The steps column of a list row (right-aligned in 13 characters after the name)."""
    return line[11 + 10 + 35 : 11 + 10 + 35 + 13].strip()  # id, status, name, steps


# ---------------------------------------------------------------- item 4
def test_list_shows_what_a_run_recorded_from_outside_the_trainer_recorded(tmp_path, capsys):
    store = Store(tmp_path)
    run_id = store.create_run({"lr": 0.1}, name="my own loop")  # no trainer config, no summary
    with store.writer(run_id) as w:
        for step in range(1, 42):  # numbered from 1: the list says the last one, no count
            w.log_step(step, epoch=0, lr=0.1, loss=1.0)
        w.log_eval(20, epoch=0.5, test_error=9.0)
        w.log_eval(41, epoch=1, test_error=3.5)
    store.update_run(run_id, status="finished")
    silent = store.create_run({}, name="nothing recorded yet")
    store.update_run(silent, status="finished")
    assert main(["--home", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    line = _row(out, run_id)
    assert _steps_cell(line) == "step 41" and "3.50%" in line
    line = _row(out, silent)
    assert _steps_cell(line) == "–" and "%" not in line  # nothing known: nothing said


def test_list_counts_steps_against_a_recorded_total(tmp_path, capsys):
    store = Store(tmp_path)
    run_id = store.create_run({"total_steps": 100}, name="with a total")
    with store.writer(run_id) as w:
        for step in range(30):
            w.log_step(step, epoch=0, lr=0.1, loss=1.0)
    store.update_run(run_id, status="stopped")
    assert main(["--home", str(tmp_path), "list"]) == 0
    assert _steps_cell(_row(capsys.readouterr().out, run_id)) == "30/100"


# ---------------------------------------------------------------- item 5
def test_stopping_a_queued_run_keeps_it_to_resume_or_delete(tmp_path, capsys):
    store = Store(tmp_path)
    queued = store.create_run({"model": "convnet4"}, name="q", status="queued")
    assert main(["--home", str(tmp_path), "stop", queued]) == 0
    out = capsys.readouterr().out
    assert f"stopped queued run {queued} before it started" in out
    assert f"python -m trainer resume {queued}" in out
    run = store.get_run(queued)
    assert run["status"] == "stopped" and run["started_at"] is None
    assert store.steps(queued).empty  # nothing trained
    assert main(["--home", str(tmp_path), "resume", "--queue", queued]) == 0
    out = capsys.readouterr().out
    assert f"queued run {queued} to start; no worker serves {tmp_path}" in out
    assert store.get_run(queued)["status"] == "queued"
    assert store.claim_next_queued("w")["id"] == queued  # a worker takes it like any run
    store.update_run(queued, status="stopped")
    assert main(["--home", str(tmp_path), "delete", queued]) == 0
    assert store.list_runs().empty


def test_resume_refuses_a_run_that_trained_without_a_checkpoint(tmp_path, capsys):
    store = Store(tmp_path)
    run_id = store.create_run({"model": "convnet4"}, name="early end")  # started: running
    store.update_run(run_id, status="stopped")
    for args in (["resume", run_id], ["resume", "--queue", run_id]):
        assert main(["--home", str(tmp_path), *args]) == 2
        err = capsys.readouterr().err
        assert f"run {run_id} (stopped) has no checkpoint to resume from" in err
    assert store.get_run(run_id)["status"] == "stopped"


def test_the_dashboards_resume_starts_a_run_stopped_in_the_queue(tmp_path, monkeypatch):
    store = Store(tmp_path)
    run_id = store.create_run({"model": "convnet4"}, name="q", status="queued")
    store.request_stop(run_id)
    ensured = []
    monkeypatch.setattr(worker, "ensure_worker", lambda s, parallel=1: ensured.append(1) or 7)
    assert worker.resume(store, run_id) == 7 and ensured == [1]
    assert store.get_run(run_id)["status"] == "queued"


@pytest.mark.e2e
def test_a_run_stopped_in_the_queue_resumes_from_the_beginning(tmp_path):
    args = ["--dataset", "digits", "--epochs", "1", "--max-steps", "3", "--quiet"]
    r = cli("run", "--queue", *args, home=tmp_path)
    assert r.returncode == 0, r.stderr
    store = Store(tmp_path)
    (run_id,) = store.list_runs()["id"]
    assert cli("stop", run_id, home=tmp_path).returncode == 0
    r = cli("resume", run_id, "--quiet", home=tmp_path)
    assert r.returncode == 0, r.stderr
    run = store.get_run(run_id)
    assert run["status"] == "finished", run["error"]
    assert store.steps(run_id)["step"].tolist() == [0, 1, 2]


# ---------------------------------------------------------------- item 6
def test_reading_commands_create_no_store_and_name_the_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACTCOOL_HOME", raising=False)
    assert main(["list"]) == 0
    assert capsys.readouterr().out == "no runs in ./actcool-data (set ACTCOOL_HOME or --home)\n"
    elsewhere = tmp_path / "elsewhere"
    assert main(["--home", str(elsewhere), "list", "--status", "running"]) == 0
    assert f"no runs in {elsewhere} (set ACTCOOL_HOME or --home)" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a bad status is refused with or without a store
        main(["list", "--status", "done"])
    assert "argument --status: invalid choice: 'done'" in capsys.readouterr().err
    for args in (
        ["export", "abcdef12", "--out", str(tmp_path / "x.csv")],
        ["stop", "abcdef12"],
        ["resume", "abcdef12"],
        ["resume", "--queue", "abcdef12"],
        ["delete", "abcdef12"],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            "python -m trainer: error: unknown run id 'abcdef12': no runs in ./actcool-data "
            "(set ACTCOOL_HOME or --home)"
        ], args
    assert list(tmp_path.iterdir()) == []  # neither ./actcool-data nor the --home folder


def test_list_of_an_empty_store_names_it(tmp_path, capsys):
    Store(tmp_path / "home").created_at()  # a store's catalog, without runs
    assert main(["--home", str(tmp_path / "home"), "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"no runs in {tmp_path / 'home'} yet: start one with")


@pytest.mark.e2e
def test_a_dry_run_in_a_new_folder_leaves_no_store(tmp_path):
    r = cli("run", "--dry-run", "--quiet", home=tmp_path / "actcool-data")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "actcool-data").exists()


# ---------------------------------------------------------------- item 7
def test_the_dashboards_worker_idle_time_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(worker.IDLE_EXIT_ENV, raising=False)
    assert worker.dashboard_idle_exit() == worker.DEFAULT_IDLE_EXIT >= 60  # minutes, not s
    monkeypatch.setenv(worker.IDLE_EXIT_ENV, "2.5")
    assert worker.dashboard_idle_exit() == 2.5
    monkeypatch.setenv(worker.IDLE_EXIT_ENV, "soon")
    with pytest.raises(ValueError, match="ACTCOOL_WORKER_IDLE_EXIT='soon' is not a number"):
        worker.dashboard_idle_exit()


def test_an_idle_worker_gives_up_its_pidfile_only_with_an_empty_queue(tmp_path):
    store = Store(tmp_path)
    pidfile = tmp_path / "worker.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    queued = store.create_run({"model": "convnet4"}, name="q", status="queued")
    assert worker._give_up_pidfile(store) is False  # a run waits: serve on
    assert worker.worker_pid(store) == os.getpid()
    store.remove_queued(queued)
    assert worker._give_up_pidfile(store) is True
    assert not pidfile.exists() and worker.worker_pid(store) is None


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.e2e
def test_a_worker_the_dashboard_starts_trains_the_queue_then_exits_when_idle(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(worker.IDLE_EXIT_ENV, "1")  # what a user sets; the default is minutes
    store = Store(tmp_path)
    r = cli(
        "run", "--queue", "--dataset", "digits", "--epochs", "1", "--max-steps", "3", home=tmp_path
    )
    assert r.returncode == 0, r.stderr
    (run_id,) = store.list_runs()["id"]
    pid = worker.ensure_worker(store)  # what the dashboard calls after queueing
    _wait(lambda: not worker._alive(pid), 300, "the idle worker did not exit")
    run = store.get_run(run_id)
    assert run["status"] == "finished", run["error"]  # the queue first, then the exit
    log = (Path(tmp_path) / "worker.log").read_text()
    assert "exits after 1 s with nothing queued or running" in log.splitlines()[0]
    assert f"started run {run_id}" in log
    assert log.rstrip().endswith("worker: nothing queued or running for 1 s; exiting")
    assert worker.worker_pid(store) is None and not (tmp_path / "worker.pid").exists()


# ---------------------------------------------------------------- item 8
def test_the_internal_command_is_not_offered(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert "_execute" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["frobnicate"])
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "_execute" not in err
    assert build_parser().parse_args(["_execute", "ab12cd34"]).run_id == "ab12cd34"


def test_a_queued_run_lists_a_dash_for_its_steps(tmp_path, capsys):
    store = Store(tmp_path)
    queued = store.create_run({"model": "convnet4", "max_steps": 80}, name="q", status="queued")
    assert main(["--home", str(tmp_path), "list"]) == 0
    line = _row(capsys.readouterr().out, queued)
    assert _steps_cell(line) == "–" and "/" not in line
