"""The background worker: runs queued runs, each in its own process, until stopped.

``python -m trainer worker [--parallel N]``. The dashboard queues runs in the store and calls
:func:`ensure_worker` so that one worker is alive per store. Each run trains in a child
process (``python -m trainer _execute RUN_ID``) whose output goes to ``<home>/logs/RUN_ID.log``,
so a crash in one run never takes down the worker or the others.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from storage import Store
from storage.status import pid_alive

__all__ = ["ensure_worker", "resume_detached", "run_worker", "submit", "worker_pid"]

POLL_SECONDS = 1.0


def _pidfile(store: Store) -> Path:
    return Path(store.home) / "worker.pid"


def _alive(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def worker_pid(store: Store) -> int | None:
    """The pid of this store's live worker, or None."""
    try:
        pid = int(_pidfile(store).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def ensure_worker(store: Store, parallel: int = 1) -> int:
    """Start a detached worker for ``store`` unless one is alive; return its pid."""
    pid = worker_pid(store)
    if pid is not None:
        return pid
    Path(store.home).mkdir(parents=True, exist_ok=True)
    log = open(Path(store.home) / "worker.log", "ab")
    env = {**os.environ, "ACTCOOL_HOME": str(store.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", "worker", "--parallel", str(parallel)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, start_new_session=True, cwd=os.getcwd(),
    )
    for _ in range(50):  # wait until it has claimed the pidfile
        if worker_pid(store) == proc.pid:
            break
        time.sleep(0.1)
    return proc.pid


def resume_detached(store: Store, run_id: str) -> int:
    """Resume a stopped, lost or failed run in a detached process; return its pid.

    Output goes to ``<home>/logs/RUN_ID.log``. The run's status shows the outcome.
    """
    status = store.get_run(run_id)["status"]
    if status not in ("stopped", "lost", "failed"):
        raise ValueError(f"run {run_id} is {status}; only stopped, lost or failed runs resume")
    logs = Path(store.home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", "resume", run_id, "--quiet"],
        stdout=open(logs / f"{run_id}.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "ACTCOOL_HOME": str(store.home)}, start_new_session=True,
    )
    return proc.pid


def submit(config, store: Store) -> str:
    """Queue a run (validated and resolved now, trained by a worker later); return its id."""
    from .run import prepare_config

    config = prepare_config(config, store)
    return store.create_run(config.to_dict(), name=config.display_name, tags=config.tags, status="queued")


def run_worker(store: Store, parallel: int = 1, idle_exit: float | None = None) -> None:
    """Claim and train queued runs, ``parallel`` at a time, until SIGTERM/SIGINT.

    Args:
        idle_exit: exit after this many seconds with nothing queued or running (None: never).
    """
    if parallel < 1:
        raise ValueError(f"--parallel must be >= 1, got {parallel}")
    other = worker_pid(store)
    if other is not None and other != os.getpid():
        raise RuntimeError(f"a worker (pid {other}) is already running for {store.home}")
    Path(store.home).mkdir(parents=True, exist_ok=True)
    _pidfile(store).write_text(f"{os.getpid()}\n")
    name = f"{socket.gethostname()}:{os.getpid()}"
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    idle_since = time.monotonic()
    logs = Path(store.home) / "logs"
    logs.mkdir(exist_ok=True)
    print(f"worker {name}: serving {store.home} ({parallel} at a time)", flush=True)
    try:
        while not stopping:
            _reap(store, children, logs)
            while len(children) < parallel and not stopping:
                run = store.claim_next_queued(name)
                if run is None:
                    break
                run_id = run["id"]
                log = open(logs / f"{run_id}.log", "ab")
                children[run_id] = subprocess.Popen(
                    [sys.executable, "-m", "trainer", "_execute", run_id],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env={**os.environ, "ACTCOOL_HOME": str(store.home)},
                )
                print(f"worker: started run {run_id} (pid {children[run_id].pid})", flush=True)
            if children:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                break
            time.sleep(POLL_SECONDS)
        for proc in children.values():  # each child checkpoints and records 'stopped'
            proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            proc.wait()
        _reap(store, children, logs)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if worker_pid(store) == os.getpid():
            _pidfile(store).unlink(missing_ok=True)


def _reap(store: Store, children: dict[str, subprocess.Popen], logs: Path) -> None:
    for run_id, proc in list(children.items()):
        code = proc.poll()
        if code is None:
            continue
        del children[run_id]
        print(f"worker: run {run_id} exited with code {code}", flush=True)
        if store.get_run(run_id)["status"] in ("running", "lost"):
            tail = (logs / f"{run_id}.log").read_text(errors="replace")[-2000:]
            store.update_run(run_id, status="failed", finished=True,
                             error=f"the training process exited with code {code} before recording an outcome",
                             traceback=tail)
