"""Benchmark of the storage package: write throughput, live lag, dashboard query times.

Run ``python benchmarks/storage_bench.py [--quick]``; it prints one JSON line per figure
(``{"figure", "value", "unit", "goal", "ok"}``). ``main(quick)`` returns the same list.

Figures:
    * rows/s written through RunWriter (log_step + log_sites with 56 sites per step), and
      the time the training loop spends per logged step;
    * write-to-readable lag p50 / p95 with three writer processes and a reader polling
      every 0.5 s (goal p95 <= 3 s);
    * time of each dashboard query on one run with 100k steps and 56 sites (built with bulk
      inserts), goal <= 200 ms each.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import Store  # noqa: E402

SITES = [f"layer{i}.relu" for i in range(56)]
QUERY_GOAL_MS = 200.0
LAG_GOAL_S = 3.0


def figure(name: str, value: float, unit: str, goal: str, ok: bool | None) -> dict:
    return {
        "figure": name,
        "value": round(float(value), 3),
        "unit": unit,
        "goal": goal,
        "ok": None if ok is None else bool(ok),
    }


# ---------------------------------------------------------------------- throughput
def bench_writer(store: Store, steps: int) -> list[dict]:
    """Log ``steps`` steps of 1 + 56 rows as fast as possible; time until all are saved."""
    run_id = store.create_run({}, name="throughput")
    changed = np.arange(56)
    temps = np.linspace(0.1, 0.9, 56)
    started = time.perf_counter()
    with store.writer(run_id) as writer:
        for step in range(steps):
            writer.log_step(step, step // 1000, 0.1, 1.0 / (step + 1), 0.5, 0.5)
            writer.log_sites(step, SITES, changed, 128, temps)
        logged = time.perf_counter()
    saved = time.perf_counter()
    rows = steps * (1 + len(SITES))
    assert len(store.steps(run_id)) == steps
    per_step_us = (logged - started) / steps * 1e6
    return [
        figure(
            "RunWriter rows/s (log_step + 56-site log_sites, until saved)",
            rows / (saved - started),
            "rows/s",
            ">= 100000",
            rows / (saved - started) >= 100_000,
        ),
        figure(
            "training-loop time per logged step (log_step + log_sites)",
            per_step_us,
            "us",
            "<= 200",
            per_step_us <= 200,
        ),
    ]


# ---------------------------------------------------------------------- live lag
def _write_run(home: str, run_id: str, seconds: float, steps_per_second: float) -> int:
    store = Store(home)
    changed = np.arange(56)
    step = 0
    start = time.monotonic()
    with store.writer(run_id) as writer:
        while time.monotonic() - start < seconds:
            writer.log_step(step, step // 1000, 0.1, 1.0 / (step + 1), 0.5, 0.5)
            writer.log_sites(step, SITES, changed, 128, np.full(56, step * 1e-4))
            step += 1
            time.sleep(1.0 / steps_per_second)
    store.update_run(run_id, status="finished")
    return step


def bench_lag(store: Store, seconds: float) -> list[dict]:
    """Three writer processes at 100 steps/s (57 rows each) and this process polling."""
    run_ids = [store.create_run({}, name=f"lag{i}") for i in range(3)]
    seen = dict.fromkeys(run_ids, 0)
    lags: list[float] = []
    poll_ms: list[float] = []

    def poll() -> None:
        started = time.perf_counter()
        store.list_runs()
        for run_id in run_ids:
            wall = store.steps(run_id)["wall_time"].to_numpy()
            now = time.time()
            lags.extend(now - wall[seen[run_id] :])
            seen[run_id] = len(wall)
        poll_ms.append((time.perf_counter() - started) * 1e3)

    with mp.get_context("spawn").Pool(3) as pool:
        jobs = [
            pool.apply_async(_write_run, (str(store.home), run_id, seconds, 100.0))
            for run_id in run_ids
        ]
        while not all(job.ready() for job in jobs):
            started = time.monotonic()
            poll()
            time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
        written = sum(job.get() for job in jobs)
        # Let the workers exit on their own: the context's terminate() would SIGTERM them, and a
        # worker that flushes a store on SIGTERM can then outlive the pool and block our exit.
        pool.close()
        pool.join()
    poll()
    assert len(lags) == written, (len(lags), written)
    p50, p95 = np.percentile(lags, [50, 95])
    return [
        figure(
            "write-to-readable lag p50 (3 writer processes, reader polling every 0.5 s)",
            p50,
            "s",
            "informational",
            None,
        ),
        figure(
            "write-to-readable lag p95 (3 writer processes, reader polling every 0.5 s)",
            p95,
            "s",
            f"<= {LAG_GOAL_S:g}",
            p95 <= LAG_GOAL_S,
        ),
        figure(
            "reader poll time (list_runs + 3 x steps)",
            float(np.median(poll_ms)),
            "ms",
            "informational",
            None,
        ),
    ]


# ---------------------------------------------------------------------- dashboard queries
def build_big_run(
    store: Store, steps: int = 100_000, scan_every: int = 1000, rates: int = 32
) -> tuple[str, float]:
    """One run with ``steps`` steps, 56 sites every step, scans/fits every ``scan_every``
    steps and evaluations every 500 steps, written with bulk inserts. Returns (id, seconds)."""
    started = time.perf_counter()
    run_id = store.create_run({"model": "resnet56", "total_steps": steps}, name="big")
    rng = np.random.default_rng(0)
    step = np.arange(steps)
    store.append_rows(
        run_id,
        "steps",
        pd.DataFrame(
            {
                "step": step,
                "epoch": step // 390,
                "lr": 0.1 * np.cos(step / steps * np.pi / 2),
                "loss": 2.3 * np.exp(-step / 2e4) + rng.random(steps) * 0.1,
                "mean_temperature": 0.5 * np.exp(-step / 3e4),
                "target_temperature": 0.5 * (1 - step / steps),
            }
        ),
    )
    n = len(SITES)
    chunk = 20_000  # steps per insert, to bound memory
    for first in range(0, steps, chunk):
        block = step[first : first + chunk]
        store.append_rows(
            run_id,
            "site_temperatures",
            pd.DataFrame(
                {
                    "step": np.repeat(block, n),
                    "site_index": np.tile(np.arange(n, dtype=np.int32), len(block)),
                    "site_name": np.tile(np.array(SITES, dtype=object), len(block)),
                    "changed": 5,
                    "batch_size": 128,
                    "temperature": rng.random(len(block) * n),
                }
            ),
        )
    scan_steps = step[::scan_every]
    grid = np.logspace(-4, 1, rates)
    site_col = np.concatenate(
        [np.full(rates, "mean", object), np.repeat(np.array(SITES, object), rates)]
    )
    index_col = np.concatenate([np.full(rates, -1), np.repeat(np.arange(n), rates)])
    per_scan = (n + 1) * rates
    store.append_rows(
        run_id,
        "lr_scans",
        pd.DataFrame(
            {
                "step": np.repeat(scan_steps, per_scan),
                "epoch": np.repeat(scan_steps // 390, per_scan),
                "rate": np.tile(grid, (n + 1) * len(scan_steps)),
                "site": np.tile(site_col, len(scan_steps)),
                "site_index": pd.array(
                    np.where(
                        np.tile(index_col, len(scan_steps)) < 0,
                        None,
                        np.tile(index_col, len(scan_steps)),
                    ),
                    dtype="Int32",
                ),
                "probability": rng.random(per_scan * len(scan_steps)),
                "temperature": rng.random(per_scan * len(scan_steps)),
            }
        ),
    )
    store.append_rows(
        run_id,
        "fits",
        pd.DataFrame(
            {
                "step": np.repeat(scan_steps, n + 1),
                "site": np.tile(["mean", *SITES], len(scan_steps)),
                "mu": rng.normal(-2, 1, (n + 1) * len(scan_steps)),
                "sigma": 0.5,
                "rmse": 0.01,
                "n_informative": 20,
            }
        ),
    )
    eval_steps = step[::500]
    store.append_rows(
        run_id,
        "evaluations",
        pd.DataFrame(
            {
                "step": eval_steps,
                "epoch": eval_steps // 390,
                "train_loss": 1.0,
                "train_error": 0.3,
                "val_loss": 1.1,
                "val_error": 0.32,
                "test_error": None,
            }
        ),
    )
    store.update_run(run_id, status="finished")
    return run_id, time.perf_counter() - started


def bench_queries(store: Store, repeats: int, steps: int = 100_000) -> list[dict]:
    run_id, build_s = build_big_run(store, steps=steps)
    for i in range(49):  # a catalog of 50 runs for list_runs
        store.create_run({"model": "convnet4", "i": i}, name=f"other{i}", tags=["bench"])
    # (query, whether the 200 ms goal applies): a dashboard always passes a display limit;
    # the unlimited site matrix (5.6M values, 45 MB) is timed for information only.
    queries = {
        "steps(max_points=2000)": (lambda: store.steps(run_id, max_points=2000), True),
        "site_matrix(max_steps=2000)": (lambda: store.site_matrix(run_id, max_steps=2000), True),
        "site_matrix() unlimited: all 5.6M values": (lambda: store.site_matrix(run_id), False),
        "scans": (lambda: store.scans(run_id), True),
        "fits": (lambda: store.fits(run_id), True),
        "evaluations": (lambda: store.evaluations(run_id), True),
        "list_runs (50 runs)": (lambda: store.list_runs(), True),
    }
    figures = [
        figure(
            f"build {steps // 1000}k-step x 56-site run with bulk inserts",
            build_s,
            "s",
            "informational",
            None,
        )
    ]
    for name, (query, goal_applies) in queries.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            query()
            times.append((time.perf_counter() - started) * 1e3)
        ms = float(np.median(times))
        figures.append(
            figure(
                f"query {name} on a {steps // 1000}k-step x 56-site run (median of {repeats})",
                ms,
                "ms",
                f"<= {QUERY_GOAL_MS:g}" if goal_applies else "informational",
                ms <= QUERY_GOAL_MS if goal_applies else None,
            )
        )
    return figures


def main(quick: bool = False, smoke: bool = False) -> list[dict]:
    """Run every benchmark in fresh temporary stores and return the figures.

    ``smoke`` (CI) shrinks everything, the query run to 5k steps, to check the code path."""
    figures = []
    with tempfile.TemporaryDirectory(prefix="actcool-bench-") as tmp:
        figures += bench_writer(
            Store(Path(tmp) / "writer"), steps=1_000 if smoke else 5_000 if quick else 20_000
        )
        figures += bench_lag(
            Store(Path(tmp) / "lag"), seconds=3.0 if smoke else 5.0 if quick else 30.0
        )
        figures += bench_queries(
            Store(Path(tmp) / "queries"),
            repeats=1 if smoke else 3 if quick else 7,
            steps=5_000 if smoke else 100_000,
        )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer repeats")
    for result in main(parser.parse_args().quick):
        print(json.dumps(result), flush=True)
