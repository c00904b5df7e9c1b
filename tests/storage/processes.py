"""Child processes for the storage tests (``python -m tests.storage.child ...``)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def spawn_child(*args: object) -> subprocess.Popen:
    """Start ``python -m tests.storage.child ARGS`` with the repository on its path."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage.child", *map(str, args)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,  # closing it tells a "hold ... stdin" child to let go
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float = 30.0) -> str:
    """Read the child's stdout until a line starting with ``prefix``; return that line."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.1):
            line = proc.stdout.readline()
            if line.startswith(prefix):
                return line.strip()
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError(f"child never printed {prefix!r}; stderr: {proc.stderr.read()[-3000:]}")


def child_result(proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    """Wait for the child, assert it exited cleanly, and return the JSON it printed last."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child exited with {proc.returncode}: {err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])
