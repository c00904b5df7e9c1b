"""Queries on one open run file, and the downsampling that keeps dashboard plots cheap.

Every function takes an open connection to a run's file (see ``Store._run_file``) and
returns plain pandas / NumPy values; none of them keeps the file open. Rows come back in
step order (ties in logging order).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

STEP_METRICS = ("epoch", "lr", "loss", "mean_temperature", "target_temperature")
EVAL_METRICS = ("train_loss", "train_error", "val_loss", "val_error", "test_error")
METRICS = STEP_METRICS + EVAL_METRICS
#: Per-site counts of ``site_temperatures`` (:func:`read_site_counts`).
SITE_COUNTS = (
    "changed",
    "total",
    "flipped_bits",
    "total_bits",
    "changed_samples",
    "batch_size",
    "changed_positions",
    "total_positions",
)
#: What :func:`read_site_matrix` can lay out as a matrix.
SITE_VALUES = ("temperature", *SITE_COUNTS)
#: The columns of :func:`read_guard_events`.
GUARD_EVENT_COLUMNS = ("step", "reason", "detail", "lr_before", "lr_after")
SCAN_COUNTS = (
    "changed",
    "total",
    "flipped_bits",
    "total_bits",
    "changed_samples",
    "batch_size",
    "changed_positions",
    "total_positions",
)


def read_steps(con: duckdb.DuckDBPyConnection, max_points: int | None = None) -> pd.DataFrame:
    """Rows of ``steps`` (step, epoch, lr, loss, mean_temperature, target_temperature,
    wall_time); with ``max_points``, at most that many, chosen by :func:`minmax_indices`
    on the loss so spikes survive downsampling."""
    steps = con.execute(
        "SELECT step, epoch, lr, loss, mean_temperature, target_temperature, wall_time "
        "FROM steps ORDER BY step, rowid"
    ).df()
    if max_points is not None and len(steps) > max_points:
        steps = steps.iloc[minmax_indices(steps["loss"].to_numpy(float), max_points)]
        steps = steps.reset_index(drop=True)
    return steps


def read_evaluations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows of ``evaluations``: step, epoch, the five metrics (NULL -> NaN), wall_time."""
    return con.execute(
        "SELECT step, epoch, train_loss, train_error, val_loss, val_error, test_error, wall_time "
        "FROM evaluations ORDER BY step, rowid"
    ).df()


