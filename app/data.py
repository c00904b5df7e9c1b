"""The dashboard's reads of the store: cached query functions, one store per ACTCOOL_HOME.

Every query is a ``st.cache_data`` function of the store's home and its arguments, with a
short time-to-live so live runs show new data within a few seconds while a page that draws
the same data twice reads it once. The home is read from the environment at call time
(``$ACTCOOL_HOME``, default ``./actcool-data``), so tests point the app at a temporary
store by setting the variable. Long series are downsampled for display here
(``DISPLAY_POINTS``, ``DISPLAY_STEPS``); exports read the full data.

A trainer holds a file only for milliseconds, so the store waits out lock conflicts
itself; a conflict that outlasts ``LOCK_TIMEOUT`` reaches the page only as the
:func:`guard` warning "store busy, retrying", never as a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import streamlit as st

from app.charts import DISPLAY_POINTS, DISPLAY_STEPS
from storage import LockTimeout, Store, UnreadableStore
from storage.store import default_home

__all__ = [
    "DISPLAY_POINTS",
    "DISPLAY_STEPS",
    "aligned",
    "aligned_guard_events",
    "check_store",
    "clear",
    "comparison_csv",
    "curves",
    "evaluations",
    "fits",
    "get_run",
    "guard",
    "guard_events",
    "home",
    "runs",
    "scans",
    "site_matrix",
    "steps",
    "store",
]

TTL = 1.0  # seconds a cached query stays fresh: below the 2 s live refresh
LOCK_TIMEOUT = 10.0  # seconds to wait for a trainer's file lock before "store busy"
RETRY_SECONDS = 1.0
RETRIES = 30  # reruns in a row before the page waits for the user (or its live refresh)
_RETRIED = "store_busy_retries"  # session key: reruns in a row caused by lock conflicts
_SEEN = "store_seen"  # session key: (home, creation time of its catalog) when last read
EXPORT_METRICS = (
    "lr",
    "loss",
    "mean_temperature",
    "target_temperature",
    "train_error",
    "val_error",
    "test_error",
)


def home() -> str:
    """The store folder the app reads, from ``$ACTCOOL_HOME`` now (default ./actcool-data)."""
    return str(default_home().absolute())


def store() -> Store:
    """A :class:`storage.Store` on :func:`home`, with the dashboard's shorter lock wait."""
    return Store(home(), lock_timeout=LOCK_TIMEOUT)


def _store(at: str) -> Store:
    return Store(at, lock_timeout=LOCK_TIMEOUT)


def check_store() -> None:
    """Before a page: say so when the store was deleted or replaced since this session last
    read it (its runs are gone from view; an empty store is in its place), and stop the page
    at a store file that cannot be read, offering to move it aside."""
    try:
        identity = (home(), store().created_at())  # creates an empty store where none is
    except UnreadableStore as exc:
        unreadable(exc)
    except LockTimeout:
        return  # the page's own reads wait for the lock and say "store busy"
    seen = st.session_state.get(_SEEN)
    if seen is not None and seen[0] == identity[0] and seen != identity:
        st.cache_data.clear()  # nothing read from the old store may be shown
        st.warning(
            f"The store at `{home()}` was deleted or replaced while the dashboard was open: "
            "the runs it held are no longer shown, and an empty store is used in its place. "
            "A worker still serving the old folder carries on; its runs are not listed here.",
            icon=":material/folder_off:",
        )
    st.session_state[_SEEN] = identity


def unreadable(exc: UnreadableStore) -> None:
    """The page for a store file that cannot be read: what happened, and a button that moves
    the file aside so that an empty store takes its place. Stops the page."""
    st.error(f"The store cannot be read: {exc}", icon=":material/error:")
    if st.button(
        "Move it aside and start an empty store",
        key="do_set_aside",
        icon=":material/drive_file_move:",
    ):
        moved = store().set_aside()
        clear()
        st.session_state.pop(_SEEN, None)
        st.success(f"Moved it to `{moved}`; the store is empty now.")
        st.button("Continue", key="do_after_set_aside")
    st.stop()


@contextmanager
def guard() -> Iterator[None]:
    """Turn a lock conflict in the block into a warning and a rerun a second later.

    After :data:`RETRIES` conflicts in a row the page stops at the warning instead; the next
    interaction (or a live panel's refresh) tries again.
    """
    try:
        yield
    except UnreadableStore as exc:
        unreadable(exc)
    except LockTimeout:
        retried = st.session_state.get(_RETRIED, 0)
        st.warning(
            "Store busy (a trainer is writing to it), retrying…", icon=":material/hourglass_top:"
        )
        if retried >= RETRIES:
            st.session_state[_RETRIED] = 0
            st.stop()
        st.session_state[_RETRIED] = retried + 1
        time.sleep(RETRY_SECONDS)
        st.rerun()
    else:
        st.session_state.pop(_RETRIED, None)


# ---------------------------------------------------------------------- catalog
def runs() -> pd.DataFrame:
    """:meth:`Store.list_runs`: every run, newest first."""
    return _runs(home())


