"""Streamlit pieces shared by the pages: the sidebar, run pickers, status lines, hints."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app import configs, data, summary
from trainer.data.names import DATASET_NAMES
from trainer.models.names import MODEL_NAMES

__all__ = [
    "SELECTED_RUN",
    "chart",
    "dataset_input",
    "drop_stale",
    "empty_store_hint",
    "keep_settings",
    "run_picker",
    "sidebar_store_info",
    "status_message",
]

SELECTED_RUN = "selected_run"  # session key: the run the Runs page shows (set by Launch too)
# Keys of the pages' setting widgets; action widgets (buttons, the points table, the drawing
# chart) have keys that start otherwise ("do_", "points_", "draw_", "chart_").
SETTING_PREFIXES = ("design_", "launch_", "compare_", "runs_")
SIDEBAR_REFRESH_SECONDS = 3.0
_STATUSES = "store_statuses"  # session key: (store, (id, status) of every run) when last counted
IMAGEFOLDER = "imagefolder"  # the dataset choice that takes a folder path
CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def keep_settings() -> None:
    """Keep every page's settings while the user visits other pages.

    Streamlit forgets a widget's value when its page is not drawn; writing each setting's
    value back to session state at the start of every run keeps it (Streamlit's documented
    workaround for multipage apps). Called by the entry point, before the page runs.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(SETTING_PREFIXES):
            st.session_state[key] = st.session_state[key]


