"""Functions run in multiprocessing workers (spawned, so they must be importable)."""

from __future__ import annotations

import faulthandler
import time

import numpy as np

from storage import Store


def write_run(home: str, run_id: str, seconds: float, steps_per_second: float) -> dict:
    """Log steps (8 sites each, an evaluation every 25 steps) at a steady pace; heartbeat the
    catalog once a second on top of the writer's own heartbeats. Returns what was logged."""
    store = Store(home)
    sites = [f"site{i}" for i in range(8)]
    step = 0
    start = time.monotonic()
    with store.writer(run_id, flush_interval=1.0, heartbeat_interval=1.0) as writer:
        next_beat = start + 1.0
        while time.monotonic() - start < seconds:
            writer.log_step(step, step // 100, 0.01 * (1 + step % 7), 1.0 / (step + 1), 0.5, 0.4)
            writer.log_sites(step, sites, list(range(8)), 64, np.linspace(0, 1, 8) + step)
            if step % 25 == 0:
                writer.log_eval(step, step // 100, train_loss=1.0, val_error=step / 1e4)
            step += 1
            if time.monotonic() >= next_beat:
                store.heartbeat(run_id)
                next_beat += 1.0
            time.sleep(1.0 / steps_per_second)
    store.update_run(run_id, status="finished", summary={"total_steps": step})
    return {"run_id": run_id, "steps": step, "evaluations": (step + 24) // 25}


def write_run_into(results, home: str, run_id: str, seconds: float, steps_per_second: float):
    """:func:`write_run`, reporting into a multiprocessing queue (for Process targets).

    A writer still busy a minute after it should have finished prints every thread's stack
    and exits, so a hang shows where it is instead of stalling the test.
    """
    faulthandler.dump_traceback_later(seconds + 60, exit=True)
    results.put(write_run(home, run_id, seconds, steps_per_second))


def claim_all_into(results, home: str, worker: str) -> None:
    """Claim queued runs until the queue is empty; report ``(worker, ids)`` into ``results``."""
    faulthandler.dump_traceback_later(60, exit=True)
    store = Store(home)
    claimed = []
    while (run := store.claim_next_queued(worker)) is not None:
        assert run["worker"] == worker and run["status"] == "running"
        claimed.append(run["id"])
    results.put((worker, claimed))
