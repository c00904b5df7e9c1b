"""The Compare page under streamlit.testing's AppTest, against seeded temporary stores.

Widget edits that need a browser (a lasso stroke, a table edit) are seeded through
session_state under the widget's key, as the front end would send them.
"""

from __future__ import annotations

import pytest

from tests.app.page_helpers import (
    assert_clean,
    figure,
    figures,
    log_guard_cuts,
    open_page,
    titles,
    values,
)
from tests.app.seed import seed_run


def test_compare_empty_store_says_what_to_do(store):
    at = open_page("compare")
    assert_clean(at)
    assert "Launch" in at.info[0].value


def test_compare_overlays_a_tagged_group(store):
    a = seed_run(store, "actcool", tags=("compare-1",), seed=0, granularity="unit:64")
    b = seed_run(store, "onecycle", tags=("compare-1",), seed=1, granularity="unit:64")
    seed_run(store, "cosine", granularity="sample")  # newest, but not in the group
    at = open_page("compare")
    assert_clean(at)
    assert not at.warning  # one granularity
    assert sorted(at.multiselect(key="compare_runs").value) == sorted([a, b])
    shown = titles(at)
    assert {"Learning rate", "Mean temperature (bits, unit:64)", "Validation error (%)"} <= set(
        shown
    )
    assert sum(t.startswith(("actcool-s0", "onecycle-s1")) for t in shown) == 2  # LR heatmaps
    lr = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Learning rate")
    assert lr["layout"]["yaxis"]["type"] == "log"
    colors = {t["name"].split(" · ")[0]: t["line"]["color"] for t in lr["data"]}
    assert colors == {"actcool-s0": "#D55E00", "onecycle-s1": "#0072B2"}
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["onecycle-s1", "final test error (%)"] == 6.0
    assert table.loc["actcool-s0", "best val error (%)"] == pytest.approx(25 / 3)
    assert len(at.get("download_button")) == 2
    assert set(table["granularity"]) == {"unit:64"}


def test_compare_says_each_schedules_seed_to_seed_spread(store):
    """The demo's comparison: the same seeds per schedule, and a caption with each schedule's
    mean test error, its spread from seed to seed, and whether the means differ beyond it."""
    for schedule in ("actcool", "onecycle"):
        for seed in (0, 1, 2):  # seed_run records a test error of 5 + seed
            seed_run(store, schedule, tags=("demo",), seed=seed)
    at = open_page("compare")
    assert_clean(at)
    (caption,) = [c.value for c in at.caption if c.value.startswith("Final test error by")]
    assert "**ActCoolLR** 6.00% (5.00–7.00%, 3 runs, seeds 0, 1, 2)" in caption
    assert "**1-cycle** 6.00% (5.00–7.00%, 3 runs, seeds 0, 1, 2)" in caption
    assert "The means differ by 0.00 points" in caption and "up to 2.00 points" in caption


def test_compare_marks_the_guard_cuts_on_the_rate_overlay(store):
    a = seed_run(store, "actcool", tags=("compare-1",), seed=0, granularity="unit:64")
    seed_run(store, "onecycle", tags=("compare-1",), seed=1, granularity="unit:64")
    log_guard_cuts(store, a)
    at = open_page("compare")
    assert_clean(at)
    rate = figure(at, "Learning rate")
    cuts = rate["data"][-1]
    assert cuts["name"] == "cut by the divergence guard" and values(cuts, "x") == [30, 60]
    assert cuts["text"][0].startswith("actcool-s0")
    at.radio(key="compare_by").set_value("fraction").run()
    assert_clean(at)
    cuts = figure(at, "Learning rate")["data"][-1]
    assert values(cuts, "x") == pytest.approx([30 / 120, 60 / 120])


