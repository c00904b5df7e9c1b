"""Benchmark of the dashboard: how long the Runs page takes to draw a long run.

Run ``python benchmarks/dashboard_bench.py [--quick]``; it prints one JSON line per figure
(``{"figure", "value", "unit", "goal", "ok"}``) and ``main(quick)`` returns the same list.

The run has 100k steps with 56 ReLU sites measured at every step, an LR range scan and
fits every 1000 steps and an evaluation every 500 (built with bulk inserts, as in
``storage_bench.py``). The page queries it downsampled for display, as ``app.data`` does with the limits of ``app.charts``
(``steps(max_points=2000)``, ``site_matrix(max_steps=400)``), then builds every figure with
``app.charts.run_figures``; that build is the headline figure (goal <= 1 s). Exports read
the full data, which this benchmark does not time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import charts  # noqa: E402
from app.charts import DISPLAY_POINTS, DISPLAY_STEPS  # noqa: E402
from benchmarks.storage_bench import build_big_run  # noqa: E402
from benchmarks.timing import figure  # noqa: E402
from storage import Store  # noqa: E402

BUILD_GOAL_S = 1.0


def page_queries(store: Store, run_id: str) -> dict:
    """What the Runs page reads for one run, downsampled for display."""
    return {
        "steps": store.steps(run_id, max_points=DISPLAY_POINTS),
        "site_matrix": store.site_matrix(run_id, max_steps=DISPLAY_STEPS),
        "evaluations": store.evaluations(run_id),
        "scans": store.scans(run_id),
        "fits": store.fits(run_id),
    }


def build_figures(results: dict, total_steps: int) -> dict:
    return charts.run_figures(
        results["steps"],
        results["site_matrix"],
        results["evaluations"],
        results["scans"],
        results["fits"],
        schedule="actcool",
        total_steps=total_steps,
    )


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(quick: bool = False, smoke: bool = False) -> list[dict]:
    """Build the 100k-step run in a temporary store, time the Runs page; return the figures.

    ``smoke`` (CI) uses a 5k-step run to check the code path."""
    repeats = 1 if smoke else 3 if quick else 7
    steps = 5_000 if smoke else 100_000
    figures = []
    with tempfile.TemporaryDirectory(prefix="actcool-dashboard-bench-") as tmp:
        store = Store(Path(tmp) / "store")
        run_id, build_s = build_big_run(store, steps=steps)
        figures.append(
            figure(
                f"build {steps // 1000}k-step x 56-site run with bulk inserts",
                round(build_s, 2),
                "s",
                "informational",
                True,
            )
        )
        results = page_queries(store, run_id)
        query_s = median_seconds(lambda: page_queries(store, run_id), repeats)
        figures.append(
            figure(
                f"Runs page queries (downsampled), {steps // 1000}k steps x 56 sites",
                round(query_s * 1e3, 1),
                "ms",
                "informational",
                True,
            )
        )
        build_figures(results, steps)  # warm-up: imports and plotly's validators
        build = median_seconds(lambda: build_figures(results, steps), repeats)
        figures.append(
            figure(
                f"Runs page figures built (6 charts, median of {repeats}), {steps // 1000}k steps x 56 sites",
                round(build, 3),
                "s",
                f"<= {BUILD_GOAL_S:g}",
                build <= BUILD_GOAL_S,
            )
        )
        built = build_figures(results, steps)
        serialise = median_seconds(lambda: [f.to_json() for f in built.values()], repeats)
        figures.append(
            figure(
                "Runs page figures serialised to JSON (what the browser receives)",
                round(serialise, 3),
                "s",
                "informational",
                True,
            )
        )
        points = len(results["steps"]) + results["site_matrix"][2].size
        figures.append(
            figure(
                "values drawn of the step series and site heatmap",
                points,
                "values",
                f"<= {DISPLAY_POINTS + 56 * DISPLAY_STEPS}",
                points <= DISPLAY_POINTS + 56 * DISPLAY_STEPS,
            )
        )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    main(parser.parse_args().quick)
