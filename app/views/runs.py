"""Runs: one run's status, progress and ETA, stop and resume, and its live charts.

While the run is queued or running, the panel below the picker is an ``st.fragment`` that
reruns every 2 s (the rest of the page stays put): learning rate, mean temperature and
target, per-site temperatures, errors, the LR range heatmap with the rate actually used
and e^μ, and the pattern-model fits over time.
"""

from __future__ import annotations

import time

import streamlit as st

from app import charts, data, summary, ui
from trainer import worker

REFRESH_SECONDS = 2.0
RESUMED = "runs_resumed"  # session key: {run_id: time} of resumes asked for here
state = st.session_state

st.title("Runs")
with data.guard():
    runs = data.runs()
if len(runs) == 0:
    ui.empty_store_hint("runs")

c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
with c2:
    statuses = ui.multiselect_filter("Status", runs["status"], key="runs_status_filter")
shown = runs[runs["status"].isin(statuses)] if statuses else runs
if len(shown) == 0:
    st.info("No run has the chosen status; clear the status filter.")
    st.stop()
with c1:
    running = shown[shown["status"] == "running"]["id"].tolist()
    default = state.get(ui.SELECTED_RUN) or (running[0] if running else None)
    run_id = ui.run_picker(shown, "Run", key="runs_pick", default=default)
state[ui.SELECTED_RUN] = run_id

resumed_at = state.setdefault(RESUMED, {}).get(run_id, 0.0)
starting = time.time() - resumed_at < 60  # a resumed run takes a few seconds to start
with data.guard():
    live = data.get_run(run_id)["status"] in summary.LIVE or starting


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def run_panel(run_id: str, was_live: bool) -> None:
    """Status, progress, buttons and every chart of one run."""
    with data.guard():
        run = data.get_run(run_id)
        steps = data.steps(run_id)
    status = run["status"]
    now_live = status in summary.LIVE or time.time() - state[RESUMED].get(run_id, 0.0) < 60
    if now_live != was_live:
        data.clear()  # the picker's labels and the refresh timer must see the new status
        st.rerun()

    config = run["config"] or {}
    schedule = run.get("schedule")
    head, buttons = st.columns([4, 1], vertical_alignment="center")
    with head:
        st.subheader(f"{summary.STATUS_ICONS.get(status, '')} {run['name']}")
        details = [
            f"id `{run_id}`",
            " on ".join(str(config[k]) for k in ("model", "dataset") if config.get(k)),
            schedule or "",
            config.get("optimizer") or "",
            f"batch {config['batch_size']}" if config.get("batch_size") else "",
            f"seed {config['seed']}" if config.get("seed") is not None else "",
            f"tags: {', '.join(run['tags'])}" if run["tags"] else "",
        ]
        st.caption(" · ".join(d for d in details if d))
    with buttons:
        if status in ("running", "queued"):
            if st.button("Stop", icon=":material/stop:", key=f"do_stop_{run_id}", width="stretch"):
                with data.guard():
                    data.store().request_stop(run_id)
                data.clear()
                st.toast("Stop requested: the trainer checkpoints and stops within seconds.")
        elif status in summary.RESUMABLE:
            if st.button("Resume", icon=":material/play_arrow:", key=f"do_resume_{run_id}",
                         width="stretch"):
                try:
                    worker.resume_detached(data.store(), run_id)
                except (ValueError, KeyError, OSError) as exc:
                    st.error(f"Cannot resume: {exc}")
                else:
                    state[RESUMED][run_id] = time.time()
                    data.clear()
                    st.rerun()

    ui.status_message(run)
    if status == "queued" and len(steps) == 0:
        st.caption("Its charts appear here as soon as the worker starts it.")
        return
    done = summary.progress(run, steps)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Steps", f"{done.done:,}" + (f" / {done.total:,}" if done.total else ""))
    if status == "running":
        c2.metric("Speed (steps/s)",
                  f"{done.steps_per_second:.1f}" if done.steps_per_second else "—")
    else:
        wall = (run.get("summary") or {}).get("wall_time")
        c2.metric("Training time", summary.format_duration(wall))
    c3.metric("ETA", summary.format_duration(done.eta_seconds) if status == "running" else "—")
    last_temperature = steps["mean_temperature"].dropna()
    c4.metric("Mean temperature",
              f"{last_temperature.iloc[-1]:.2f} bits" if len(last_temperature) else "—")
    if done.total:
        st.progress(done.fraction, text=f"{done.fraction:.0%} of training")

    with data.guard():
        figures = charts.run_figures(
            steps, data.site_matrix(run_id), data.evaluations(run_id), data.scans(run_id),
            data.fits(run_id), schedule=schedule, total_steps=done.total,
        )
    for left_name, right_name in (("lr", "temperature"), ("sites", "error"), ("scans", "fits")):
        left, right = st.columns(2, gap="medium")
        with left:
            ui.chart(figures[left_name])
        with right:
            ui.chart(figures[right_name])
    if status in summary.LIVE:
        st.caption(f"Refreshing every {REFRESH_SECONDS:g} s while the run is live.")


run_panel(run_id, live)
