"""Store: the one entry point to ActCool's run database, for trainers and the dashboard.

A store is a folder: ``catalog.duckdb`` (runs, queue, stop requests, curves; see
:class:`~storage.catalog.Catalog`, whose methods ``Store`` inherits) plus one DuckDB file
per run under ``runs/`` holding its metrics. Nothing needs setting up: files and tables are
created, and old files migrated, on first use. Every call opens the files it needs and
closes them before returning, so any number of trainer and dashboard processes can share a
store; a file briefly held by another process is waited for (see
:mod:`storage.connection`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .catalog import Catalog
from .connection import DEFAULT_LOCK_TIMEOUT, transaction
from .export import check_format, write_export
from .reader import (
    METRICS,
    minmax_indices,
    read_evaluations,
    read_fits,
    read_guard_events,
    read_metric,
    read_metrics,
    read_scans,
    read_site_counts,
    read_site_matrix,
    read_steps,
)
from .schema import RUN_TABLES, arrow_schema, column_names, optional_columns
from .status import DEFAULT_LOST_AFTER
from .validate import check_limit, check_run_id
from .writer import RunWriter, insert_arrow

T = TypeVar("T")
DEFAULT_HOME = "actcool-data"
ALIGN_BY = ("step", "fraction")


def default_home() -> Path:
    """``$ACTCOOL_HOME`` if set, else ``./actcool-data``."""
    return Path(os.environ.get("ACTCOOL_HOME") or DEFAULT_HOME)


class Store(Catalog):
    """Runs, their metrics and named curves, kept under one folder.

    Args:
        home: the store folder, or None for ``$ACTCOOL_HOME`` or ``./actcool-data``.
        lost_after: seconds without a heartbeat after which a running run reads as
            ``lost`` (default 30).
        lock_timeout: seconds to wait for another process's file lock before raising
            :class:`~storage.connection.LockTimeout` (default 60).
        create: make the folder and its files when missing (default). False for readers
            (``python -m trainer list``, export, a dashboard's read paths): nothing is
            created, and every access raises :class:`~storage.catalog.StoreNotFound`, which
            names the folder, while it holds no store.
    """

    def __init__(
        self,
        home: str | os.PathLike | None = None,
        lost_after: float = DEFAULT_LOST_AFTER,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        create: bool = True,
    ):
        super().__init__(default_home() if home is None else home, lost_after, lock_timeout, create)

    def __repr__(self) -> str:
        return f"Store(home={str(self.home)!r})"

    # ------------------------------------------------------------------ writing
    def writer(
        self,
        run_id: str,
        flush_interval: float = 1.0,
        max_buffer_rows: int = 200_000,
        heartbeat_interval: float = 2.0,
    ) -> RunWriter:
        """A :class:`~storage.writer.RunWriter` for ``run_id``; use it as a context manager."""
        return RunWriter(
            self,
            run_id,
            flush_interval=flush_interval,
            max_buffer_rows=max_buffer_rows,
            heartbeat_interval=heartbeat_interval,
        )

    def append_rows(self, run_id: str, table: str, data: pd.DataFrame | pa.Table) -> int:
        """Bulk-insert rows into one table of a run in a single transaction; return the count.

        ``data`` holds every column of the table except ``run_id``; ``wall_time`` may be
        omitted and defaults to now, and the columns added after schema version 1 (the
        counts of granularities, the Weibull fit columns) may be omitted and are NULL (a fit
        row without ``model`` is a Gaussian one). For imports and benchmarks; trainers use
        :meth:`writer`.
        """
        if table not in RUN_TABLES:
            raise ValueError(f"unknown table {table!r}; choose one of: {', '.join(RUN_TABLES)}")
        if isinstance(data, pd.DataFrame):
            data = pa.Table.from_pandas(data, preserve_index=False)
        if not isinstance(data, pa.Table):
            raise TypeError(
                f"data must be a pandas DataFrame or pyarrow Table, got {type(data).__name__}"
            )
        wanted = column_names(table)[1:]
        if "wall_time" in wanted and "wall_time" not in data.column_names:
            data = data.append_column("wall_time", pa.array(np.full(len(data), time.time())))
        schema = arrow_schema(table)
        for name in optional_columns(table):
            if name not in data.column_names:
                typ = schema.field(name).type
                if (table, name) == ("fits", "model"):
                    column = pa.array(["gaussian"] * len(data), typ)
                else:
                    column = pa.nulls(len(data), typ)
                data = data.append_column(name, column)
        missing = [c for c in wanted if c not in data.column_names]
        extra = [c for c in data.column_names if c not in wanted]
        if missing or extra:
            raise ValueError(
                f"{table} rows need exactly the columns {wanted}; "
                f"missing {missing}, unexpected {extra}"
            )
        data = data.select(wanted).cast(pa.schema([schema.field(c) for c in wanted]))
        self._known(run_id)
        with self._run_file(run_id) as con, transaction(con):
            insert_arrow(con, table, run_id, data)
        return len(data)

    def truncate_run(self, run_id: str, after_step: int) -> int:
        """Delete every row with ``step > after_step`` from all tables of a run (to resume
        from a checkpoint without duplicate steps); return the number of rows deleted."""
        if isinstance(after_step, bool) or not isinstance(after_step, (int, np.integer)):
            raise TypeError(f"after_step must be an int, got {after_step!r}")
        self._known(run_id)
        deleted = 0
        with self._run_file(run_id) as con, transaction(con):
            for table in RUN_TABLES:
                deleted += len(
                    con.execute(
                        f"DELETE FROM {table} WHERE step > ? RETURNING step", [int(after_step)]
                    ).fetchall()
                )
            con.execute("DELETE FROM site_steps WHERE step > ?", [int(after_step)])
        return deleted

    # ------------------------------------------------------------------ reading
    def steps(self, run_id: str, max_points: int | None = None) -> pd.DataFrame:
        """The run's steps: step, epoch, lr, loss, mean_temperature, target_temperature,
        wall_time (unix s). ``max_points`` (>= 2) downsamples for display, keeping the
        first and last rows and each bucket's loss minimum and maximum; None: every row."""
        max_points = check_limit(max_points, "max_points")
        return self._read(run_id, lambda con: read_steps(con, max_points))

    def last_step(self, run_id: str) -> int | None:
        """The highest step the run has recorded, read from its metrics (None before its
        first step); live, unlike the ``steps`` of its summary, which is set when it ends."""
        return self._read(
            run_id, lambda con: con.execute("SELECT max(step) FROM steps").fetchall()[0][0]
        )

    def last_test_error(self, run_id: str) -> float | None:
        """The test error (%) of the run's latest evaluation that measured one, or None:
        what a run recorded through :meth:`writer` shows where its summary has none."""

        def query(con: duckdb.DuckDBPyConnection) -> float | None:
            row = con.execute(
                "SELECT test_error FROM evaluations WHERE test_error IS NOT NULL "
                "AND NOT isnan(test_error) ORDER BY step DESC LIMIT 1"
            ).fetchall()
            return float(row[0][0]) if row else None

        return self._read(run_id, query)

    def site_matrix(
        self,
        run_id: str,
        max_steps: int | None = None,
        value: str = "temperature",
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(site_names, steps (T,), values (S, T))``; see
        :func:`~storage.reader.read_site_matrix`. ``max_steps`` (>= 2) keeps at most that
        many evenly spaced measured steps, first and last included (about 50 ms for 2000 of
        100k steps x 56 sites); None: all of them (0.2-0.5 s for that run), so dashboards
        should pass a limit. ``value`` picks the column: ``temperature`` (default) or a
        count of :meth:`site_counts` (as floats, NaN where not counted)."""
        max_steps = check_limit(max_steps, "max_steps")
        return self._read(run_id, lambda con: read_site_matrix(con, max_steps, value))

    def site_counts(self, run_id: str) -> pd.DataFrame:
        """Per measured step and site, what was counted: step, site_index, site_name,
        changed, total (at the run's granularity), flipped_bits, total_bits,
        changed_samples, batch_size, changed_positions, total_positions (Int64, NA where not
        counted) and the stored temperature; see :func:`~storage.reader.read_site_counts`."""
        return self._read(run_id, read_site_counts)

    def scans(self, run_id: str) -> pd.DataFrame:
        """Learning-rate scans: step, epoch, rate, site ('mean' or a name), site_index,
        probability, temperature, changed, total, flipped_bits, total_bits (counts NA on
        the 'mean' rows)."""
        return self._read(run_id, read_scans)

    def fits(self, run_id: str) -> pd.DataFrame:
        """Fits, one row per (step, site, model): step, site ('mean' or a name), model
        ('gaussian' | 'weibull'), mu, sigma, lambda0, k, rmse, n_informative, reason."""
        return self._read(run_id, read_fits)

    def evaluations(self, run_id: str) -> pd.DataFrame:
        """Evaluations: step, epoch, train_loss, train_error, val_loss, val_error,
        test_error (NaN where not measured), wall_time."""
        return self._read(run_id, read_evaluations)

    def guard_events(self, run_id: str) -> pd.DataFrame:
        """Cuts of the learning rate by ActCoolLR's divergence guard, in step order: step,
        reason ('loss_rise' | 'temperature_collapse' | 'site_dark'), detail, lr_before (the
        rate that step trained at), lr_after (the ceiling for the rest of the run). Empty, with
        these columns, for a run whose guard never tripped (and for schedules without one)."""
        return self._read(run_id, read_guard_events)

    def metrics(self, run_id: str, phase: str | None = None) -> pd.DataFrame:
        """Named metrics of a run (those with no column of their own: a tracked loop's extra
        step metrics, ``lr/<group>`` rates where its param groups differ, its evaluations),
        long format: step, phase ('train' | 'eval'), name, value, wall_time. ``phase`` keeps
        one phase; None (default) both."""
        if phase is not None and phase not in ("train", "eval"):
            raise ValueError(f"unknown metric phase {phase!r}; choose one of: train, eval")
        return self._read(run_id, lambda con: read_metrics(con, phase))

    def aligned(
        self,
        run_ids: Iterable[str],
        metric: str = "loss",
        by: str = "step",
        max_points: int | None = None,
    ) -> pd.DataFrame:
        """One metric of several runs on a common x axis, for comparison plots.

        Returns columns run_id, x, value (long format, runs in the given order). ``metric``
        is a column of steps (epoch, lr, loss, mean_temperature, target_temperature) or of
        evaluations (train_loss, train_error, val_loss, val_error, test_error). ``by="step"``
        uses the step; ``by="fraction"`` uses step / total steps, where the total is
        ``total_steps`` from the run's summary, else from its config, else its last step.
        ``max_points`` downsamples each run as :meth:`steps` does.
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
        max_points = check_limit(max_points, "max_points")
        run_ids, runs = self._aligning(run_ids, by)
        frames = []
        for run_id in run_ids:

            def query(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, int | None]:
                last = con.execute("SELECT max(step) FROM steps").fetchall()[0][0]
                return read_metric(con, metric), last

            values, last_step = self._read(run_id, query)
            if max_points is not None and len(values) > max_points:
                values = values.iloc[minmax_indices(values["value"].to_numpy(float), max_points)]
            x = values["step"].to_numpy()
            if by == "fraction":
                total = _total_steps(runs.loc[run_id], last_step, values)
                x = x / total if total else np.full(len(x), np.nan)
            frames.append(
                pd.DataFrame({"run_id": run_id, "x": x, "value": values["value"].to_numpy()})
            )
        if not frames:
            return pd.DataFrame(
                {
                    "run_id": pd.Series(dtype=object),
                    "x": pd.Series(dtype=float),
                    "value": pd.Series(dtype=float),
                }
            )
        return pd.concat(frames, ignore_index=True)

    def aligned_guard_events(self, run_ids: Iterable[str], by: str = "step") -> pd.DataFrame:
        """The divergence guard's cuts of several runs on the x axis of :meth:`aligned` with
        the same ``by``, to mark them on its learning-rate overlays.

        Returns columns run_id, x, then those of :meth:`guard_events` (step, reason, detail,
        lr_before, lr_after); runs in the given order, each in step order. No rows (with
        these columns) when no run's guard tripped.
        """
        run_ids, runs = self._aligning(run_ids, by)
        frames = []
        for run_id in run_ids:

            def query(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, int | None]:
                last = con.execute("SELECT max(step) FROM steps").fetchall()[0][0]
                return read_guard_events(con), last

            events, last_step = self._read(run_id, query)
            if len(events) == 0:
                continue
            x = events["step"].to_numpy(np.float64)
            if by == "fraction":
                total = _total_steps(runs.loc[run_id], last_step, events)
                x = x / total if total else np.full(len(x), np.nan)
            events.insert(0, "x", x)
            events.insert(0, "run_id", run_id)
            frames.append(events)
        if not frames:
            dtypes = {"run_id": object, "x": float, "step": "int64", "reason": object}
            dtypes.update(detail=object, lr_before=float, lr_after=float)
            return pd.DataFrame({name: pd.Series(dtype=t) for name, t in dtypes.items()})
        return pd.concat(frames, ignore_index=True)

    def export(
        self,
        run_id: str,
        format: str | None = None,
        out: str | os.PathLike | None = None,
        force: bool = False,
    ) -> Path:
        """Write all of a run's tables (and its catalog entry) to files; return the path.

        ``format`` is ``"csv"`` or ``"parquet"`` (None: from ``out``'s suffix, else csv).
        ``out`` ending in ``.csv``/``.parquet`` gives one file (one table with a ``kind``
        column), ``.zip`` one zip archive, any other path a folder; None means the folder
        ``<home>/exports/<run_id>-<format>``. An existing output is a FileExistsError unless
        ``force``. DuckDB writes the files itself, so memory does not grow with the run. See
        :mod:`storage.export` for the layouts.
        """
        if format is not None:
            check_format(format)
        run = self.get_run(run_id)
        if out is None:
            out = self.home / "exports" / f"{run_id}-{format or 'csv'}"
        out = Path(out)
        return self._read(run_id, lambda con: write_export(con, run, format, out, force))

    # ------------------------------------------------------------------ internals
    def _aligning(self, run_ids: Iterable[str], by: str) -> tuple[list[str], pd.DataFrame]:
        """Checked ``run_ids`` (a list) and the catalog's runs indexed by id, for
        :meth:`aligned` and :meth:`aligned_guard_events`."""
        if isinstance(run_ids, str):
            raise TypeError(
                f"run_ids must be a list of ids, got the str {run_ids!r}; write [{run_ids!r}]"
            )
        run_ids = [check_run_id(run_id) for run_id in run_ids]
        if by not in ALIGN_BY:
            raise ValueError(f"unknown alignment {by!r}; choose one of: {', '.join(ALIGN_BY)}")
        runs = self.list_runs().set_index("id")
        unknown = [run_id for run_id in run_ids if run_id not in runs.index]
        if unknown:
            raise KeyError(f"unknown run ids {unknown}; see list_runs()")
        return run_ids, runs

    def _known(self, run_id: str) -> None:
        # A run file exists for every run made by create_run; only then skip the catalog.
        if not self.run_path(run_id).exists():
            self.get_run(run_id)  # KeyError naming the id when unknown

    def _read(self, run_id: str, query: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        self._known(run_id)
        with self._run_file_to_read(run_id) as con:
            return query(con)


def _total_steps(run: pd.Series, last_step: int | None, values: pd.DataFrame) -> float | None:
    for source in (run["summary"], run["config"]):
        total = source.get("total_steps") if isinstance(source, dict) else None
        if isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0:
            return float(total)
    if last_step is None and len(values):
        last_step = int(values["step"].max())
    return float(last_step) if last_step else None
