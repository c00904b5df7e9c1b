"""The background worker: runs queued runs, each in its own process, until stopped.

``python -m trainer worker [--parallel N] [--idle-exit SECONDS]``. The dashboard queues runs in
the store and calls :func:`ensure_worker` so that one worker is alive per store; that worker
exits once nothing has been queued or running for :data:`DEFAULT_IDLE_EXIT` seconds (or
``$ACTCOOL_WORKER_IDLE_EXIT``), so none outlives the dashboard for long; the next queued run
starts a new one. A worker started by hand serves until stopped unless given ``--idle-exit``. Each run trains in a child
process (``python -m trainer _execute RUN_ID``) whose output goes to ``<home>/logs/RUN_ID.log``,
so a crash in one run never takes down the worker or the others. On a machine with GPUs each
run gets its own (the least busy free ones; a run of ``nproc`` k gets k and starts through
torchrun) through ``CUDA_VISIBLE_DEVICES``: see :mod:`trainer.placement`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from storage import Store
from storage.status import pid_alive

from .gpus import Gpu, query_gpus
from .placement import child_process, free_port, gpu_request, place

__all__ = [
    "DEFAULT_IDLE_EXIT",
    "IDLE_EXIT_ENV",
    "delete",
    "ensure_worker",
    "resume",
    "run_worker",
    "submit",
    "worker_pid",
]

POLL_SECONDS = 1.0
# A worker started for the dashboard exits after this many seconds with nothing queued or
# running: long enough to queue the next run without waiting for a new worker to start,
# short enough that a worker whose dashboard is gone does not linger.
DEFAULT_IDLE_EXIT = 300.0
IDLE_EXIT_ENV = "ACTCOOL_WORKER_IDLE_EXIT"  # seconds; overrides DEFAULT_IDLE_EXIT


def dashboard_idle_exit() -> float:
    """The idle time after which a worker started by :func:`ensure_worker` exits: seconds
    from ``$ACTCOOL_WORKER_IDLE_EXIT``, else :data:`DEFAULT_IDLE_EXIT`. ValueError, naming
    the variable, for a value that is not a number >= 0."""
    text = os.environ.get(IDLE_EXIT_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE_EXIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(
            f"{IDLE_EXIT_ENV}={text!r} is not a number of seconds >= 0; unset it for the "
            f"default ({DEFAULT_IDLE_EXIT:g})"
        )
    return seconds


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


def ensure_worker(store: Store, parallel: int | None = None, idle_exit: float | None = None) -> int:
    """Start a detached worker for ``store`` unless one is alive; return its pid.

    The worker trains what is queued, then exits once nothing has been queued or running
    for ``idle_exit`` seconds, so that it does not outlive the dashboard that started it
    (reparented to init) for long.

    Args:
        parallel: runs at a time; None: one run per GPU where there are GPUs, else one.
        idle_exit: seconds; None: :func:`dashboard_idle_exit` (``$ACTCOOL_WORKER_IDLE_EXIT``,
            else :data:`DEFAULT_IDLE_EXIT`).
    """
    pid = worker_pid(store)
    if pid is not None:
        return pid
    idle_exit = dashboard_idle_exit() if idle_exit is None else idle_exit
    Path(store.home).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ACTCOOL_HOME": str(store.home)}
    with open(Path(store.home) / "worker.log", "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trainer",
                "worker",
                *(["--parallel", str(parallel)] if parallel is not None else []),
                "--idle-exit",
                f"{idle_exit:g}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=os.getcwd(),
        )
    for _ in range(50):  # wait until it has claimed the pidfile
        if worker_pid(store) == proc.pid:
            break
        time.sleep(0.1)
    return proc.pid


def resume(store: Store, run_id: str, parallel: int = 1) -> int:
    """Queue a stopped, lost or failed run to continue from its last checkpoint, and make
    sure a worker serves the store; return the worker's pid.

    The run goes through the queue like any run (it reads ``queued`` at once), so a worker's
    ``parallel`` limit holds. A run stopped while it was queued, before it ever started,
    starts from the beginning. ValueError when the run cannot resume (its status, or no
    checkpoint of a run that has trained), KeyError for an unknown run.
    """
    from .checkpoint import checkpoint_exists, run_checkpoint

    if not checkpoint_exists(run_checkpoint(store, run_id)):
        run = store.get_run(run_id)  # KeyError for an unknown run first
        status = run["status"]
        if run["started_at"] is None:  # stopped in the queue: nothing was trained
            store.requeue(run_id)
            return ensure_worker(store, parallel)
        raise ValueError(
            f"run {run_id} ({status}) has no checkpoint to resume from: it ended before "
            "its first epoch did"
        )
    store.requeue(run_id)
    return ensure_worker(store, parallel)


def delete(store: Store, run_id: str) -> None:
    """Delete a run: its catalog entry, metrics, checkpoints and log. ValueError while it is
    running or queued (stop it first), KeyError for an unknown run."""
    status = store.get_run(run_id)["status"]
    if status in ("running", "queued"):
        raise ValueError(
            f"run {run_id} is {status}; stop it first (python -m trainer stop {run_id}), "
            "then delete it"
        )
    from .checkpoint import run_checkpoint

    recorded = run_checkpoint(store, run_id)  # before the run's entry is gone
    store.delete_run(run_id)
    shutil.rmtree(Path(store.home) / "checkpoints" / run_id, ignore_errors=True)
    if isinstance(recorded, Path) or "://" not in str(recorded):  # a local checkpoint root
        Path(recorded).unlink(missing_ok=True)
    (Path(store.home) / "logs" / f"{run_id}.log").unlink(missing_ok=True)


def submit(config, store: Store) -> str:
    """Queue a run (validated and resolved now, trained by a worker later); return its id.

    MissingInputError (a FileNotFoundError), naming the folder, when its dataset is not where
    the run will look (and may not be downloaded): reported now, not when the run starts.
    """
    from .data.locate import missing_dataset
    from .errors import MissingInputError
    from .run import prepare_config

    config = prepare_config(config, store)
    if problem := missing_dataset(config.dataset, config.data_dir, config.download):
        raise MissingInputError(problem)
    return store.create_run(
        config.to_dict(), name=config.display_name, tags=config.tags, status="queued"
    )


def run_worker(
    store: Store,
    parallel: int | None = None,
    idle_exit: float | None = None,
    gpus: Callable[[], list[Gpu]] = query_gpus,
) -> None:
    """Claim and train queued runs, ``parallel`` at a time, until SIGTERM/SIGINT (or idle).

    Args:
        parallel: runs at a time; None: the number of GPUs, or 1 without GPUs.
        idle_exit: exit after this many seconds with nothing queued or running (None: never);
            runs queued meanwhile are trained first, and the worker's log says so at start.
        gpus: the machine's GPUs with their current load, asked before each placement.
    """
    machine = gpus()
    if parallel is None:
        parallel = max(1, len(machine))
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    other = worker_pid(store)
    if other is not None and other != os.getpid():
        raise RuntimeError(f"a worker (pid {other}) is already running for {store.home}")
    Path(store.home).mkdir(parents=True, exist_ok=True)
    _pidfile(store).write_text(f"{os.getpid()}\n")
    name = f"{socket.gethostname()}:{os.getpid()}"
    children: dict[str, subprocess.Popen] = {}
    held: dict[str, tuple[int, ...]] = {}  # the GPUs of each child
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    idle_since = time.monotonic()
    logs = Path(store.home) / "logs"
    logs.mkdir(exist_ok=True)
    until = (
        f"; exits after {idle_exit:g} s with nothing queued or running"
        if idle_exit is not None
        else "; runs until stopped"
    )
    print(f"worker {name}: serving {store.home} ({parallel} at a time{until})", flush=True)
    try:
        while not stopping:
            _keep_home(store, logs)
            _reap(store, children, logs)
            for run_id in set(held) - set(children):
                del held[run_id]
            while len(children) < parallel and not stopping:
                claimed = _claim(store, name, gpus() if machine else [], held)
                if claimed is None:
                    break
                run_id, argv, env, placed = claimed
                with open(logs / f"{run_id}.log", "ab") as log:  # the child keeps its own copy
                    children[run_id] = subprocess.Popen(
                        argv,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env={**env, "ACTCOOL_HOME": str(store.home)},
                    )
                held[run_id] = placed
                on = f" on cuda:{','.join(map(str, placed))}" if placed else ""
                print(f"worker: started run {run_id}{on} (pid {children[run_id].pid})", flush=True)
            if children:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                if _give_up_pidfile(store):
                    print(
                        f"worker: nothing queued or running for {idle_exit:g} s; exiting",
                        flush=True,
                    )
                    break
                idle_since = time.monotonic()  # runs wait in the queue (for GPUs): serve on
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


def _give_up_pidfile(store: Store) -> bool:
    """Before an idle exit: remove the pidfile, then look at the queue. True: nothing is
    queued, or another worker has started meanwhile; exit. False: runs are queued; the
    pidfile is back and the worker serves on.

    The order closes a race with a run queued just now: whoever queues a run and then finds
    no pidfile (:func:`ensure_worker`) starts a new worker; one that found the pidfile still
    there queued its run before the look at the queue here."""
    if worker_pid(store) == os.getpid():
        _pidfile(store).unlink(missing_ok=True)
    if store.list_runs(status="queued").empty:
        return True
    if worker_pid(store) is not None:  # a worker started meanwhile serves the queue
        return True
    _pidfile(store).write_text(f"{os.getpid()}\n")
    return False


def _claim(
    store: Store, name: str, gpus: list[Gpu], held: dict[str, tuple[int, ...]]
) -> tuple[str, list[str], dict[str, str], tuple[int, ...]] | None:
    """Claim the oldest queued run once the GPUs it asks for are free; return its id, the
    child's command line and environment, and its GPUs. None: nothing to start now."""
    from .config import RunConfig

    taken = {index for placed in held.values() for index in placed}
    if gpus:  # look before claiming: a run waits in the queue until its GPUs are free
        queued = store.list_runs(status="queued")
        if queued.empty:
            return None
        try:
            head = RunConfig.from_dict(queued.iloc[-1]["config"])  # the oldest
            if place(gpus, taken, gpu_request(head, gpus)) is None:
                return None
        except (TypeError, ValueError):
            pass  # claimed below and failed with the reason
    while (run := store.claim_next_queued(name)) is not None:
        run_id = run["id"]
        try:
            request = gpu_request(RunConfig.from_dict(run["config"]), gpus)
        except (TypeError, ValueError) as exc:
            store.update_run(run_id, status="failed", finished=True, error=f"not started: {exc}")
            continue
        placed = place(gpus, taken, request)
        if placed is None:  # another run overtook the one looked at: back to the queue
            store.update_run(run_id, status="queued")
            return None
        port = free_port() if request.nproc > 1 else None
        argv, env = child_process(run_id, request, placed, os.environ, port)
        if placed:
            store.update_run(run_id, device="cuda:" + ",".join(map(str, placed)))
        return run_id, argv, env, placed
    return None


