"""Child processes for the durability and locking tests: ``python -m tests.storage.child MODE ...``.

Modes:
    sigterm HOME RUN N HOW   log N steps (8 sites each), print "ready", sleep until killed;
                             HOW = "with" (writer in a with block) or "atexit" (never closed)
    exit HOME RUN N          log N steps and return without closing the writer
    stream HOME RUN          log steps with 56 sites as fast as training would, forever
    hammer HOME RUN SECONDS  read the run and the catalog in a tight loop; print a JSON report
    hold PATH SECONDS        hold the lock on a database file, print "held", then release
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from storage import Store
from storage.connection import connect

SITES = [f"site{i}" for i in range(8)]


def log_steps(writer, n: int, sites: list[str]) -> None:
    for step in range(n):
        writer.log_step(step, step // 100, 0.1, 1.0 / (step + 1), 0.5)
        writer.log_sites(step, sites, list(range(len(sites))), 32, np.full(len(sites), step / 1e4))


def main(mode: str, *args: str) -> None:
    if mode == "sigterm":
        home, run_id, n, how = args
        store = Store(home)
        if how == "with":
            with store.writer(run_id, flush_interval=2.0) as writer:
                log_steps(writer, int(n), SITES)
                print("ready", flush=True)
                while True:
                    time.sleep(0.05)
        writer = store.writer(run_id, flush_interval=2.0)
        log_steps(writer, int(n), SITES)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
    elif mode == "exit":
        home, run_id, n = args
        writer = Store(home).writer(run_id, flush_interval=2.0)
        log_steps(writer, int(n), SITES)
    elif mode == "stream":
        home, run_id = args
        sites = [f"site{i}" for i in range(56)]
        writer = Store(home).writer(run_id, flush_interval=0.5)
        print("ready", flush=True)
        step = 0
        while True:  # about 2000 steps/s of 57 rows: flushes of ~50k rows, a wide kill window
            writer.log_step(step, 0, 0.1, 1.0, 0.5)
            writer.log_sites(step, sites, list(range(56)), 32, np.full(56, 0.25))
            step += 1
            if step % 20 == 0:
                time.sleep(0.01)
    elif mode == "hammer":
        home, run_id, seconds = args
        store = Store(home)
        reads, errors = 0, []
        print("start", flush=True)
        end = time.monotonic() + float(seconds)
        while time.monotonic() < end:
            try:
                store.steps(run_id)
                store.list_runs()
                reads += 1
            except Exception as exc:  # the test asserts there are none
                errors.append(repr(exc))
        print(
            json.dumps({"reads": reads, "errors": errors[:5], "n_errors": len(errors)}), flush=True
        )
    elif mode == "hold":  # SECONDS, or "stdin": until the parent closes our stdin
        path, seconds = args
        with connect(path):
            print("held", flush=True)
            if seconds == "stdin":
                sys.stdin.read()
            else:
                time.sleep(float(seconds))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
