from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny batches gain nothing from more, and on a busy
    2-core machine OpenMP spinning makes them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cli(*args: str, home: Path, timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m trainer ...`` in a subprocess against the store at ``home``."""
    env = {**os.environ, "ACTCOOL_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
        **kwargs,
    )


def popen(*args: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "ACTCOOL_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