def drop_stale(key: str, options: Sequence) -> None:
    """Forget a kept choice that is no longer among a widget's options (a deleted curve or
    run), so the widget falls back to its default instead of failing."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if isinstance(value, list):
        st.session_state[key] = [v for v in value if v in options]
    elif value not in options:
        del st.session_state[key]


def sidebar_store_info() -> None:
    """Where the store is and whether a worker serves it, in the sidebar of every page."""
    with st.sidebar:
        st.markdown("**ActCool** · activation pattern temperature")
        st.caption(f"Store: `{data.home()}`")
        store_counts()


@st.fragment(run_every=SIDEBAR_REFRESH_SECONDS)
def store_counts() -> None:
    """How many runs there are, running and queued, and the worker: refreshed on its own
    every few seconds, so counts never outlive the runs they count. When a run appears,
    disappears or changes status, the whole page reruns, so that its run pickers and
    panels are not left behind either."""
    from trainer.worker import worker_pid

    try:
        runs = data.runs()
        pid = worker_pid(data.store())
    except data.GONE:  # deleted meanwhile: the whole page, whose check says so
        data.clear()
        st.rerun()
    except Exception:  # the page itself reports store problems; the sidebar stays quiet
        return
    statuses = tuple(zip(runs["id"], runs["status"], strict=True))
    previous = st.session_state.get(_STATUSES)
    st.session_state[_STATUSES] = (data.seen_store(), statuses)
    # A store replaced since the last count was just drawn afresh by the page, which said
    # so: rerunning it would take that message away.
    if previous is not None and previous[0] == data.seen_store() and previous[1] != statuses:
        data.clear()
        st.rerun()  # the whole page: run pickers and panels show the new statuses too
    counts = runs["status"].value_counts() if len(runs) else pd.Series(dtype=int)
    parts = [f"{counts[s]} {s}" for s in ("running", "queued") if s in counts]
    st.caption(f"{len(runs)} runs" + (f" ({', '.join(parts)})" if parts else ""))
    st.caption(f"Worker: running (pid {pid})" if pid else "Worker: not running")


def dataset_input(key: str, default: str = "digits", help: str | None = None) -> str:
    """A dataset picker: every trainer dataset, and ``imagefolder:<path>`` with a path field
    (absolute, or relative to the data folder). Returns the dataset name a RunConfig takes."""
    choices = [*DATASET_NAMES, IMAGEFOLDER]
    choice = st.selectbox(
        "Dataset",
        choices,
        index=choices.index(default),
        key=key,
        help=help,
        format_func=lambda d: "imagefolder:<path>" if d == IMAGEFOLDER else d,
    )
    if choice != IMAGEFOLDER:
        return choice
    path = st.text_input(
        "Image folder",
        "",
        key=f"{key}_path",
        placeholder="path/with/train-and-test",
        help="A folder with train/ and test/ (or val/) subfolders of one "
        "folder per class; absolute, or relative to the data folder.",
    )
    return f"{IMAGEFOLDER}:{path.strip()}"


TIMM = "timm:<name>"


def model_input(key: str, default: str) -> str:
    """A model picker: every trainer model, and ``timm:<name>`` with a name field (any timm
    model, built for the dataset; the ``timm`` extra). Returns the name a RunConfig takes."""
    choices = [*MODEL_NAMES, TIMM]
    choice = st.selectbox("Model", choices, index=choices.index(default), key=key)
    if choice != TIMM:
        return choice
    name = st.text_input(
        "timm model",
        key=f"{key}_timm",
        placeholder="e.g. resnet10t",
        help="Any name of timm.list_models(), trained from scratch for the dataset's classes "
        "and channels (needs pip install -e '.[timm]'). ConvNeXts need 32 px images (cifar10).",
    )
    return f"timm:{name.strip()}"


def empty_store_hint(what: str) -> None:
    """The empty state of a page that needs runs: say what to do, then stop the page."""
    demo = configs.demo_configs()
    names = " against ".join(
        dict.fromkeys(configs.SCHEDULE_LABELS.get(c.schedule, c.schedule) for c in demo)
    )
    st.info(
        f"No {what} yet. Launch a run on the **Launch** page — on an empty store it offers a "
        f"one-click demo ({names} on {demo[0].dataset}, {len(demo)} runs)."
    )
    st.page_link("views/launch.py", label="Go to Launch", icon=":material/rocket_launch:")
    st.stop()


def run_picker(runs: pd.DataFrame, label: str, key: str, default: str | None = None) -> str:
    """A selectbox of runs (newest first, labelled by name, id, status and, once a run has
    ended, its steps); returns an id."""
    ids = runs["id"].tolist()
    labels = {row["id"]: summary.picker_label(row) for row in runs.to_dict("records")}
    drop_stale(key, ids)
    index = ids.index(default) if default in labels else 0
    return st.selectbox(label, ids, index=index, format_func=labels.__getitem__, key=key)


def status_message(run: dict, log: str = "") -> None:
    """One line on the run's state; the error of failed and diverged runs, with traceback,
    and ``log`` (its training process's output) one click away."""
    status = run["status"]
    icon = summary.STATUS_ICONS.get(status)
    if status in ("failed", "diverged"):
        st.error(f"Run {status}: {run.get('error') or 'no message recorded'}", icon=icon)
        traceback = (run.get("traceback") or "").strip()
        if traceback and traceback not in log:
            with st.expander("Traceback"):
                st.code(run["traceback"], language="text")
        if log:
            with st.expander("Full log of its training process"):
                st.code(log, language="text")
    elif status in ("lost", "stopped") and (source := summary.tracked_source(run)):
        if status == "lost":
            st.warning(
                f"Run lost: {source} stopped sending heartbeats without recording an end "
                "(killed or crashed). Everything it flushed is kept.",
                icon=icon,
            )
        else:
            acknowledged = summary.stop_acknowledged(run)
            at = f" at step {acknowledged:,}" if acknowledged is not None else ""
            st.info(f"Stopped by its script{at}.", icon=icon)
    elif status == "lost":
        st.warning(
            "Run lost: its trainer stopped sending heartbeats without recording an end "
            "(killed or crashed). Resume it from its last checkpoint.",
            icon=icon,
        )
    elif status == "stopped":
        st.info("Stopped. Resume continues from the last checkpoint.", icon=icon)
    elif status == "queued":
        st.info("Queued: a worker will start it soon.", icon=icon)


def chart(figure, key: str | None = None) -> None:
    """``st.plotly_chart`` at full width with the dashboard's mode bar."""
    st.plotly_chart(figure, width="stretch", config=CHART_CONFIG, key=key)


def multiselect_filter(label: str, values: Sequence[str], key: str) -> list[str]:
    """A multiselect over the distinct non-empty ``values`` (sorted); empty means all."""
    options = sorted({str(v) for v in values if v is not None and str(v) != ""})
    drop_stale(key, options)
    return st.multiselect(label, options, key=key, placeholder="all")
