"""The dashboard benchmark's code path on a small run (the full run is benchmarks' job)."""

from __future__ import annotations

from benchmarks.dashboard_bench import build_figures, page_queries
from benchmarks.storage_bench import build_big_run
from storage import Store


def test_runs_page_figures_of_a_bulk_built_run(tmp_path):
    store = Store(tmp_path / "store")
    run_id, _ = build_big_run(store, steps=3000, scan_every=500, rates=8)
    results = page_queries(store, run_id)
    assert len(results["steps"]) <= 2000  # downsampled for display
    names, steps, matrix = results["site_matrix"]
    assert matrix.shape == (56, len(steps)) and len(steps) <= 400
    figures = build_figures(results, 3000)
    assert set(figures) == {"lr", "temperature", "sites", "error", "scans", "fits"}
    assert figures["scans"].data[0].z is not None
