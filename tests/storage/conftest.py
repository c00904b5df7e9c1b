"""Fixtures for the storage tests: a fresh store home per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")
