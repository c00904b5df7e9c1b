"""The dashboard benchmark's code path on a small run (the full run is benchmarks' job): the
Runs page draws exactly the values the bulk builder wrote, downsampled."""

from __future__ import annotations

import numpy as np

from benchmarks.dashboard_bench import build_figures, page_queries
from benchmarks.storage_bench import SITES, build_big_run
from storage import Store

STEPS, SCAN_EVERY, RATES = 3000, 500, 8


def test_runs_page_figures_of_a_bulk_built_run(tmp_path):
    store = Store(tmp_path / "store")
    run_id, _ = build_big_run(store, steps=STEPS, scan_every=SCAN_EVERY, rates=RATES)
    results = page_queries(store, run_id)
    figures = build_figures(results, STEPS)
    assert set(figures) == {"lr", "temperature", "sites", "error", "scans", "fits"}

    # Step series: downsampled for display, keeping both ends, values as the builder wrote them.
    (lr,) = figures["lr"].data
    x = np.asarray(lr.x, dtype=float)
    assert len(x) <= 2000 and x[0] == 0 and x[-1] == STEPS - 1
    np.testing.assert_allclose(lr.y, 0.1 * np.cos(x / STEPS * np.pi / 2))
    measured, target = figures["temperature"].data
    np.testing.assert_allclose(measured.y, 0.5 * np.exp(-np.asarray(measured.x) / 3e4))
    np.testing.assert_allclose(target.y, 0.5 * (1 - np.asarray(target.x) / STEPS))

    # Site heatmap: every site in order, and each drawn column is a stored column.
    names, steps, matrix = results["site_matrix"]
    assert list(names) == SITES and matrix.shape == (len(SITES), len(steps)) and len(steps) <= 400
    _, all_steps, stored = store.site_matrix(run_id)
    np.testing.assert_array_equal(matrix, stored[:, np.searchsorted(all_steps, steps)])
    (heatmap,) = figures["sites"].data
    assert list(heatmap.y) == SITES and np.asarray(heatmap.z).shape == matrix.shape

    # Evaluations every 500 steps and one LR range scan (8 log-spaced rates) every 500 steps.
    validation, training = figures["error"].data
    assert list(validation.x) == list(range(0, STEPS, 500))
    assert set(validation.y) == {0.32} and set(training.y) == {0.3}
    scans = figures["scans"].data[0]
    assert np.asarray(scans.z).shape == (RATES, STEPS // SCAN_EVERY)
    np.testing.assert_allclose(scans.y, np.linspace(-4, 1, RATES))  # log10 of the grid
    mean_fit = [t for t in figures["fits"].data if t.name == "mean temperature fit"]
    assert [list(t.x) for t in mean_fit] == [list(range(0, STEPS, SCAN_EVERY))] * len(mean_fit)
    assert {float(v) for v in mean_fit[1].y} == {0.5}  # σ, as written
    np.testing.assert_allclose(mean_fit[2].y, 0.01)  # rmse, as written
