"""Helpers shared by the test packages: polling with a deadline, a free local port, a
checkpoint of a training loop's objects in memory."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``predicate()`` until it is truthy and return its value; raise ``AssertionError``
    naming ``what`` after ``timeout`` seconds. The timeout only guards against hangs."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_checkpoint(step: int, **objects: Any) -> bytes:
    """``torch.save`` of each object's ``state_dict()`` and the step to train next, in memory."""
    import torch

    buf = io.BytesIO()
    torch.save({k: v.state_dict() for k, v in objects.items()} | {"step": step}, buf)
    return buf.getvalue()


def load_checkpoint(checkpoint: bytes, **objects: Any) -> int:
    """Load :func:`save_checkpoint`'s states into the same-named objects; the step to train next."""
    import torch

    state = torch.load(io.BytesIO(checkpoint), weights_only=False)
    for name, obj in objects.items():
        obj.load_state_dict(state[name])
    return int(state["step"])
