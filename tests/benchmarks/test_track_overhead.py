"""The tracking benchmark's code path at toy sizes: both figures well-formed, each verdict
following from its value and goal (the sizes are too small to judge the goals by)."""

from __future__ import annotations

import pytest

from benchmarks import track_overhead


@pytest.mark.e2e
def test_both_figures_come_from_one_smoke_run():
    rows = track_overhead.main(smoke=True)
    assert [r["figure"] for r in rows] == ["track_step_overhead", "track_row_lag"]
    for row, goal in zip(rows, track_overhead.GOALS.values(), strict=True):
        assert row["value"] > 0 and row["ok"] == (row["value"] <= goal)
    assert rows[1]["samples"] == 4
