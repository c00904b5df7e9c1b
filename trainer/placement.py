"""Where a queued run trains on this machine, and the command line that starts it there.

Pure functions of their arguments, so the worker's decisions are tested without a GPU:
:func:`gpu_request` reads what a run asks for from its config, :func:`place` picks the GPUs
(the least busy ones that none of the worker's runs holds), and :func:`child_process` builds
the child's command line and environment: ``CUDA_VISIBLE_DEVICES`` set to the chosen GPUs,
and a run of ``nproc`` > 1 processes started through torchrun.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .gpus import Gpu

if TYPE_CHECKING:  # the worker imports this module without torch
    from .config import RunConfig

__all__ = ["GpuRequest", "child_process", "free_port", "gpu_request", "place", "ray_resources"]


@dataclass(frozen=True)
class GpuRequest:
    """What one run needs from the machine's GPUs."""

    count: int  # GPUs to give it; 0: it trains on the CPU
    nproc: int = 1  # processes (torchrun ranks when more than one)
    pinned: int | None = None  # a GPU the config names (cuda:N: position N of the worker's GPUs)


def gpu_request(config: RunConfig, gpus: Sequence[Gpu]) -> GpuRequest:
    """The GPUs a run asks for on a machine with ``gpus``.

    ``device`` cpu needs none; auto needs ``nproc`` GPUs where there are GPUs (else none);
    cuda needs ``nproc`` GPUs; cuda:N needs exactly GPU N of this worker's GPUs.

    Raises:
        ValueError: the run can never be placed here (cuda asked for on a machine without a
            GPU, cuda:N beyond the worker's GPUs, more GPUs than the machine has).
    """
    device, k = config.device, config.nproc
    if device == "cpu" or (device == "auto" and not gpus):
        return GpuRequest(0, k)
    if not gpus:
        raise ValueError(
            f"device {device!r} asks for a GPU, but this worker has none; use device auto or cpu"
        )
    if device.startswith("cuda:"):
        n = int(device.split(":")[1])
        if n >= len(gpus):
            raise ValueError(
                f"device {device!r} does not exist; this worker has {len(gpus)} "
                f"GPU(s): cuda:0 to cuda:{len(gpus) - 1}"
            )
        return GpuRequest(1, 1, pinned=n)
    if k > len(gpus):
        raise ValueError(f"nproc {k} asks for {k} GPUs, but this worker has {len(gpus)}")
    return GpuRequest(k, k)


def place(
    gpus: Sequence[Gpu], taken: Collection[int], request: GpuRequest
) -> tuple[int, ...] | None:
    """The physical indices of the GPUs to give a run, or None while too few are free.

    Args:
        gpus: the worker's GPUs with their current load (:func:`trainer.gpus.query_gpus`).
        taken: physical indices held by the worker's running runs.
        request: what the run needs (:func:`gpu_request`).

    Returns:
        ``()`` for a CPU run; else ``request.count`` indices in increasing order: the pinned
        GPU, or the least busy free ones (by utilisation, then memory in use, then index, so
        that other users' jobs are avoided where there is a choice).
    """
    if request.count == 0:
        return ()
    if request.pinned is not None:
        index = gpus[request.pinned].index
        return None if index in taken else (index,)
    free = sorted(
        (g for g in gpus if g.index not in taken),
        key=lambda g: (g.utilization, g.memory_used, g.index),
    )
    if len(free) < request.count:
        return None
    return tuple(sorted(g.index for g in free[: request.count]))


def child_process(
    run_id: str,
    request: GpuRequest,
    placed: tuple[int, ...],
    env: Mapping[str, str],
    port: int | None = None,
    python: str = sys.executable,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that train a claimed run on the GPUs ``placed``.

    Args:
        run_id: the claimed run (``python -m trainer _execute RUN_ID``).
        request: what the run asked for (:func:`gpu_request`); ``nproc`` > 1 starts
            through torchrun, one rank per GPU (or per CPU process for a CPU run).
        placed: physical GPU indices from :func:`place`. ``CUDA_VISIBLE_DEVICES`` becomes
            them, so the run's ``cuda:0`` is its first GPU; a CPU run, or one pinned to
            ``cuda:N`` of the worker's view, keeps the worker's ``CUDA_VISIBLE_DEVICES``.
        env: the worker's environment, copied.
        port: torchrun's rendezvous port (needed when ``nproc`` > 1; see :func:`free_port`).
        python: the interpreter.
    """
    if len(placed) != request.count:
        raise ValueError(f"the run asks for {request.count} GPU(s), got {list(placed)}")
    child_env = dict(env)
    if placed and request.pinned is None:
        child_env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, placed))
    if request.nproc == 1:
        return [python, "-m", "trainer", "_execute", run_id], child_env
    if port is None:
        raise ValueError(f"a run of {request.nproc} processes needs a rendezvous port for torchrun")
    argv = [
        python,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={request.nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        "-m",
        "trainer",
        "_execute",
        run_id,
    ]
    return argv, child_env


def ray_resources(
    config: RunConfig, cluster_gpus: float, cpus_per_run: float = 1
) -> dict[str, float]:
    """The resources of the Ray task that trains a run: one GPU where the cluster has GPUs
    (unless the run asks for the CPU), plus ``cpus_per_run`` CPUs (Ray sets the task's
    ``OMP_NUM_THREADS`` from them).

    Raises:
        ValueError: the run cannot train as one Ray task: ``nproc`` > 1 (use a local worker,
            which starts it through torchrun), a pinned ``cuda:N`` (Ray chooses the GPU), or
            ``cuda`` on a cluster without GPUs.
    """
    if config.nproc > 1:
        raise ValueError(
            f"nproc {config.nproc}: a Ray task trains in one process; train "
            "multi-process runs with a local worker (python -m trainer worker)"
        )
    if config.device.startswith("cuda:"):
        raise ValueError(
            f"device {config.device!r}: on Ray the task's GPU is chosen by Ray; "
            "use device auto or cuda"
        )
    if config.device == "cuda" and cluster_gpus < 1:
        raise ValueError(
            "device 'cuda' asks for a GPU, but the Ray cluster has none; use auto or cpu"
        )
    gpus = 1.0 if cluster_gpus >= 1 and config.device != "cpu" else 0.0
    return {"num_cpus": float(cpus_per_run), "num_gpus": gpus}


def free_port() -> int:
    """A TCP port free on this machine now (torchrun hangs when given port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