@st.cache_data(ttl=TTL, show_spinner=False)
def _runs(at: str) -> pd.DataFrame:
    return _store(at).list_runs()


def get_run(run_id: str) -> dict:
    """:meth:`Store.get_run` (KeyError for an unknown id)."""
    return _get_run(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _get_run(at: str, run_id: str) -> dict:
    return _store(at).get_run(run_id)


def curves() -> pd.DataFrame:
    """:meth:`Store.list_curves`: saved target curves by name."""
    return _curves(home())


@st.cache_data(ttl=TTL, show_spinner=False)
def _curves(at: str) -> pd.DataFrame:
    return _store(at).list_curves()


def clear() -> None:
    """Forget cached queries, after the app itself changed the store (saved, queued...)."""
    for query in (_runs, _get_run, _curves):
        query.clear()


# ---------------------------------------------------------------------- one run
def steps(run_id: str, max_points: int | None = DISPLAY_POINTS) -> pd.DataFrame:
    """:meth:`Store.steps`, downsampled to ``max_points`` rows (None: all)."""
    return _steps(home(), run_id, max_points)


@st.cache_data(ttl=TTL, show_spinner=False)
def _steps(at: str, run_id: str, max_points: int | None) -> pd.DataFrame:
    return _store(at).steps(run_id, max_points=max_points)


def site_matrix(
    run_id: str, max_steps: int | None = DISPLAY_STEPS
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:meth:`Store.site_matrix`: (names, steps (T,), temperatures (S, T)), T <= max_steps."""
    return _site_matrix(home(), run_id, max_steps)


@st.cache_data(ttl=TTL, show_spinner=False)
def _site_matrix(
    at: str, run_id: str, max_steps: int | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    return _store(at).site_matrix(run_id, max_steps=max_steps)


def scans(run_id: str) -> pd.DataFrame:
    """:meth:`Store.scans`: LR range scans, 'mean' rows and per site."""
    return _scans(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _scans(at: str, run_id: str) -> pd.DataFrame:
    return _store(at).scans(run_id)


def fits(run_id: str) -> pd.DataFrame:
    """:meth:`Store.fits`: per scan, site ('mean' too) and model (Gaussian: μ, σ; Weibull:
    λ0, k), the RMSE and why there is no fit; see :func:`app.summary.normalize_fits`."""
    return _fits(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _fits(at: str, run_id: str) -> pd.DataFrame:
    return _store(at).fits(run_id)


def evaluations(run_id: str) -> pd.DataFrame:
    """:meth:`Store.evaluations`: errors (%) and losses per evaluation."""
    return _evaluations(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _evaluations(at: str, run_id: str) -> pd.DataFrame:
    return _store(at).evaluations(run_id)


def guard_events(run_id: str) -> pd.DataFrame:
    """:meth:`Store.guard_events`: the divergence guard's cuts of the rate, in step order."""
    return _guard_events(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _guard_events(at: str, run_id: str) -> pd.DataFrame:
    return _store(at).guard_events(run_id)


# ---------------------------------------------------------------------- several runs
def aligned(
    run_ids: tuple[str, ...], metric: str, by: str, max_points: int | None = DISPLAY_POINTS
) -> pd.DataFrame:
    """:meth:`Store.aligned`: one metric of several runs, long format (run_id, x, value)."""
    return _aligned(home(), tuple(run_ids), metric, by, max_points)


@st.cache_data(ttl=TTL, show_spinner=False)
def _aligned(
    at: str, run_ids: tuple[str, ...], metric: str, by: str, max_points: int | None
) -> pd.DataFrame:
    return _store(at).aligned(list(run_ids), metric=metric, by=by, max_points=max_points)


def aligned_guard_events(run_ids: tuple[str, ...], by: str) -> pd.DataFrame:
    """:meth:`Store.aligned_guard_events`: the guard's cuts of several runs on the x axis
    of :func:`aligned` (run_id, x, step, reason, detail, lr_before, lr_after)."""
    return _aligned_guard_events(home(), tuple(run_ids), by)


@st.cache_data(ttl=TTL, show_spinner=False)
def _aligned_guard_events(at: str, run_ids: tuple[str, ...], by: str) -> pd.DataFrame:
    return _store(at).aligned_guard_events(list(run_ids), by=by)


def comparison_csv(
    run_ids: tuple[str, ...],
    by: str,
    labels: dict[str, str],
    granularities: dict[str, str] | None = None,
) -> bytes:
    """Every recorded value (not downsampled) of :data:`EXPORT_METRICS` of several runs, as
    CSV in long format: run_id, run (label), granularity (of the temperatures, when given),
    metric, step or fraction, value. Uncached: it runs when the download button is pressed."""
    source = store()
    frames = []
    for metric in EXPORT_METRICS:
        values = source.aligned(list(run_ids), metric=metric, by=by)
        values.insert(1, "metric", metric)
        frames.append(values)
    table = pd.concat(frames, ignore_index=True).rename(columns={"x": by})
    table.insert(1, "run", table["run_id"].map(labels))
    if granularities is not None:
        table.insert(2, "granularity", table["run_id"].map(granularities))
    return table.to_csv(index=False).encode()
