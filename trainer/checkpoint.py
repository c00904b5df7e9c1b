"""Checkpoints: everything needed to continue a run with the identical learning-rate sequence.

Written atomically (temporary file, then rename), so a kill during a save leaves the previous
checkpoint intact. A checkpoint lives at ``<home>/checkpoints/RUN_ID/last.pt`` by default, or
under a root the user names (:func:`checkpoint_uri`): a folder, e.g. on a filesystem every
node mounts, or a URI that ``pyarrow.fs.FileSystem.from_uri`` opens (``file://``, and where
the pyarrow build has them ``s3://``, ``gs://``, ``abfs://``, ``hdfs://``), which is how a
run trained on another machine (a Ray task) checkpoints without a shared filesystem.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from .errors import MissingInputError

__all__ = [
    "checkpoint_exists",
    "checkpoint_path",
    "checkpoint_uri",
    "load_checkpoint",
    "rng_state",
    "run_checkpoint",
    "save_checkpoint",
    "set_rng_state",
]


def checkpoint_path(home: str | os.PathLike, run_id: str) -> Path:
    return Path(home) / "checkpoints" / run_id / "last.pt"


def checkpoint_uri(root: str, run_id: str) -> str:
    """The checkpoint of ``run_id`` under a user-named root (a folder or a URI)."""
    return f"{root.rstrip('/')}/{run_id}/last.pt"


def run_checkpoint(store: Any, run_id: str, root: str | None = None) -> str | Path:
    """Where the checkpoint of ``run_id`` is kept: where the run recorded it (its summary's
    ``checkpoint``, set when it was trained with a checkpoint root), else under ``root``,
    else ``<home>/checkpoints/RUN_ID/last.pt``."""
    recorded = store.get_run(run_id)["summary"].get("checkpoint")
    if recorded:
        return str(recorded)
    if root is not None:
        return checkpoint_uri(root, run_id)
    return checkpoint_path(store.home, run_id)


def _remote(path: str | os.PathLike) -> tuple[object, str] | None:
    """``(pyarrow filesystem, path in it)`` for a URI, None for a local path."""
    if not isinstance(path, str) or "://" not in path:
        return None
    from pyarrow import fs

    return fs.FileSystem.from_uri(path)


def checkpoint_exists(path: str | os.PathLike) -> bool:
    """Whether a checkpoint is saved at ``path`` (a local path or a URI)."""
    remote = _remote(path)
    if remote is None:
        return Path(path).exists()
    from pyarrow import fs

    filesystem, inner = remote
    return filesystem.get_file_info(inner).type == fs.FileType.File


def rng_state() -> dict[str, Any]:
    return {
        "cpu": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save ``state`` at ``path`` (a local path or a URI), replacing what was there."""
    remote = _remote(path)
    if remote is not None:
        filesystem, inner = remote
        buffer = io.BytesIO()
        torch.save(state, buffer)
        filesystem.create_dir(inner.rsplit("/", 1)[0], recursive=True)
        tmp = inner + ".tmp"
        with filesystem.open_output_stream(tmp) as out:
            out.write(buffer.getbuffer())
        filesystem.move(tmp, inner)  # a rename where the store has one; object stores copy
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint onto the CPU.

    Raises:
        FileNotFoundError: no checkpoint yet (the run stopped before its first one).
    """
    if not checkpoint_exists(path):
        raise MissingInputError(
            f"no checkpoint at {path}: the run ended before its first checkpoint "
            "(one is written every epoch and at stop); start it again instead"
        )
    remote = _remote(path)
    if remote is not None:
        filesystem, inner = remote
        with filesystem.open_input_file(inner) as f:
            return torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=False)
    return torch.load(path, map_location="cpu", weights_only=False)