def _keep_home(store: Store, logs: Path) -> None:
    """Put back the worker's pidfile and log folder when the store folder was deleted under
    it, so that the dashboard still finds this worker (and starts no second one)."""
    if not _pidfile(store).exists():
        logs.mkdir(parents=True, exist_ok=True)
        _pidfile(store).write_text(f"{os.getpid()}\n")
        print(
            f"worker: the store folder {store.home} was deleted or replaced; serving the new one",
            flush=True,
        )


def _reap(store: Store, children: dict[str, subprocess.Popen], logs: Path) -> None:
    for run_id, proc in list(children.items()):
        code = proc.poll()
        if code is None:
            continue
        del children[run_id]
        print(f"worker: run {run_id} exited with code {code}", flush=True)
        try:
            status = store.get_run(run_id)["status"]
        except KeyError:  # deleted meanwhile, or the store folder was removed or replaced
            print(f"worker: run {run_id} is no longer in the store", flush=True)
            continue
        if status in ("running", "lost"):
            try:
                tail = (logs / f"{run_id}.log").read_text(errors="replace")[-2000:]
            except OSError:
                tail = ""
            store.update_run(
                run_id,
                status="failed",
                finished=True,
                error=f"{last_line(tail) or 'no output'} (the training process "
                f"exited with code {code})",
                traceback=tail,
            )


def last_line(log: str) -> str:
    """The last non-empty line of a log: the error message of a failed run's process (the
    CLI's one-line error, or a traceback's final line), without the CLI's prefix."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1].removeprefix("python -m trainer: error: ") if lines else ""
