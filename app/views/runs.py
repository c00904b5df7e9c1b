"""Runs: one run's status, progress and ETA, stop and resume, and its live charts.

While the run is queued or running, the panel below the picker is an ``st.fragment`` that
reruns every 2 s (the rest of the page stays put): learning rate, mean temperature and
target, per-site temperatures, errors, the LR range heatmap with the rate actually used,
e^μ and λ0, the pattern-model fits over time, and one chosen scan with both response models
(Gaussian CDF and Weibull) fitted to it. Every temperature is labelled with the granularity
the run measured it at (``unit:64``, ``position`` or ``sample``). An ActCoolLR run's headline
also says what it steers by: its calibration and T_start (the calibrated default target) and
its control law (Weibull k or Gaussian σ); where its divergence guard cut the rate, the rate
chart marks each cut and the lowered ceiling. Resume puts a run back in the queue (offered only
when it has a checkpoint); Delete asks before removing a run with its checkpoints and log; a
failed run's headline is the last line of its process's log, the whole log one click away.
A run recorded by ``actcool.track`` (a user's script or Lightning) says so in its headline;
Stop asks its script to stop and the page says whether the script acknowledged it; it is
never offered Resume, since the dashboard does not own its process.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, data, summary, ui
from trainer import worker
from trainer.checkpoint import checkpoint_exists, run_checkpoint

REFRESH_SECONDS = 2.0
DELETING = "confirm_delete"  # session key: the run whose deletion awaits confirmation
DELETED = "deleted_flash"  # session key: what was deleted, said once on the next run
LOG_CHARS = 20_000  # the end of a run's log shown on the page
state = st.session_state
FIT_COLUMN_WIDTH = 80  # pixels of each number column of the scan-fit table
FIT_SITE_WIDTH = 150
FIT_COLUMNS = {  # the scan-fit table's number formats
    "e^μ": "%.3g",
    "σ": "%.2f",
    "Gaussian RMSE": "%.3f",
    "λ0": "%.3g",
    "k": "%.2f",
    "Weibull RMSE": "%.3f",
}

st.title("Runs")
if deleted := state.pop(DELETED, None):
    st.success(deleted, icon=":material/delete:")
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

with data.guard():
    live = data.get_run(run_id)["status"] in summary.LIVE


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def run_panel(run_id: str, was_live: bool) -> None:
    """Status, progress, buttons and every chart of one run."""
    try:
        with data.guard():
            run = data.get_run(run_id)
            steps = data.steps(run_id)
    except KeyError:  # deleted meanwhile (here, by the CLI, or with the store): pick again
        data.clear()
        st.rerun()
    status = run["status"]
    now_live = status in summary.LIVE
    if now_live != was_live:
        data.clear()  # the picker's labels and the refresh timer must see the new status
        st.rerun()

    config = run["config"] or {}
    schedule = run.get("schedule")
    granularity = summary.known_granularity(run)  # None: recorded elsewhere, not said
    source = summary.tracked_source(run)  # None: the trainer's own run
    head, buttons = st.columns([4, 1], vertical_alignment="center")
    with head:
        st.subheader(f"{summary.STATUS_ICONS.get(status, '')} {run['name']}")
        details = [
            f"id `{run_id}`",
            " on ".join(str(config[k]) for k in ("model", "dataset") if config.get(k)),
            schedule or "",
            config.get("optimizer") or "",
            f"batch {config['batch_size']}" if config.get("batch_size") else "",
            *summary.hardware_details(config),
            f"seed {config['seed']}" if config.get("seed") is not None else "",
            f"granularity {granularity}" if granularity else "",
            f"tags: {', '.join(run['tags'])}" if run["tags"] else "",
            f"recorded by {source}" if source else "",
        ]
        st.caption(" · ".join(d for d in details if d))
        if steering := summary.actcool_details(run, steps):
            st.caption("ActCoolLR: " + " · ".join(steering))
    with buttons:
        if status in ("running", "queued"):
            if st.button("Stop", icon=":material/stop:", key=f"do_stop_{run_id}", width="stretch"):
                with data.guard():
                    data.store().request_stop(run_id)
                data.clear()
                st.toast(
                    "Stop requested: the script sees it at its next step (run.stop_requested)."
                    if source
                    else "Stop requested: the trainer checkpoints and stops within seconds."
                )
        else:
            if (
                status in summary.RESUMABLE
                and can_resume(run)
                and st.button(
                    "Resume",
                    icon=":material/play_arrow:",
                    key=f"do_resume_{run_id}",
                    width="stretch",
                    help="Back into the queue; a worker continues it from its last checkpoint "
                    "(a run stopped before it started starts from the beginning).",
                )
            ):
                try:
                    with data.guard():
                        worker.resume(data.store(), run_id)
                except (ValueError, KeyError, OSError) as exc:
                    st.error(f"Cannot resume: {exc}")
                else:
                    data.clear()
                    st.rerun()
            if st.button(
                "Delete", icon=":material/delete:", key=f"do_delete_{run_id}", width="stretch"
            ):
                state[DELETING] = run_id
    if state.get(DELETING) == run_id and status not in summary.LIVE:
        confirm_delete(run)

    ui.status_message(run, run_log(run_id) if status in ("failed", "diverged") else "")
    if source and status == "running":
        stop_notice(run)
    if source and status in summary.RESUMABLE:
        st.caption(
            f"Recorded by {source}: the dashboard does not own its process, so it cannot "
            "resume it. Run the script again to train further."
        )
    elif status in summary.RESUMABLE and not can_resume(run):
        st.caption(
            "It cannot resume: it ended before its first checkpoint (written at the end "
            "of each epoch and at a stop). Launch it again instead."
        )
    if status == "queued" and len(steps) == 0:
        st.caption("Its charts appear here as soon as the worker starts it.")
        return
    done = summary.progress(run, steps)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Steps", f"{done.done:,}" + (f" / {done.total:,}" if done.total else ""))
    if status == "running":
        c2.metric(
            "Speed (steps/s)", f"{done.steps_per_second:.1f}" if done.steps_per_second else "—"
        )
    else:
        wall = (run.get("summary") or {}).get("wall_time")
        c2.metric("Training time", summary.format_duration(wall))
    c3.metric("ETA", summary.format_duration(done.eta_seconds) if status == "running" else "—")
    last_temperature = steps["mean_temperature"].dropna()
    c4.metric(
        "Mean temperature",
        f"{last_temperature.iloc[-1]:.2f} bits" if len(last_temperature) else "—",
        help=f"Measured at granularity {granularity}: temperatures of runs at other "
        "granularities are not comparable."
        if granularity
        else "Its granularity was not recorded: compare it with runs measured the same way.",
    )
    if done.total:
        st.progress(done.fraction, text=f"{done.fraction:.0%} of training")

    with data.guard():
        scans, fits = data.scans(run_id), data.fits(run_id)
        cuts = data.guard_events(run_id)
        figures = charts.run_figures(
            steps,
            data.site_matrix(run_id),
            data.evaluations(run_id),
            scans,
            fits,
            schedule=schedule,
            total_steps=done.total,
            granularity=granularity,
            guard_events=cuts,
        )
    for left_name, right_name in (("lr", "temperature"), ("sites", "error"), ("scans", "fits")):
        left, right = st.columns(2, gap="medium")
        with left:
            ui.chart(figures[left_name])
            if left_name == "lr" and len(cuts):
                st.caption(guard_caption(cuts))
        with right:
            ui.chart(figures[right_name])
    scan_fits(scans, fits, granularity)
    if status in summary.LIVE:
        st.caption(f"Refreshing every {REFRESH_SECONDS:g} s while the run is live.")


def guard_caption(cuts: pd.DataFrame) -> str:
    """What the divergence guard did, under the rate chart that marks its cuts."""
    times = "once" if len(cuts) == 1 else f"{len(cuts)} times"
    return (
        f"ActCoolLR's divergence guard cut the rate {times} (▼ on the learning-rate chart; "
        "hover for why): the rate was breaking the network. No later step trains above "
        f"{cuts['lr_after'].iloc[-1]:.3g}."
    )


def can_resume(run: dict) -> bool:
    """Whether Resume can take the run: it has a checkpoint, or it was stopped in the queue
    before it trained a step (it then starts from the beginning, as ``trainer.worker.resume``
    does). Never a run recorded by ``actcool.track``: its process is not ours to restart."""
    if summary.tracked_source(run):
        return False
    return run.get("started_at") is None or has_checkpoint(run["id"])


def stop_notice(run: dict) -> None:
    """Under a running tracked run: whether Stop was asked, and whether its script has seen
    it (the script acknowledges at its next ``run.step()``)."""
    acknowledged = summary.stop_acknowledged(run)
    if acknowledged is not None:
        st.info(
            f"Stop asked; the script acknowledged it at step {acknowledged:,} and is ending "
            "the run.",
            icon=":material/stop:",
        )
        return
    with data.guard():
        asked = data.store().stop_requested(run["id"])
    if asked:
        st.info(
            "Stop asked; waiting for the script to acknowledge it at its next step "
            "(it checks run.stop_requested).",
            icon=":material/hourglass_top:",
        )


def has_checkpoint(run_id: str) -> bool:
    """Whether the run has a checkpoint to resume from (where it recorded one, else under
    the store's ``checkpoints/``)."""
    with data.guard():
        return checkpoint_exists(run_checkpoint(data.store(), run_id))


def run_log(run_id: str) -> str:
    """The end of the log its worker process wrote (``<home>/logs/RUN_ID.log``), or ""."""
    try:
        return (Path(data.home()) / "logs" / f"{run_id}.log").read_text(errors="replace")[
            -LOG_CHARS:
        ]
    except OSError:
        return ""


def confirm_delete(run: dict) -> None:
    """Ask before deleting a run with its metrics, checkpoints and log."""
    with st.container(border=True):
        st.warning(
            f"Delete run **{run['name']}** ({run['id']}) with its metrics, checkpoints "
            "and log? This cannot be undone.",
            icon=":material/delete:",
        )
        c1, c2, _ = st.columns([1, 1, 4])
        if c1.button("Delete permanently", type="primary", key=f"do_confirm_delete_{run['id']}"):
            state.pop(DELETING, None)
            try:
                with data.guard():
                    worker.delete(data.store(), run["id"])
            except (ValueError, KeyError) as exc:
                st.error(f"Not deleted: {exc.args[0] if exc.args else exc}")
                return
            state.pop(ui.SELECTED_RUN, None)
            state[DELETED] = f"Deleted run {run['name']} ({run['id']})."
            data.clear()
            st.rerun()
        if c2.button("Cancel", key=f"do_cancel_delete_{run['id']}"):
            state.pop(DELETING, None)
            st.rerun(scope="fragment")


def scan_fits(scans: pd.DataFrame, fits: pd.DataFrame, granularity: str) -> None:
    """One LR range scan (a step, the mean or one site) with both response models over it,
    and every site's fits of that scan in a table."""
    st.subheader("Response models of one scan")
    if len(scans) == 0:
        st.caption("No LR range scan yet: one runs at the start and every scan interval.")
        return
    for message in summary.grid_edge_fits(scans, fits):
        st.warning(f"Fit at the edge of the scan grid: {message}.", icon=":material/straighten:")
    scan_steps = sorted(int(s) for s in pd.unique(scans["step"]))
    sites = ["mean", *(scans[scans["site"] != "mean"].sort_values("site_index")["site"].unique())]
    ui.drop_stale("runs_scan_step", scan_steps)
    ui.drop_stale("runs_scan_site", sites)
    c1, c2, _ = st.columns([1, 1, 2])
    step = c1.selectbox("Scan at step", scan_steps, index=len(scan_steps) - 1, key="runs_scan_step")
    site = c2.selectbox(
        "Site",
        sites,
        key="runs_scan_site",
        format_func=lambda s: "mean over sites" if s == "mean" else s,
    )
    left, right = st.columns(2, gap="medium")
    with left:
        ui.chart(charts.scan_fit_figure(scans, fits, step, site, granularity))
    table = summary.fit_table(fits, step)
    with right:
        st.caption(
            f"Fits of the scan at step {step}, every site below: Gaussian CDF P = "
            "Φ((ln λ − μ)/σ) and Weibull P = 1 − exp(−(λ/λ0)^k), RMSE in probability; "
            "*better* is the lower RMSE."
        )
        for row in table[table["note"] != ""].to_dict("records"):  # kept out of the table
            st.caption(f"**{row['site']}**: {row['note']}.")
    # the whole width, the columns sized to their numbers: it fits a 1280-pixel screen
    st.dataframe(
        table.drop(columns=["note"]),
        hide_index=True,
        width="stretch",
        column_config={
            "site": st.column_config.TextColumn(width=FIT_SITE_WIDTH),
            "better": st.column_config.TextColumn(width=FIT_COLUMN_WIDTH + 20),
            **{
                c: st.column_config.NumberColumn(
                    format=f, width=FIT_COLUMN_WIDTH + (20 if "RMSE" in c else 0)
                )
                for c, f in FIT_COLUMNS.items()
            },
        },
    )


run_panel(run_id, live)
