"""The tree stays as `ruff check` and `ruff format` want it (ruff comes with the test extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(command):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"ruff {' '.join(command)} found problems (run `ruff check --fix . && ruff format .`):\n"
        + done.stdout[-3000:]
        + done.stderr[-2000:]
    )
