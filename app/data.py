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

Only :func:`check_store`, before each page, creates a store (where there is none yet). Every
other read first checks that the store is whole (:func:`present`) and raises
:class:`StoreGone` where it is not, then reads its files read-only (``create=False``), which
raises :class:`storage.StoreNotFound` for a file gone since that check instead of creating
it. So a store folder deleted under the open dashboard is never written into while it is
being removed (a file created afresh there would make ``rm -r`` fail on the non-empty
folder). :func:`guard` turns either (:data:`GONE`) into a rerun of the page, where
:func:`check_store` waits until the folder is gone, then starts an empty store and says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app.charts import DISPLAY_POINTS, DISPLAY_STEPS
from storage import LockTimeout, Store, StoreNotFound, UnreadableStore
from storage.store import default_home

__all__ = [
    "DISPLAY_POINTS",
    "DISPLAY_STEPS",
    "GONE",
    "StoreGone",
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
    "present",
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
REMOVAL_POLL_SECONDS = 1.0  # how often a page waiting for a store folder's removal looks again
CATALOG = "catalog.duckdb"  # storage.Catalog.catalog_path's name: a store has one, and runs/
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


class StoreGone(Exception):
    """The store folder lost its catalog or its ``runs`` folder since the page started: it
    is being deleted (or was partly deleted). Nothing may be opened there, as opening a
    file creates it."""


# What a read raises for a store that is going: seen before the read (StoreGone), or during
# it (StoreNotFound: the store is opened with create=False and read-only, so a file that
# goes between the check and the read is an error, never a new file).
GONE = (StoreGone, StoreNotFound)


def present(at: str | None = None) -> bool:
    """Whether the store at ``at`` (default :func:`home`) is whole: its catalog file and its
    ``runs`` folder exist. Looks only; creates nothing."""
    folder = Path(home() if at is None else at)
    return (folder / CATALOG).is_file() and (folder / "runs").is_dir()


def store() -> Store:
    """A :class:`storage.Store` on :func:`home`, with the dashboard's shorter lock wait.

    Raises:
        StoreGone: the store is not whole (deleted while the page ran); :func:`guard` turns
            it into a rerun, where :func:`check_store` deals with it.
    """
    return _store(home())


def _store(at: str) -> Store:
    if not present(at):  # Store() would create the folder again while it is being removed
        raise StoreGone(at)
    # create=False: reads open files read-only and never create one, so a folder deleted
    # after the check above (rm -r deleting its files meanwhile) gets nothing written into it
    return Store(at, lock_timeout=LOCK_TIMEOUT, create=False)


def _run_store(at: str, run_id: str) -> Store:
    """:func:`_store` for reading one run's metrics file, which must exist: a store being
    deleted can lose a run's file before its catalog, and reading would create it again."""
    source = _store(at)
    if not source.run_path(run_id).exists():
        source.get_run(run_id)  # KeyError for a run deleted meanwhile: the pages pick again
        if not present(at):
            raise StoreGone(at)
    return source


def _runs_store(at: str, run_ids: tuple[str, ...]) -> Store:
    """:func:`_run_store` for several runs' metrics files."""
    source = _store(at)
    for run_id in run_ids:
        _run_store(at, run_id)
    return source


def check_store() -> None:
    """Before a page: make sure there is a store to read, and say what happened to the one
    this session read before.

    Where none is yet, an empty store is created. Where the store this session read has lost
    its catalog or ``runs`` folder but the folder is still there (it is being deleted), the
    page says so, writes nothing into it and stops; it looks again every
    :data:`REMOVAL_POLL_SECONDS` and starts an empty store only once the folder is gone.
    The page that first reads the new store says that the old one was deleted or replaced.
    A store file that cannot be read stops the page, offering to move it aside."""
    at = home()
    seen = st.session_state.get(_SEEN)
    if seen is not None and seen[0] == at and not present(at) and Path(at).exists():
        st.warning(
            f"The store at `{at}` is being deleted (its catalog or runs folder is gone): the "
            "dashboard writes nothing into the folder and starts an empty store once it is "
            "gone. If you removed only part of it, remove or rename the whole folder.",
            icon=":material/folder_delete:",
        )
        _wait_for_removal(at)
        st.stop()
    try:
        if present(at):  # read it without writing: it may be deleted while this looks
            identity = (at, Store(at, lock_timeout=LOCK_TIMEOUT, create=False).created_at())
        else:  # nothing there yet (or what a first visit found left of one): make a store
            identity = (at, Store(at, lock_timeout=LOCK_TIMEOUT).created_at())
    except StoreNotFound:  # deleted between the look and the read: the rerun waits for it
        st.rerun()
    except UnreadableStore as exc:
        unreadable(exc)
    except LockTimeout:
        return  # the page's own reads wait for the lock and say "store busy"
    if seen is not None and seen[0] == at and seen != identity:
        st.cache_data.clear()  # nothing read from the old store may be shown
        st.warning(
            f"The store at `{at}` was deleted or replaced while the dashboard was open: the "
            "runs it held are no longer shown, and an empty store was started in its place "
            "once the old folder was gone. A worker still serving the old folder carries on; "
            "its runs are not listed here.",
            icon=":material/folder_off:",
        )
    st.session_state[_SEEN] = identity


def seen_store() -> tuple | None:
    """The store this session last read: (home, creation time of its catalog), or None."""
    return st.session_state.get(_SEEN)


@st.fragment(run_every=REMOVAL_POLL_SECONDS)
def _wait_for_removal(at: str) -> None:
    """Rerun the page once the store folder at ``at`` is gone (or whole again)."""
    if not Path(at).exists() or present(at):
        st.rerun()


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
    """Turn a lock conflict in the block into a warning and a rerun a second later, and a
    store deleted meanwhile (:class:`StoreGone`) into a rerun of the whole page.

    After :data:`RETRIES` conflicts in a row the page stops at the warning instead; the next
    interaction (or a live panel's refresh) tries again.
    """
    try:
        yield
    except GONE:
        clear()
        st.rerun()  # the whole page: check_store waits for the folder to go, then says so
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
    return _run_store(at, run_id).steps(run_id, max_points=max_points)


def site_matrix(
    run_id: str, max_steps: int | None = DISPLAY_STEPS
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:meth:`Store.site_matrix`: (names, steps (T,), temperatures (S, T)), T <= max_steps."""
    return _site_matrix(home(), run_id, max_steps)


@st.cache_data(ttl=TTL, show_spinner=False)
def _site_matrix(
    at: str, run_id: str, max_steps: int | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    return _run_store(at, run_id).site_matrix(run_id, max_steps=max_steps)


def scans(run_id: str) -> pd.DataFrame:
    """:meth:`Store.scans`: LR range scans, 'mean' rows and per site."""
    return _scans(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _scans(at: str, run_id: str) -> pd.DataFrame:
    return _run_store(at, run_id).scans(run_id)


def fits(run_id: str) -> pd.DataFrame:
    """:meth:`Store.fits`: per scan, site ('mean' too) and model (Gaussian: μ, σ; Weibull:
    λ0, k), the RMSE and why there is no fit; see :func:`app.summary.normalize_fits`."""
    return _fits(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _fits(at: str, run_id: str) -> pd.DataFrame:
    return _run_store(at, run_id).fits(run_id)


def evaluations(run_id: str) -> pd.DataFrame:
    """:meth:`Store.evaluations`: errors (%) and losses per evaluation."""
    return _evaluations(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _evaluations(at: str, run_id: str) -> pd.DataFrame:
    return _run_store(at, run_id).evaluations(run_id)


def guard_events(run_id: str) -> pd.DataFrame:
    """:meth:`Store.guard_events`: the divergence guard's cuts of the rate, in step order."""
    return _guard_events(home(), run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def _guard_events(at: str, run_id: str) -> pd.DataFrame:
    return _run_store(at, run_id).guard_events(run_id)


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
    source = _runs_store(at, run_ids)
    return source.aligned(list(run_ids), metric=metric, by=by, max_points=max_points)


def aligned_guard_events(run_ids: tuple[str, ...], by: str) -> pd.DataFrame:
    """:meth:`Store.aligned_guard_events`: the guard's cuts of several runs on the x axis
    of :func:`aligned` (run_id, x, step, reason, detail, lr_before, lr_after)."""
    return _aligned_guard_events(home(), tuple(run_ids), by)


@st.cache_data(ttl=TTL, show_spinner=False)
def _aligned_guard_events(at: str, run_ids: tuple[str, ...], by: str) -> pd.DataFrame:
    return _runs_store(at, run_ids).aligned_guard_events(list(run_ids), by=by)


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
