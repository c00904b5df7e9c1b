"""Benchmark of the Ray backend: time to the first row, and what the writer actor sustains.

Run ``python benchmarks/ray_throughput.py [--quick]`` (needs ``pip install -e ".[ray]"``); it
prints one JSON line per figure (``{"figure", "value", "unit", "goal", "ok"}``), like
``benchmarks/storage_bench.py``. ``main(quick)`` returns the same list.

Figures:
    * seconds from queueing a run to its first row in the store, for a local worker
      (``python -m trainer worker``, one child process per run) and for a Ray worker on a
      local Ray instance; both workers are started and idle before the run is queued, the
      run is digits under a constant rate (so the figure is the backend's, not ActCoolLR's
      step-0 scan). The first Ray run pays for starting a Ray worker process that imports
      torch; later ones reuse it, so both are reported;
    * rows/s the writer actor (:class:`storage.remote.StoreService`) commits while 4 runs,
      each a Ray task, send it flushes as a RemoteWriter does (one flush in flight per run;
      a flush of ``--flush-steps`` steps of 1 step row + 56 site rows); goal >= 50 000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from storage import Store  # noqa: E402
from storage.schema import arrow_schema, column_names  # noqa: E402
from storage.status import LIVE  # noqa: E402

THROUGHPUT_GOAL = 50_000.0  # rows/s
SITES = 56  # sites per measured step, as in storage_bench


def figure(name: str, value: float, unit: str, goal: str, ok: bool | None) -> dict:
    return {
        "figure": name,
        "value": round(float(value), 3),
        "unit": unit,
        "goal": goal,
        "ok": None if ok is None else bool(ok),
    }


def _queue_one(store: Store) -> str:
    from trainer.config import RunConfig
    from trainer.worker import submit

    return submit(RunConfig(schedule="constant", epochs=1, max_steps=30, batch_size=64), store)


def _time_to_first_row(store: Store, timeout: float = 300.0) -> tuple[str, float]:
    queued = time.monotonic()
    run_id = _queue_one(store)
    while len(store.steps(run_id)) == 0:
        if time.monotonic() - queued > timeout:
            raise TimeoutError(f"run {run_id}: no row after {timeout:.0f} s")
        time.sleep(0.02)
    return run_id, time.monotonic() - queued


def _wait_finished(store: Store, run_id: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while store.get_run(run_id)["status"] in LIVE:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} did not finish in {timeout:.0f} s")
        time.sleep(0.1)


# ---------------------------------------------------------------------- first row
def bench_local_first_row(repeats: int) -> list[float]:
    """Queue-to-first-row of a local worker (subprocess), ``repeats`` runs one after another."""
    from trainer.worker import worker_pid

    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        env = {**os.environ, "ACTCOOL_HOME": home, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "trainer", "worker", "--parallel", "1"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while worker_pid(store) != proc.pid:
                time.sleep(0.05)
            times = _first_rows(store, repeats)
        finally:
            proc.terminate()
            proc.wait(60)
    return times


def _first_rows(store: Store, repeats: int) -> list[float]:
    """Queue-to-first-row seconds of ``repeats`` runs in turn, each waited for to the end."""
    times = []
    for _ in range(repeats):
        run_id, seconds = _time_to_first_row(store)
        times.append(seconds)
        _wait_finished(store, run_id)
    return times


def bench_ray_first_row(repeats: int) -> list[float]:
    """Queue-to-first-row of a Ray worker (a thread here, on this process's Ray instance)."""
    from trainer.ray_backend import run_ray_worker
    from trainer.worker import worker_pid

    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        stop = threading.Event()
        thread = threading.Thread(
            target=run_ray_worker, daemon=True, kwargs={"store": store, "parallel": 1, "stop": stop}
        )
        thread.start()
        try:
            while worker_pid(store) is None:
                time.sleep(0.05)
            time.sleep(1.0)  # the worker is idle, polling the queue
            times = _first_rows(store, repeats)
        finally:
            stop.set()
            thread.join(120)
    return times


# ---------------------------------------------------------------------- actor throughput
def _flush_tables(steps: int, first_step: int) -> dict[str, pa.Table]:
    """One flush as a RemoteWriter sends it: ``steps`` step rows and ``steps * SITES`` site rows."""
    step = np.arange(first_step, first_step + steps, dtype=np.int64)
    step_cols = {
        "step": step,
        "epoch": step / 100.0,
        "lr": np.full(steps, 0.1),
        "loss": np.linspace(2, 1, steps),
        "mean_temperature": np.full(steps, 1.5),
        "target_temperature": np.full(steps, 1.4),
        "wall_time": np.full(steps, time.time()),
    }
    n = steps * SITES
    site_cols: dict[str, object] = {
        "step": np.repeat(step, SITES),
        "site_index": np.tile(np.arange(SITES, dtype=np.int32), steps),
        "site_name": np.tile(
            np.array([f"layer{i}.relu" for i in range(SITES)], dtype=object), steps
        ),
        "changed": np.full(n, 3, np.int64),
        "batch_size": np.full(n, 128, np.int64),
        "temperature": np.full(n, 1.25),
        "total": np.full(n, 128, np.int64),
        "flipped_bits": np.full(n, 9, np.int64),
        "total_bits": np.full(n, 8192, np.int64),
    }
    tables = {}
    for table, cols in (("steps", step_cols), ("site_temperatures", site_cols)):
        schema = arrow_schema(table)
        names = column_names(table)[1:]
        tables[table] = pa.Table.from_arrays(
            [
                pa.array(cols[c], type=schema.field(c).type)
                if c in cols
                else pa.nulls(len(cols["step"]), schema.field(c).type)
                for c in names
            ],
            names=names,
        )
    return tables


def bench_actor_throughput(runs: int, flushes: int, flush_steps: int) -> tuple[float, float, int]:
    """``runs`` Ray tasks send ``flushes`` flushes each to one StoreService actor; returns
    (rows/s committed, median seconds per flush round trip, rows)."""
    import ray

    from trainer.ray_backend import remote_store, start_service

    @ray.remote(num_cpus=0.5)
    def producer(service, home: str, run_id: str, flushes: int, steps: int) -> list[float]:
        store = remote_store(service, home)
        batches = [_flush_tables(steps, i * steps) for i in range(flushes)]  # built before timing
        ray.get(service.written.remote())
        latencies = []
        for tables in batches:
            start = time.perf_counter()
            store.write_batches(run_id, tables)
            latencies.append(time.perf_counter() - start)
        return latencies

    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        run_ids = [store.create_run({}, name=f"throughput {i}") for i in range(runs)]
        service = start_service(store)
        start = time.perf_counter()
        latencies = ray.get(
            [producer.remote(service, home, r, flushes, flush_steps) for r in run_ids]
        )
        elapsed = time.perf_counter() - start
        rows = ray.get(service.written.remote())
        counts = [len(store.steps(r)) for r in run_ids]
        ray.kill(service)
    if counts != [flushes * flush_steps] * runs:
        raise RuntimeError(f"rows missing: {counts}")
    return rows / elapsed, float(np.median(np.concatenate(latencies))), rows


class _Results(list):
    """The figures, each printed as a JSON line when it is added (``echo``)."""

    def __init__(self, echo: bool):
        super().__init__()
        self.echo = echo

    def append(self, row: dict) -> None:
        super().append(row)
        if self.echo:
            print(json.dumps(row), flush=True)


def main(quick: bool = False, flush_steps: int = 200, echo: bool = False) -> list[dict]:
    import ray

    repeats = 2 if quick else 3
    results = _Results(echo)
    local = bench_local_first_row(repeats)
    results.append(figure("local worker: queue to first row, first run", local[0], "s", "", None))
    results.append(
        figure(
            "local worker: queue to first row, later runs (median)",
            float(np.median(local[1:])),
            "s",
            "",
            None,
        )
    )
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")  # a busy machine starts slowly
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    try:
        remote = bench_ray_first_row(repeats)
        results.append(
            figure(
                "Ray worker: queue to first row, first run (cold Ray worker)",
                remote[0],
                "s",
                "",
                None,
            )
        )
        results.append(
            figure(
                "Ray worker: queue to first row, later runs (median)",
                float(np.median(remote[1:])),
                "s",
                "",
                None,
            )
        )
        rate, latency, rows = bench_actor_throughput(4, 10 if quick else 30, flush_steps)
        results.append(
            figure(
                f"writer actor: rows/s with 4 runs ({rows} rows, flushes of "
                f"{flush_steps * (SITES + 1)} rows)",
                rate,
                "rows/s",
                f">= {THROUGHPUT_GOAL:.0f}",
                rate >= THROUGHPUT_GOAL,
            )
        )
        results.append(
            figure("writer actor: flush round trip (median)", latency * 1000, "ms", "", None)
        )
    finally:
        ray.shutdown()
    return list(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and flushes")
    parser.add_argument(
        "--flush-steps",
        type=int,
        default=200,
        help="steps per flush in the throughput figure (each 1 + 56 rows)",
    )
    args = parser.parse_args()
    main(args.quick, args.flush_steps, echo=True)
