"""Fixtures for the dashboard tests: a fresh store per test, a stand-in worker and a stand-in
quick LR range scan."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st

from storage import Store

REPO = Path(__file__).resolve().parents[2]
MAIN = str(REPO / "app" / "streamlit_app.py")


@pytest.fixture
def store(store: Store) -> Store:
    """The shared empty store (tests/conftest.py), with the app's query cache cleared."""
    st.cache_data.clear()
    return store


class FakeWorker:
    """Records what the pages ask of trainer.worker instead of starting processes."""

    def __init__(self) -> None:
        self.ensured = 0
        self.resumed: list[str] = []

    def ensure_worker(self, store: Store, parallel: int = 1) -> int:
        self.ensured += 1
        return 4242

    def worker_pid(self, store: Store) -> int | None:
        return 4242 if self.ensured else None

    def resume(self, store: Store, run_id: str, parallel: int = 1) -> int:
        """Like trainer.worker.resume without the checkpoint check: back into the queue."""
        self.resumed.append(run_id)
        store.requeue(run_id)
        return self.ensure_worker(store, parallel)


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> FakeWorker:
    from trainer import worker

    fake = FakeWorker()
    for name in ("ensure_worker", "worker_pid", "resume"):
        monkeypatch.setattr(worker, name, getattr(fake, name))
    return fake


FAKE_WEIBULL = {"lambda0": 0.02, "k": 0.9}


@pytest.fixture
def fake_scan(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace the quick LR range scan (a torch training step) by fixed fits of both models."""
    from app import preview

    calls = []

    def quick_fits(config):
        calls.append((config.model, config.dataset, config.batch_size, config.granularity))
        return preview.PreviewFits(
            {"mu": -5.0, "sigma": 1.2}, dict(FAKE_WEIBULL), config.batch_size
        )

    monkeypatch.setattr(preview, "quick_fits", quick_fits)
    return calls
