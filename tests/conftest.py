"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import Store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A fresh, empty store under ``tmp_path``; ``ACTCOOL_HOME`` points at it, so the code
    under test (the app, the trainer, child processes) finds the same one."""
    monkeypatch.setenv("ACTCOOL_HOME", str(tmp_path / "home"))
    return Store(tmp_path / "home")
