"""The Ray backend: ``python -m trainer worker --ray [ADDRESS]`` trains queued runs on a cluster.

Each queued run becomes one Ray task with the resources it needs (one GPU where the cluster
has GPUs, CPUs otherwise: :func:`trainer.placement.ray_resources`). The store stays on the
worker's machine: a :class:`~storage.remote.StoreService` actor pinned to the worker's node
commits every run's rows, which trainers on other nodes send as Arrow batches through a
:class:`~storage.remote.RemoteStore`, so each run file keeps one writer and metrics need no
shared filesystem. Checkpoints go under a root every node can reach (``checkpoints``: a
shared folder or a ``pyarrow.fs`` URI such as ``s3://bucket/actcool``; see
:mod:`trainer.checkpoint`), and a run keeps the place it first recorded.

The rest is as for local runs. A stop request reaches the trainer with its heartbeat. A task
whose process or node dies leaves its run ``running`` with no heartbeat, which reads as
``lost`` (at once on the worker's node, where its process is seen to be gone; elsewhere after
``lost_after`` seconds) and resumes from its checkpoint once queued again
(``python -m trainer resume`` or the dashboard). Needs ``pip install -e ".[ray]"`` on every
node, with the same code.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from storage import Store
from storage.remote import RemoteStore, StoreService

from .config import RunConfig
from .placement import ray_resources
from .worker import POLL_SECONDS, _pidfile, worker_pid

__all__ = ["connect", "run_ray_worker", "start_service"]

STOP_GRACE = 120.0  # seconds a stopping worker waits for its runs to checkpoint and record


def connect(address: str | None) -> None:
    """Join the Ray cluster at ``address`` (None: the one started on this machine with
    ``ray start``, else a new local instance), unless this process already has."""
    if address is not None and address.startswith("ray://"):
        raise ValueError(
            f"address {address!r} is a Ray Client address; start the worker on a node of the "
            "cluster (the store lives there) and give the cluster's address, e.g. HEAD:6379 or auto"
        )
    if not ray.is_initialized():
        ray.init(address=address)


def start_service(store: Store) -> Any:
    """The :class:`~storage.remote.StoreService` actor for ``store``, on this node."""
    node = ray.get_runtime_context().get_node_id()
    service = (
        ray.remote(StoreService)
        .options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        )
        .remote(str(Path(store.home).resolve()), store.lost_after)
    )
    ray.get(service.written.remote())  # started, and the store opened
    return service


def remote_store(service: Any, home: str) -> RemoteStore:
    """A :class:`~storage.remote.RemoteStore` that calls ``service`` through Ray."""

    def send(method: str, *args: Any, **kwargs: Any) -> Any:
        return ray.get(getattr(service, method).remote(*args, **kwargs))

    return RemoteStore(send, home)


@ray.remote(max_retries=0)  # a task that dies leaves its run lost, to resume, not to redo
def _train(run_id: str, service: Any, home: str, checkpoints: str) -> dict[str, Any]:
    from .checkpoint import checkpoint_exists, run_checkpoint
    from .run import train_run

    store = remote_store(service, home)
    config = RunConfig.from_dict(store.get_run(run_id)["config"])
    where = run_checkpoint(store, run_id, checkpoints)
    resume = checkpoint_exists(where)
    if not resume and store.last_step(run_id) is not None:  # never start over silently
        raise FileNotFoundError(
            f"run {run_id} has trained before but its checkpoint {where} cannot be read on "
            f"{socket.gethostname()}; give the Ray worker a checkpoints root that every "
            "node reaches, or resume the run with a local worker"
        )
    result = train_run(
        config, store, run_id=run_id, resume=resume, progress=False, checkpoints=checkpoints
    )
    return dataclasses.asdict(result)


def run_ray_worker(
    store: Store,
    address: str | None = None,
    checkpoints: str | None = None,
    parallel: int | None = None,
    idle_exit: float | None = None,
    cpus_per_run: float = 1,
    stop: threading.Event | None = None,
) -> None:
    """Train queued runs as Ray tasks, ``parallel`` at a time, until SIGTERM/SIGINT or ``stop``.

    Args:
        store: the store served (on this machine).
        address: the Ray cluster (see :func:`connect`).
        checkpoints: the checkpoint root for new runs (a folder every node reaches, or a
            ``pyarrow.fs`` URI); None: ``<home>/checkpoints``, enough on one machine.
        parallel: runs at a time; None: the cluster's GPUs, or without GPUs its CPUs divided
            by ``cpus_per_run``.
        idle_exit: exit after this many seconds with nothing queued or running (None: never).
        cpus_per_run: CPUs each task reserves.
        stop: an event that stops the worker as a signal does (for use from a thread).
    """
    other = worker_pid(store)
    if other is not None and other != os.getpid():
        raise RuntimeError(f"a worker (pid {other}) is already running for {store.home}")
    connect(address)
    home = str(Path(store.home).resolve())
    checkpoints = checkpoints or str(Path(home) / "checkpoints")
    cluster = ray.cluster_resources()
    gpus = cluster.get("GPU", 0.0)
    if parallel is None:
        parallel = int(gpus) if gpus >= 1 else int(cluster.get("CPU", 1) // cpus_per_run)
    parallel = max(1, parallel)
    service = start_service(store)
    name = f"{socket.gethostname()}:{os.getpid()}:ray"
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)
        }
    _pidfile(store).write_text(f"{os.getpid()}\n")
    tasks: dict[Any, str] = {}  # object ref -> run id
    print(
        f"worker {name}: serving {home} on Ray ({parallel} at a time, {gpus:g} GPUs in the "
        f"cluster, checkpoints in {checkpoints})",
        flush=True,
    )
    idle_since = time.monotonic()
    try:
        while not stop.is_set():
            _collect(store, tasks, timeout=0)
            while len(tasks) < parallel and not stop.is_set():
                run = store.claim_next_queued(name)
                if run is None:
                    break
                _submit(store, run, service, home, checkpoints, gpus, cpus_per_run, tasks)
            if tasks:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                break
            stop.wait(POLL_SECONDS)
        for run_id in tasks.values():  # each run checkpoints and records 'stopped'
            store.request_stop(run_id)
        deadline = time.monotonic() + STOP_GRACE
        while tasks and time.monotonic() < deadline:
            _collect(store, tasks, timeout=1.0)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        for ref in tasks:  # past the grace period: their runs read as lost
            ray.cancel(ref, force=True)
        ray.kill(service)
        if worker_pid(store) == os.getpid():
            _pidfile(store).unlink(missing_ok=True)


def _submit(
    store: Store,
    run: dict,
    service: Any,
    home: str,
    checkpoints: str,
    gpus: float,
    cpus_per_run: float,
    tasks: dict[Any, str],
) -> None:
    run_id = run["id"]
    try:
        resources = ray_resources(RunConfig.from_dict(run["config"]), gpus, cpus_per_run)
    except (TypeError, ValueError) as exc:
        store.update_run(run_id, status="failed", finished=True, error=f"not started: {exc}")
        print(f"worker: run {run_id} not started: {exc}", flush=True)
        return
    ref = _train.options(**resources, name=f"actcool-{run_id}").remote(
        run_id, service, home, checkpoints
    )
    tasks[ref] = run_id
    print(f"worker: submitted run {run_id} ({resources})", flush=True)


def _collect(store: Store, tasks: dict[Any, str], timeout: float) -> None:
    """Record the outcome of every finished task: what the trainer returned, a failure it
    raised before recording one, or a death (the run is left to read as lost)."""
    if not tasks:
        return
    done, _ = ray.wait(list(tasks), num_returns=len(tasks), timeout=timeout)
    for ref in done:
        run_id = tasks.pop(ref)
        try:
            result = ray.get(ref)
            print(f"worker: run {run_id} {result['status']}", flush=True)
        except ray.exceptions.RayTaskError as exc:  # raised before or outside the training loop
            cause = exc.cause if exc.cause is not None else exc
            print(f"worker: run {run_id} failed: {cause!r}", flush=True)
            if store.get_run(run_id)["status"] in ("running", "lost"):
                store.update_run(
                    run_id,
                    status="failed",
                    finished=True,
                    error=f"{type(cause).__name__}: {cause}",
                    traceback=str(exc)[-4000:],
                )
        except ray.exceptions.RayError as exc:  # the process or its node died
            print(f"worker: run {run_id} lost: {type(exc).__name__}", flush=True)
            if store.get_run(run_id)["status"] in ("running", "lost"):
                store.update_run(
                    run_id,
                    error=f"its Ray task died ({type(exc).__name__}); "
                    "resume it to continue from its last checkpoint",
                )
