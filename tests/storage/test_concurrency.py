"""Several processes share one store: no lock error reaches anyone, no row is lost or doubled."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time

import numpy as np
import pytest

from storage import LockTimeout, Store
from storage.connection import connect

from .processes import child_result, spawn_child, wait_for_line
from .workers import write_run_into


def run_writers_and_reader(store: Store, seconds: float, rate: float, writers: int = 3) -> dict:
    """Writer processes log while this thread polls every 0.5 s, checking every poll.

    Returns the per-row lags (seconds from ``log_step`` to the first poll that saw the row),
    the writers' reports, the number of polls that saw rows while the writers were still
    writing, and any exception the reader met.
    """
    run_ids = [
        store.create_run({"model": "tiny", "index": i}, name=f"writer{i}") for i in range(writers)
    ]
    seen = dict.fromkeys(run_ids, 0)
    lags: list[float] = []
    errors: list[str] = []
    polls = 0

    def poll() -> None:
        store.list_runs()
        for run_id in run_ids:
            steps = store.steps(run_id)
            now = time.time()
            # Whole flushes in logging order: always a gap-free, duplicate-free prefix.
            assert np.array_equal(steps["step"].to_numpy(), np.arange(len(steps))), run_id
            assert len(steps) >= seen[run_id]
            lags.extend(now - steps["wall_time"].to_numpy()[seen[run_id] :])
            seen[run_id] = len(steps)

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    processes = [
        ctx.Process(target=write_run_into, args=(results, str(store.home), run_id, seconds, rate))
        for run_id in run_ids
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + seconds + 120  # a crashed or stuck writer fails the test
    while any(process.is_alive() for process in processes) and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            poll()
            polls += sum(seen.values()) > 0  # a poll that read while the writers wrote
        except Exception as exc:  # counted, and asserted to be absent, by the caller
            errors.append(repr(exc))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
    for process in processes:
        process.join(timeout=30)  # small reports: the queue's pipe never blocks the exit
    exitcodes = [process.exitcode for process in processes]
    assert exitcodes == [0] * writers, f"writer processes ended with {exitcodes}"
    reports = [results.get(timeout=10) for _ in processes]
    poll()  # the rows of the writers' final flushes
    return {"lags": np.array(lags), "reports": reports, "polls": polls, "errors": errors}


def check_complete(store: Store, reports: list[dict]) -> None:
    for report in reports:
        run_id, n = report["run_id"], report["steps"]
        steps = store.steps(run_id)
        assert steps["step"].tolist() == list(range(n))
        assert steps["loss"].to_numpy() == pytest.approx(1.0 / (np.arange(n) + 1))
        names, matrix_steps, temps = store.site_matrix(run_id)
        assert names == [f"site{i}" for i in range(8)]
        assert matrix_steps.tolist() == list(range(n))
        expected = np.linspace(0, 1, 8)[:, None] + np.arange(n)[None, :]  # (sites, steps)
        assert temps == pytest.approx(expected)
        evaluations = store.evaluations(run_id)
        assert evaluations["step"].tolist() == list(range(0, n, 25))
        run = store.get_run(run_id)
        assert run["status"] == "finished" and run["summary"] == {"total_steps": n}


def test_three_writer_processes_and_a_polling_reader(store):
    result = run_writers_and_reader(store, seconds=4.0, rate=100)
    assert result["errors"] == []
    assert result["polls"] >= 1, "the reader never read while the writers were writing"
    check_complete(store, result["reports"])
    assert len(result["lags"]) == sum(r["steps"] for r in result["reports"])
    # How fast rows become readable is a timing goal: benchmarks/storage_bench.py measures it.


@pytest.mark.slow
def test_three_writer_processes_for_a_minute(store):
    result = run_writers_and_reader(store, seconds=60.0, rate=200)
    assert result["errors"] == []
    check_complete(store, result["reports"])
    assert np.percentile(result["lags"], 95) <= 3.0


def test_a_reader_hammering_the_run_file_never_sees_a_lock_error(store):
    run_id = store.create_run({}, name="hammered")
    reader = spawn_child("hammer", store.home, run_id, 3.0)
    wait_for_line(reader, "start")
    n = 0
    with store.writer(run_id, flush_interval=0.1, heartbeat_interval=0.2) as writer:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            writer.log_step(n, 0, 0.1, 1.0, None)
            n += 1
            time.sleep(0.001)
    report = child_result(reader)
    assert report["n_errors"] == 0, report["errors"]
    assert report["reads"] >= 1
    assert store.steps(run_id)["step"].tolist() == list(range(n))


def test_a_file_left_attached_by_an_interrupted_block_is_adopted(tmp_path):
    """A signal between ATTACH and its bookkeeping must not make the file unusable."""
    path = tmp_path / "orphan.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE t AS SELECT 7 AS x")
    with connect(tmp_path / "other.duckdb") as con:  # the hub exists; attach behind its back
        con.execute(f"ATTACH '{os.path.realpath(path)}' AS stray")
    with connect(path) as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(7,)]
    holder = spawn_child("hold", path, 0.1)  # and the file was released afterwards
    wait_for_line(holder, "held", timeout=30)
    assert holder.wait(timeout=30) == 0


def test_a_lock_held_past_the_timeout_raises_lock_timeout(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = spawn_child("hold", path, "stdin")  # holds the file until told to let go
    wait_for_line(holder, "held")
    with pytest.raises(LockTimeout, match=r"held\.duckdb.*locked by another process"):
        with connect(path, timeout=0.3):
            pass
    holder.stdin.close()
    with connect(path, timeout=60.0) as con:  # waits for the holder to let go
        assert con.execute("SELECT 42").fetchall() == [(42,)]
    assert holder.wait(timeout=30) == 0


def test_threads_of_one_process_share_the_files(store):
    """Dashboard sessions are threads: they read while this process's writers flush."""
    run_ids = [store.create_run({}, name=f"thread{i}") for i in range(2)]
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                store.list_runs()
                for run_id in run_ids:
                    steps = store.steps(run_id, max_points=100)
                    assert len(steps) <= 100
                    store.site_matrix(run_id, max_steps=50)
                store.heartbeat(run_ids[0])
            except Exception as exc:
                errors.append(repr(exc))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    writers = [
        store.writer(run_id, flush_interval=0.05, heartbeat_interval=0.05) for run_id in run_ids
    ]
    for step in range(3000):
        for writer in writers:
            writer.log_step(step, 0, 0.1, 1.0)
            writer.log_sites(step, ["a", "b"], [1, 2], 4, [0.1, 0.2])
        if step % 100 == 0:
            time.sleep(0.02)
    for writer in writers:
        writer.close()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    for run_id in run_ids:
        assert store.steps(run_id)["step"].tolist() == list(range(3000))
        assert store.site_matrix(run_id)[2].shape == (2, 3000)
