"""Compare: several runs side by side, against steps or the fraction of training.

Filter the runs, pick some, and overlay their learning rate (each cut of ActCoolLR's
divergence guard marked), mean temperature and validation error; a table gives final and
best test error, wall time and steps; the LR range heatmaps sit side by side on one colour
scale; the full data downloads as CSV.

Temperatures are only comparable between runs measured at the same granularity (what one
activation pattern is: ``unit:64``, ``position``, ``sample``). When the chosen runs mix
granularities the page says which run uses which and draws temperatures once per
granularity (one overlay and one heatmap colour scale each); rates and errors stay overlaid.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, configs, data, summary, ui

AXES = {"step": "step", "fraction": "fraction of training"}
OVERLAYS = ("lr", "mean_temperature", "val_error")
HEATMAPS_PER_ROW = 2
state = st.session_state


def default_selection(runs: pd.DataFrame) -> list[str]:
    """The newest group of runs launched together (a compare-* or demo tag), else the
    newest four runs."""
    for tags in runs["tags"]:
        group = next((t for t in tags if t.startswith("compare-") or t == "demo"), None)
        if group:
            return runs[runs["tags"].map(lambda ts, g=group: g in ts)]["id"].tolist()[:8]
    return runs["id"].tolist()[:4]


st.title("Compare runs")
with data.guard():
    runs = data.runs()
if len(runs) == 0:
    ui.empty_store_hint("runs to compare")

with st.expander("Filter runs", expanded=False):
    c1, c2, c3, c4, c5 = st.columns(5)
    with c1:
        statuses = ui.multiselect_filter("Status", runs["status"], "compare_status")
    with c2:
        tags = ui.multiselect_filter("Tag", [t for ts in runs["tags"] for t in ts], "compare_tag")
    with c3:
        models = ui.multiselect_filter("Model", runs["model"], "compare_model")
    with c4:
        datasets = ui.multiselect_filter("Dataset", runs["dataset"], "compare_dataset")
    with c5:
        schedules = ui.multiselect_filter("Schedule", runs["schedule"], "compare_schedule")
mask = pd.Series(True, index=runs.index)
for column, wanted in (
    ("status", statuses),
    ("model", models),
    ("dataset", datasets),
    ("schedule", schedules),
):
    if wanted:
        mask &= runs[column].isin(wanted)
if tags:
    mask &= runs["tags"].map(lambda ts: any(t in ts for t in tags))
candidates = runs[mask]
if len(candidates) == 0:
    st.info("No run matches the filters; loosen them above.")
    st.stop()

labels = {row["id"]: summary.run_label(row) for row in candidates.to_dict("records")}
if "compare_runs" in state:  # drop picks that the filters (or a deletion) removed
    state["compare_runs"] = [r for r in state["compare_runs"] if r in labels]
else:
    state["compare_runs"] = default_selection(candidates)
c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
picked = c1.multiselect(
    "Runs",
    list(labels),
    format_func=labels.__getitem__,
    key="compare_runs",
    placeholder="choose runs to compare",
)
by = c2.radio("x axis", list(AXES), format_func=AXES.get, horizontal=True, key="compare_by")
if not picked:
    st.info("Choose at least one run above.")
    st.stop()

chosen = candidates.set_index("id").loc[picked].reset_index()
names = dict(zip(chosen["id"], chosen["name"] + " · " + chosen["id"], strict=True))
schedule_of = dict(zip(chosen["id"], chosen["schedule"], strict=True))
granularity_of = {
    row["id"]: summary.granularity_of(row.get("config")) for row in chosen.to_dict("records")
}
groups = summary.granularity_groups(granularity_of)  # {granularity: run ids}
live = bool(chosen["status"].isin(summary.LIVE).any())
if len(groups) > 1:
    st.warning(
        "The chosen runs measured temperature at different granularities, and temperatures "
        "of different granularities are not comparable: "
        + "; ".join(
            f"**{g}**: {', '.join(names[r] for r in members)}" for g, members in groups.items()
        )
        + ". Temperatures are drawn once per granularity below; learning rates and errors "
        "are overlaid as usual.",
        icon=":material/warning:",
    )


def in_rows(items: list, size: int = 2) -> list[list]:
    """``items`` in rows of ``size``, for side-by-side charts."""
    return [items[i : i + size] for i in range(0, len(items), size)]


@st.fragment(run_every=5 if live else None)
def comparison(run_ids: tuple[str, ...], by: str) -> None:
    """Overlays, the table and the LR range heatmaps of the chosen runs."""
    with data.guard():
        overlays = {
            metric: data.aligned(run_ids, metric, by)
            for metric in OVERLAYS
            if metric != "mean_temperature"
        }
        temperatures = {
            g: data.aligned(tuple(members), "mean_temperature", by) for g, members in groups.items()
        }  # never across granularities
        cuts = data.aligned_guard_events(run_ids, by)  # marked on the learning rates
        evaluations = {run_id: data.evaluations(run_id) for run_id in run_ids}
        steps = {run_id: data.steps(run_id) for run_id in run_ids}
        scans = {run_id: data.scans(run_id) for run_id in run_ids}
        fits = {run_id: data.fits(run_id) for run_id in run_ids}
    table = summary.compare_table(chosen, evaluations, steps)
    figures = [
        charts.overlay_figure(overlays["lr"], "lr", by, names, schedule_of, guard_events=cuts),
        *(
            charts.overlay_figure(values, "mean_temperature", by, names, schedule_of, g)
            for g, values in temperatures.items()
        ),
        charts.overlay_figure(overlays["val_error"], "val_error", by, names, schedule_of),
        charts.result_bars(table),
    ]
    for row in in_rows(figures):
        for column, figure in zip(st.columns(2, gap="medium"), row, strict=False):
            with column:
                ui.chart(figure)
    st.subheader("Results")
    seeds = {row["id"]: (row.get("config") or {}).get("seed") for row in chosen.to_dict("records")}
    if spread := summary.seed_spread(table, seeds, configs.SCHEDULE_LABELS):
        st.caption(spread)
    st.dataframe(
        table.drop(columns=["id"]),
        hide_index=True,
        width="stretch",
        column_config={
            "final test error (%)": st.column_config.NumberColumn(format="%.2f"),
            "best test error (%)": st.column_config.NumberColumn(format="%.2f"),
            "best val error (%)": st.column_config.NumberColumn(format="%.2f"),
            "wall time (s)": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button(
        "Download data (CSV)",
        functools.partial(data.comparison_csv, run_ids, by, names, granularity_of),
        file_name=f"actcool-compare-{by}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="do_download_data",
        help="Every recorded value of every chosen run (not downsampled), long format.",
    )
    d2.download_button(
        "Download table (CSV)",
        table.to_csv(index=False).encode(),
        file_name="actcool-compare-results.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/table:",
        key="do_download_table",
    )

    st.subheader("LR range scans")
    st.caption(
        "Colour: mean temperature (bits), one colour scale for all runs of a "
        "granularity. Cyan: the learning rate used; white diamonds: the critical rate "
        "e^μ of the Gaussian fit at each scan; white circles: the Weibull scale λ0."
    )
    for g, members in groups.items():
        if len(groups) > 1:
            st.markdown(f"**Granularity {g}**")
        tops = [
            scans[r].loc[scans[r]["site"] == "mean", "temperature"].max()
            for r in members
            if len(scans[r])
        ]
        zmax = float(np.nanmax(tops)) if tops and np.isfinite(np.nanmax(tops)) else None
        for row in in_rows(members, HEATMAPS_PER_ROW):
            for column, run_id in zip(st.columns(HEATMAPS_PER_ROW), row, strict=False):
                with column:
                    total = chosen.set_index("id").loc[run_id, "summary"].get("total_steps")
                    ui.chart(
                        charts.scan_heatmap(
                            scans[run_id],
                            steps[run_id],
                            fits[run_id],
                            total,
                            title=names[run_id],
                            zmax=zmax,
                            granularity=g,
                        )
                    )
    if live:
        st.caption("Refreshing every 5 s while a chosen run is live.")


comparison(tuple(picked), by)