def read_scans(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows of ``lr_scans``: step, epoch, rate, site, site_index (NA for 'mean'),
    probability, temperature, and the counts of SCAN_COUNTS (Int64,
    NA on the 'mean' rows and where not recorded); per step the 'mean' rows first, then sites
    in index order."""
    scans = con.execute(
        "SELECT step, epoch, rate, site, site_index, probability, temperature, "
        f"{', '.join(SCAN_COUNTS)} FROM lr_scans "
        "ORDER BY step, site_index NULLS FIRST, rate"
    ).df()
    scans["site_index"] = scans["site_index"].astype("Int32")
    return _nullable_ints(scans, SCAN_COUNTS)


def read_fits(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows of ``fits``, one per (step, site, model): step, site, model ('gaussian' or
    'weibull'), mu, sigma (Gaussian), lambda0, k (Weibull), rmse (NaN where not applicable
    or no fit), n_informative (Int32), reason (why there is no fit; missing when fitted)."""
    fits = con.execute(
        "SELECT step, site, model, mu, sigma, lambda0, k, rmse, n_informative, reason "
        "FROM fits ORDER BY step, rowid"
    ).df()
    fits["n_informative"] = fits["n_informative"].astype("Int32")
    # DuckDB gives an all-NULL VARCHAR column as objects: use the dtype of the other strings.
    fits["reason"] = fits["reason"].astype(fits["site"].dtype)
    return fits


def read_guard_events(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows of ``guard_events``, one per cut of the learning rate by ActCoolLR's divergence
    guard, in step order: step, reason ('loss_rise', 'temperature_collapse' or 'site_dark'),
    detail (what the guard saw), lr_before (the rate that step trained at), lr_after (the
    ceiling from then on). No rows (with these columns) when the guard never tripped."""
    return con.execute(
        f"SELECT {', '.join(GUARD_EVENT_COLUMNS)} FROM guard_events ORDER BY step, rowid"
    ).df()


def read_metrics(con: duckdb.DuckDBPyConnection, phase: str | None = None) -> pd.DataFrame:
    """Rows of ``metrics`` in step order (ties in logging order): step, phase ('train' or
    'eval'), name, value (NaN where not finite or NULL), wall_time; only ``phase``'s rows when
    given. No rows (with these columns) for a run that logged no named metric."""
    where, params = ("WHERE phase = ?", [phase]) if phase is not None else ("", [])
    metrics = con.execute(
        f"SELECT step, phase, name, value, wall_time FROM metrics {where} ORDER BY step, rowid",
        params,
    ).df()
    metrics["value"] = metrics["value"].astype(float)
    return metrics


def read_site_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """What every site counted at every measured step, to recompute temperatures at any
    counted granularity.

    Columns: step, site_index, site_name, then the Int64 counts (NA where not counted)
    changed, total (at the run's granularity), flipped_bits, total_bits, changed_samples,
    batch_size, changed_positions, total_positions, and the stored temperature. Rows in
    step order, then site index.
    """
    counts = con.execute(
        f"SELECT step, site_index, site_name, {', '.join(SITE_COUNTS)}, temperature "
        "FROM site_temperatures ORDER BY step, site_index, rowid"
    ).df()
    return _nullable_ints(counts, SITE_COUNTS)


def _nullable_ints(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for column in columns:
        frame[column] = frame[column].astype("Int64")
    return frame


def read_site_matrix(
    con: duckdb.DuckDBPyConnection,
    max_steps: int | None = None,
    value: str = "temperature",
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per-site temperatures (or another column of :data:`SITE_VALUES`) as a matrix.

    Returns ``(names, steps, values)``: site names ordered by site index, the measured
    steps ``(T,)`` ascending, and the values ``(S, T)`` as floats with NaN where a site has
    no value or it is NULL (the last value wins where a step was logged twice). With
    ``max_steps``, ``T <= max_steps`` evenly spaced measured steps, always including the
    first and last.
    """
    if value not in SITE_VALUES:
        raise ValueError(f"unknown site value {value!r}; choose one of: {', '.join(SITE_VALUES)}")
    column = "temperature" if value == "temperature" else f"CAST({value} AS DOUBLE) AS temperature"
    names = _site_names(con, everywhere=False)
    steps = _measured_steps(con)
    if max_steps is not None and len(steps) > max_steps:
        steps = steps[even_indices(len(steps), max_steps)]
        con.register("_kept_steps", pa.table({"step": steps}))
        try:
            data = fetch_arrow(
                con,
                f"SELECT site_index, step, {column} FROM site_temperatures "
                "SEMI JOIN _kept_steps USING (step)",
            )
        finally:
            con.unregister("_kept_steps")
    else:
        data = fetch_arrow(con, f"SELECT site_index, step, {column} FROM site_temperatures")
    index = data.column("site_index").to_numpy()
    known = np.array(sorted(names), dtype=np.int64)
    row = _positions(known, index)
    if len(index) and (
        row.min() < 0 or row.max() >= len(known) or not np.array_equal(known[row], index)
    ):
        names = _site_names(con, everywhere=True)  # sites that joined after the first step
        known = np.array(sorted(names), dtype=np.int64)
        row = _positions(known, index)
    matrix = np.full((len(known), len(steps)), np.nan)  # (S, T)
    matrix[row, _positions(steps, data.column("step").to_numpy())] = data.column(
        "temperature"
    ).to_numpy(zero_copy_only=False)
    return [names[i] for i in known], steps, matrix


def _positions(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each of ``values`` in the ascending, distinct ``ordered`` (all present)."""
    if len(ordered) and ordered[-1] - ordered[0] == len(ordered) - 1:
        return np.asarray(values, dtype=np.int64) - ordered[0]  # a run of consecutive ints
    return np.searchsorted(ordered, values)


def _site_names(con: duckdb.DuckDBPyConnection, everywhere: bool) -> dict[int, str]:
    # Sites are normally fixed for a run, so the first measured step names them all (a few
    # ms, thanks to zone maps); ``everywhere`` scans every row instead.
    where = "" if everywhere else "WHERE step = (SELECT min(step) FROM site_temperatures)"
    rows = con.execute(
        f"SELECT site_index, any_value(site_name) FROM site_temperatures {where} "
        "GROUP BY site_index"
    ).fetchall()
    return dict(rows)


def _measured_steps(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """The distinct steps of site_temperatures, ascending, as int64 (T,), from the small
    site_steps index that every insert into site_temperatures maintains."""
    return sorted_unique(con.execute("SELECT step FROM site_steps").fetchnumpy()["step"])


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of integers as int64, several times faster for already sorted input."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) > 1 and not np.all(values[1:] > values[:-1]):
        values = np.sort(values)
        values = values[np.r_[True, values[1:] != values[:-1]]]
    return values


def fetch_arrow(con: duckdb.DuckDBPyConnection, query: str) -> pa.Table:
    """Run ``query`` and return the whole result as an Arrow table."""
    relation = con.sql(query)
    # Newer DuckDB names it to_arrow_table; older releases only have arrow().
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def read_metric(con: duckdb.DuckDBPyConnection, metric: str) -> pd.DataFrame:
    """``(step, value)`` of one metric of :data:`METRICS`, NULLs dropped, in step order."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    table = "steps" if metric in STEP_METRICS else "evaluations"
    return con.execute(
        f"SELECT step, {metric} AS value FROM {table} "
        f"WHERE {metric} IS NOT NULL ORDER BY step, rowid"
    ).df()


def even_indices(n: int, k: int) -> np.ndarray:
    """At most ``k`` evenly spaced indices into ``range(n)``, including 0 and ``n - 1``."""
    if n <= k:
        return np.arange(n)
    if k < 2:
        return np.array([n - 1])
    return sorted_unique(np.linspace(0, n - 1, k).round())


def minmax_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` samples that keep the shape of ``values`` (N,).

    Always keeps the first and last index; the rest of the budget is cut into
    ``(max_points - 2) // 2`` equal buckets of the index range, each keeping its smallest
    and largest value (NaN ignored), so every spike survives, unlike plain striding.
    Fewer than 4 points fall back to even spacing.
    """
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    if max_points < 4:
        return even_indices(n, max_points)
    buckets = (max_points - 2) // 2
    bucket = np.arange(n) * buckets // n  # non-decreasing
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    lowest = np.lexsort((np.where(np.isnan(values), np.inf, values), bucket))[starts]
    highest = np.lexsort((np.where(np.isnan(values), np.inf, -values), bucket))[starts]
    return sorted_unique(np.concatenate([[0, n - 1], lowest, highest]))