def test_compare_warns_on_mixed_granularities_and_splits_temperatures(store):
    a = seed_run(store, "actcool", tags=("compare-1",), seed=0, granularity="unit:64")
    b = seed_run(store, "onecycle", tags=("compare-1",), seed=1, granularity="sample")
    c = seed_run(store, "cosine", tags=("compare-1",), seed=2, granularity="unit:64")
    at = open_page("compare")
    assert_clean(at)
    assert sorted(at.multiselect(key="compare_runs").value) == sorted([a, b, c])
    (warning,) = at.warning
    assert "different granularities" in warning.value

    def named(granularity: str) -> set[str]:  # the runs the warning lists for a granularity
        return set(
            warning.value.split(f"**{granularity}**: ")[1].split(";")[0].split(". ")[0].split(", ")
        )

    assert named("unit:64") == {f"actcool-s0 · {a}", f"cosine-s2 · {c}"}
    assert named("sample") == {f"onecycle-s1 · {b}"}
    # one temperature overlay per granularity, each with only its own runs
    hot = figure(at, "Mean temperature (bits, unit:64)")
    assert sorted(t["name"] for t in hot["data"]) == [f"actcool-s0 · {a}", f"cosine-s2 · {c}"]
    assert hot["layout"]["yaxis"]["title"]["text"] == "mean temperature (bits, unit:64)"
    cold = figure(at, "Mean temperature (bits, sample)")
    assert [t["name"] for t in cold["data"]] == [f"onecycle-s1 · {b}"]
    assert not [t for t in titles(at) if t == "Mean temperature (bits)"]
    # rates and errors stay overlaid for every run
    assert len(figure(at, "Learning rate")["data"]) == 3
    assert len(figure(at, "Validation error (%)")["data"]) == 3
    # the heatmaps name their granularity on the colour bar
    heat = figure(at, f"onecycle-s1 · {b}")
    assert heat["data"][0]["colorbar"]["title"]["text"] == "bits<br>sample"
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["onecycle-s1", "granularity"] == "sample"


def test_compare_by_fraction_and_filters(store):
    seed_run(store, "actcool", tags=("compare-1",))
    seed_run(store, "onecycle", tags=("compare-1",))
    seed_run(store, "cosine", status="failed", tags=("compare-1",))
    at = open_page("compare")
    at.radio(key="compare_by").set_value("fraction").run()
    assert_clean(at)
    lr = next(f for f in figures(at) if f["layout"]["title"]["text"] == "Learning rate")
    assert lr["layout"]["xaxis"]["tickformat"] == ".0%"
    at.multiselect(key="compare_schedule").set_value(["onecycle"]).run()
    assert_clean(at)
    assert len(at.multiselect(key="compare_runs").value) == 1
    at.multiselect(key="compare_status").set_value(["failed"]).run()
    assert any("No run matches" in i.value for i in at.info)


def test_comparison_csv_has_every_value_of_every_metric(store):
    import io

    import pandas as pd

    from app import data

    a = seed_run(store, "actcool", steps=120)
    b = seed_run(store, "onecycle", steps=80)
    csv = pd.read_csv(io.BytesIO(data.comparison_csv((a, b), "fraction", {a: "A", b: "B"})))
    assert list(csv.columns) == ["run_id", "run", "metric", "fraction", "value"]
    csv = pd.read_csv(
        io.BytesIO(
            data.comparison_csv((a, b), "fraction", {a: "A", b: "B"}, {a: "unit:64", b: "sample"})
        )
    )
    assert list(csv.columns) == ["run_id", "run", "granularity", "metric", "fraction", "value"]
    assert set(csv.loc[csv["run_id"] == b, "granularity"]) == {"sample"}
    lr = csv[csv["metric"] == "lr"]
    assert (lr["run_id"] == a).sum() == 120 and (lr["run_id"] == b).sum() == 80
    assert lr["fraction"].max() == pytest.approx(119 / 120)
    assert set(csv["run"]) == {"A", "B"}
    assert {"mean_temperature", "val_error", "test_error"} <= set(csv["metric"])
