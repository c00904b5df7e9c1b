"""This machine's GPUs: which ones a worker may use, how busy each is, and device labels.

:func:`query_gpus` asks ``nvidia-smi`` (one call, about 50 ms) and falls back to
``torch.cuda.device_count()`` with unknown load. Only the GPUs the worker itself may see
(``CUDA_VISIBLE_DEVICES``, when set) are returned, by their physical index, so a worker
started on a subset of the machine places its runs inside that subset.
:func:`device_label` turns a process's view of its device (``cuda:0`` of the GPUs it was
given) back into the physical GPU, which is what the store records and the dashboard shows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Gpu",
    "device_label",
    "parse_nvidia_smi",
    "query_gpus",
    "run_location",
    "visible_indices",
]

_QUERY = "index,uuid,utilization.gpu,memory.used,memory.total"


@dataclass(frozen=True)
class Gpu:
    """One GPU as the placement sees it."""

    index: int  # physical index (nvidia-smi's), the value CUDA_VISIBLE_DEVICES takes
    utilization: float = 0.0  # percent of time a kernel ran over the last sample period
    memory_used: int = 0  # MiB, by every process on the machine (not only ours)
    memory_total: int = 0  # MiB; 0 when unknown
    uuid: str = ""


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """GPUs from the CSV of ``nvidia-smi --query-gpu=index,uuid,utilization.gpu,memory.used,
    memory.total --format=csv,noheader,nounits``; a field reading ``[N/A]`` counts as 0."""

    def number(field: str) -> float:
        try:
            return float(field)
        except ValueError:
            return 0.0

    gpus = []
    for line in text.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 5 or not fields[0].isdigit():
            raise ValueError(f"unexpected nvidia-smi line {line!r}; expected {_QUERY}")
        gpus.append(
            Gpu(
                int(fields[0]),
                number(fields[2]),
                int(number(fields[3])),
                int(number(fields[4])),
                fields[1],
            )
        )
    return gpus


def visible_indices(gpus: list[Gpu], env: Mapping[str, str]) -> list[Gpu]:
    """The GPUs of ``gpus`` that ``CUDA_VISIBLE_DEVICES`` in ``env`` lets a process use, in
    its order (indices or UUIDs, as CUDA accepts them); all of them when it is unset."""
    spec = env.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return list(gpus)
    by_key = {str(g.index): g for g in gpus} | {g.uuid: g for g in gpus if g.uuid}
    chosen = []
    for key in (k.strip() for k in spec.split(",")):
        if key not in by_key:
            break  # CUDA stops at the first entry it cannot resolve
        chosen.append(by_key[key])
    return chosen


def query_gpus(env: Mapping[str, str] | None = None) -> list[Gpu]:
    """The GPUs this process may use, with their current load; [] on a machine without any."""
    env = os.environ if env is None else env
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            out = subprocess.run(
                [smi, f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
            return visible_indices(parse_nvidia_smi(out), env)
        except (OSError, subprocess.SubprocessError, ValueError):
            pass  # a broken driver install: ask torch instead
    import torch

    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    spec = env.get("CUDA_VISIBLE_DEVICES")
    if spec is not None:
        keys = [k.strip() for k in spec.split(",")][:count]
        if all(k.isdigit() for k in keys):
            return [Gpu(int(k)) for k in keys]
    return [Gpu(i) for i in range(count)]


def device_label(device: str, world_size: int = 1, env: Mapping[str, str] | None = None) -> str:
    """The physical device(s) of a process that sees ``device``: ``cuda:0`` under
    ``CUDA_VISIBLE_DEVICES=3`` is ``cuda:3``; a torchrun job of 2 ranks on ``2,5`` is
    ``cuda:2,5``; a CPU job of 2 ranks is ``cpu x2``.

    Args:
        device: the torch device string the process trains on (``cpu``, ``cuda:N``).
        world_size: processes in the job (ranks on this machine use consecutive GPUs).
        env: the environment to read ``CUDA_VISIBLE_DEVICES`` from (default: this process's).
    """
    env = os.environ if env is None else env
    if not device.startswith("cuda"):
        return device if world_size == 1 else f"{device} x{world_size}"
    first = int(device.split(":")[1]) if ":" in device else 0
    visible = [k.strip() for k in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if k.strip()]
    indices = list(range(first, first + world_size))
    if visible and indices[-1] < len(visible):
        return "cuda:" + ",".join(visible[i] for i in indices)
    return "cuda:" + ",".join(map(str, indices))


def run_location(device: object, host: object, here: str | None = None) -> str:
    """Where a run trains, for listings: its device (``cuda:3``, ``cpu``), with the machine
    when that is not this one (``cuda:0 on node-7``); ``""`` before it has started."""
    device = device if isinstance(device, str) else ""
    host = host if isinstance(host, str) else ""
    if host and host != (socket.gethostname() if here is None else here):
        return f"{device or '?'} on {host}"
    return device
