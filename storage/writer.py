"""RunWriter: buffered, background writing of one run's metrics, so training never waits.

``log_*`` calls only append to an in-memory buffer (microseconds). A background thread
flushes the buffer every ``flush_interval`` seconds: it opens the run's file, inserts each
table's rows as one Arrow batch, all in one transaction, and closes the file again, so the
dashboard can read between flushes and always sees whole flushes in logging order. The same
thread refreshes the run's heartbeat and stop flag in the catalog every
``heartbeat_interval`` seconds.

Durability:

* ``close()`` (or leaving the ``with`` block) flushes everything.
* Normal interpreter exit flushes every open writer (``atexit``).
* SIGTERM: the first writer created in the main thread installs a handler (see
  :func:`storage.shutdown.install_signal_flush`) that turns SIGTERM into
  ``SystemExit(143)``; ``with`` blocks unwind and ``atexit`` runs, so everything logged is
  saved before the process ends. A trainer that wants to record the stop can catch it::

      try:
          with store.writer(run_id) as w:
              train(w)
      except SystemExit:
          store.update_run(run_id, status="stopped")
          raise
* kill -9 loses only what was logged since the last flush (at most ``flush_interval``
  seconds, plus the time of one flush); committed flushes survive and the file stays
  readable.

Back-pressure: at most ``max_buffer_rows`` rows wait in memory. A ``log_*`` call that would
overflow the buffer wakes the flusher and blocks until the rows are saved rather than drop
data; if saving keeps failing (e.g. :class:`~storage.connection.LockTimeout` after the lock
timeout) the blocked call raises that error instead of waiting forever.

How the trainer should use it::

    with store.writer(run_id) as w:     # SIGTERM -> SystemExit -> flushed here
        for step in ...:
            w.log_step(step, epoch, lr, loss)
            if w.stop_requested:
                break
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from . import shutdown
from .connection import transaction
from .fit_rows import fit_columns
from .schema import arrow_schema, column_names
from .shutdown import install_signal_flush
from .validate import at_most, check_text, count, counts, finite, floats, ints, number, step_number

if TYPE_CHECKING:
    from .catalog import Catalog

log = logging.getLogger(__name__)

# Tables buffered as row tuples; the others are buffered as column chunks.
_ROW_TABLES = ("steps", "evaluations", "guard_events", "metrics")
_TABLES = (
    "steps",
    "site_temperatures",
    "lr_scans",
    "fits",
    "evaluations",
    "guard_events",
    "metrics",
)
METRIC_PHASES = ("train", "eval")
_NULL = -1  # in buffered integer columns of _NULL_MARKED: stored as NULL
_NULL_MARKED = {
    "site_temperatures": {
        "total",
        "flipped_bits",
        "total_bits",
        "changed_samples",
        "changed_positions",
        "total_positions",
    },
    "lr_scans": {"site_index", "changed", "total", "flipped_bits", "total_bits"},
}


class RunWriter:
    """Buffered writer of one run's metrics; see the module docstring for the guarantees.

    Args:
        store: the :class:`~storage.Store` (or catalog) that owns the run.
        run_id: an existing run; KeyError if unknown.
        flush_interval: seconds between background flushes (default 1.0; at most 2).
        max_buffer_rows: rows held in memory before ``log_*`` blocks (default 200 000,
            roughly 30 MB); a single call larger than this is still accepted.
        heartbeat_interval: seconds between heartbeats / stop-flag refreshes (default 2.0).
    """

    def __init__(
        self,
        store: Catalog,
        run_id: str,
        flush_interval: float = 1.0,
        max_buffer_rows: int = 200_000,
        heartbeat_interval: float = 2.0,
    ):
        if not 0 < flush_interval <= 2.0:
            raise ValueError(f"flush_interval must be in (0, 2] seconds, got {flush_interval!r}")
        if (
            isinstance(max_buffer_rows, bool)
            or not isinstance(max_buffer_rows, int)
            or max_buffer_rows < 1
        ):
            raise ValueError(f"max_buffer_rows must be a positive int, got {max_buffer_rows!r}")
        if not heartbeat_interval > 0:
            raise ValueError(f"heartbeat_interval must be > 0 seconds, got {heartbeat_interval!r}")
        self.store = store
        self.run_id = run_id
        self.flush_interval = float(flush_interval)
        self.max_buffer_rows = max_buffer_rows
        self.heartbeat_interval = float(heartbeat_interval)
        self._stop_flag = store.ping(run_id)  # KeyError for an unknown run
        self._last_ping = time.monotonic()
        self._chunks: dict[str, list] = {table: [] for table in _TABLES}
        self._rows = 0
        self._cond = threading.Condition()
        self._io_lock = threading.Lock()  # one flush at a time, so flushes commit in order
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._error: BaseException | None = None
        self._pid = os.getpid()
        self._site_cache: tuple[list, np.ndarray, np.ndarray] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"RunWriter-{run_id}", daemon=True)
        self._thread.start()
        shutdown.register(self)
        if threading.current_thread() is threading.main_thread():
            install_signal_flush()

    # ------------------------------------------------------------------ logging
    def log_step(
        self,
        step: int,
        epoch: float,
        lr: float,
        loss: float | None,
        mean_temperature: float | None = None,
        target_temperature: float | None = None,
    ) -> None:
        """Buffer one training step (one row of ``steps``); ``wall_time`` is now."""
        row = (
            step_number(step),
            number(epoch, "epoch"),
            number(lr, "lr"),
            number(loss, "loss"),
            number(mean_temperature, "mean_temperature"),
            number(target_temperature, "target_temperature"),
            time.time(),
        )
        self._append("steps", row, 1)

    def log_sites(
        self,
        step: int,
        names: Sequence[str],
        changed: Sequence[int],
        batch_size: int,
        temperatures: Sequence[float],
        *,
        total: Sequence[int] | None = None,
        flipped_bits: Sequence[int] | None = None,
        total_bits: Sequence[int] | None = None,
        changed_samples: Sequence[int] | None = None,
        changed_positions: Sequence[int] | None = None,
        total_positions: Sequence[int] | None = None,
    ) -> None:
        """Buffer one measurement of every site: ``len(names)`` rows of ``site_temperatures``.

        ``names[i]`` is site index ``i``; ``changed``, ``temperatures`` and the keyword counts
        are 1-D with one entry per site (lists, NumPy arrays or CPU tensors). ``changed`` is
        out of ``total`` at the run's granularity; the other counters are ``flipped_bits`` of
        ``total_bits``, ``changed_samples`` of ``batch_size`` and ``changed_positions`` of
        ``total_positions``. A count left out is stored as NULL (not counted).
        """
        step = step_number(step)
        names_arr, index = self._sites(names)
        n = len(names_arr)
        batch = count(batch_size, "batch_size")
        extra = {
            name: _optional_counts(values, (n,), name)
            for name, values in (
                ("total", total),
                ("flipped_bits", flipped_bits),
                ("total_bits", total_bits),
                ("changed_samples", changed_samples),
                ("changed_positions", changed_positions),
                ("total_positions", total_positions),
            )
        }
        chunk = {
            "step": np.full(n, step, np.int64),
            "site_index": index,
            "site_name": names_arr,
            "changed": ints(changed, n, "changed"),
            "batch_size": np.full(n, batch, np.int64),
            "temperature": floats(temperatures, (n,), "temperatures"),
            **extra,
        }
        _check_parts(
            chunk,
            [
                ("changed", "total"),
                ("flipped_bits", "total_bits"),
                ("changed_samples", "batch_size"),
                ("changed_positions", "total_positions"),
            ],
        )
        self._append("site_temperatures", chunk, n)

    def log_scan(
        self,
        step: int,
        epoch: float,
        rates: Sequence[float],
        names: Sequence[str],
        probabilities: Any,
        temperatures: Any,
        mean_probability: Sequence[float],
        mean_temperature: Sequence[float],
        *,
        changed: Any = None,
        total: Sequence[int] | None = None,
        flipped_bits: Any = None,
        total_bits: Sequence[int] | None = None,
        changed_samples: Any = None,
        batch_size: Sequence[int] | None = None,
        changed_positions: Any = None,
        total_positions: Sequence[int] | None = None,
    ) -> None:
        """Buffer one learning-rate scan: ``(len(names) + 1) * len(rates)`` rows of ``lr_scans``.

        ``probabilities`` and ``temperatures`` have shape ``(sites, rates)``;
        ``mean_probability`` and ``mean_temperature`` shape ``(rates,)``. The mean rows are
        stored with ``site = 'mean'`` and a NULL ``site_index``. The optional counts are
        ``changed`` ``(sites, rates)`` out of ``total`` ``(sites,)`` at the run's granularity,
        and ``flipped_bits`` ``(sites, rates)`` of ``total_bits`` ``(sites,)``, and likewise the
        samples and positions counters when they were counted; they are NULL on the mean rows
        and when left out.
        """
        step = step_number(step)
        epoch = number(epoch, "epoch")
        rate = floats(rates, None, "rates")
        names_arr, index = self._sites(names)
        s, r = len(names_arr), len(rate)
        prob = floats(probabilities, (s, r), "probabilities")
        temp = floats(temperatures, (s, r), "temperatures")
        mean_p = floats(mean_probability, (r,), "mean_probability")
        mean_t = floats(mean_temperature, (r,), "mean_temperature")
        per_rate = {
            "changed": _optional_counts(changed, (s, r), "changed"),
            "flipped_bits": _optional_counts(flipped_bits, (s, r), "flipped_bits"),
            "changed_samples": _optional_counts(changed_samples, (s, r), "changed_samples"),
            "changed_positions": _optional_counts(changed_positions, (s, r), "changed_positions"),
        }
        per_site = {
            "total": _optional_counts(total, (s,), "total"),
            "total_bits": _optional_counts(total_bits, (s,), "total_bits"),
            "batch_size": _optional_counts(batch_size, (s,), "batch_size"),
            "total_positions": _optional_counts(total_positions, (s,), "total_positions"),
        }
        _check_parts(
            {**per_rate, **{k: v[:, None] for k, v in per_site.items()}},
            [
                ("changed", "total"),
                ("flipped_bits", "total_bits"),
                ("changed_samples", "batch_size"),
                ("changed_positions", "total_positions"),
            ],
        )
        n = (s + 1) * r
        none = np.full(r, _NULL, np.int64)  # the 'mean' rows
        chunk = {
            "step": np.full(n, step, np.int64),
            "epoch": [epoch] * n,  # a list, so that None stays NULL
            "rate": np.tile(rate, s + 1),
            "site": np.concatenate([np.full(r, "mean", object), np.repeat(names_arr, r)]),
            "site_index": np.concatenate([np.full(r, _NULL, np.int32), np.repeat(index, r)]),
            "probability": np.concatenate([mean_p, prob.ravel()]),  # (sites, rates) row-major
            "temperature": np.concatenate([mean_t, temp.ravel()]),
            **{k: np.concatenate([none, v.ravel()]) for k, v in per_rate.items()},
            **{k: np.concatenate([none, np.repeat(v, r)]) for k, v in per_site.items()},
        }
        self._append("lr_scans", chunk, n)

    def log_fits(self, step: int, rows: Sequence[tuple | Mapping[str, Any]]) -> None:
        """Buffer response-model fits of one scan, one row of ``fits`` each (what a row holds:
        ``storage.fit_rows``)."""
        step = step_number(step)
        columns = fit_columns(rows)
        n = len(columns["site"])
        if n:
            self._append("fits", {"step": [step] * n, **columns}, n)

    def log_eval(
        self,
        step: int,
        epoch: float,
        train_loss: float | None = None,
        train_error: float | None = None,
        val_loss: float | None = None,
        val_error: float | None = None,
        test_error: float | None = None,
    ) -> None:
        """Buffer one evaluation (one row of ``evaluations``); missing metrics are NULL."""
        row = (
            step_number(step),
            number(epoch, "epoch"),
            number(train_loss, "train_loss"),
            number(train_error, "train_error"),
            number(val_loss, "val_loss"),
            number(val_error, "val_error"),
            number(test_error, "test_error"),
            time.time(),
        )
        self._append("evaluations", row, 1)

    def log_guard_event(
        self, step: int, reason: str, detail: str, lr_before: float, lr_after: float
    ) -> None:
        """Buffer one cut of the learning rate by ActCoolLR's divergence guard (one row of
        ``guard_events``; the fields of :class:`actcool.GuardEvent`, so
        ``log_guard_event(**event.to_dict())`` records one).

        A run has at most one cut per step: a row for a step already stored (a resumed run
        logging an event again) is left out when flushed, and so is a second row for a step
        within one flush; the first one stays.
        """
        if not isinstance(detail, str):
            raise TypeError(f"detail must be a str, got {detail!r}")
        row = (
            step_number(step),
            check_text(reason, "reason"),
            detail,
            finite(lr_before, "lr_before"),
            finite(lr_after, "lr_after"),
        )
        self._append("guard_events", row, 1)

    def log_metrics(self, step: int, phase: str, values: Mapping[str, float | None]) -> None:
        """Buffer named metrics of one step (one row of ``metrics`` each): ``phase`` is
        ``"train"`` (measured at the step) or ``"eval"`` (an evaluation after it). Any name
        is accepted; a value may be None (NULL) or NaN. All are checked before any is kept,
        so a bad value records nothing (TypeError naming its key)."""
        step = step_number(step)
        if phase not in METRIC_PHASES:
            raise ValueError(f"unknown metric phase {phase!r}; choose one of: train, eval")
        now = time.time()
        rows = [
            (step, phase, check_text(name, "a metric name"), number(value, name), now)
            for name, value in values.items()
        ]
        for row in rows:
            self._append("metrics", row, 1)

    # ------------------------------------------------------------------ control
    @property
    def stop_requested(self) -> bool:
        """Whether the dashboard asked this run to stop (refreshed every heartbeat)."""
        return self._stop_flag

    @property
    def buffered_rows(self) -> int:
        """Rows logged but not yet handed to a flush."""
        return self._rows

    def flush(self) -> int:
        """Save everything logged so far, in this thread; return the number of rows saved.

        Raises what the flush raised (the rows stay buffered for the next attempt).
        """
        if os.getpid() != self._pid:
            return 0
        return self._flush()

    def close(self) -> None:
        """Stop the background thread, flush everything and send a last heartbeat.

        Safe to call twice. If the final flush fails the error is raised and the writer
        stays open, so calling ``close()`` again retries.
        """
        if self._closed or os.getpid() != self._pid:
            return  # a forked child must never save its parent's rows a second time
        self._stopping = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._flush()
        self._closed = True
        shutdown.unregister(self)
        try:
            self._stop_flag = self.store.ping(self.run_id)
        except Exception as exc:  # the rows are safe; a missed heartbeat is harmless
            log.warning("final heartbeat of run %s failed: %s", self.run_id, exc)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _append(self, table: str, chunk: Any, n: int) -> None:
        if self._stopping or os.getpid() != self._pid:
            raise RuntimeError(f"RunWriter for run {self.run_id!r} is closed")
        with self._cond:
            while self._rows and self._rows + n > self.max_buffer_rows:
                if self._error is not None:
                    raise self._error  # saving keeps failing: surface it rather than hang
                self._wake.set()
                self._cond.wait(0.05)
            self._chunks[table].append(chunk)  # one append: a signal cannot split a row
            self._rows += n
            if self._rows * 2 >= self.max_buffer_rows:
                self._wake.set()  # flush early so callers rarely block

    def _flush(self) -> int:
        with self._io_lock, shutdown.deferring_sigterm():
            with self._cond:
                batch, rows = self._chunks, self._rows
                self._chunks, self._rows = {table: [] for table in _TABLES}, 0
                self._cond.notify_all()
            if not rows:
                return 0
            try:
                arrow = {
                    table: _to_arrow(table, chunks) for table, chunks in batch.items() if chunks
                }
                self._save(arrow)
            except BaseException as exc:
                with self._cond:  # put the rows back in front of anything logged since
                    for table in _TABLES:
                        self._chunks[table] = batch[table] + self._chunks[table]
                    self._rows += rows
                    if isinstance(exc, Exception):
                        self._error = exc
                    self._cond.notify_all()
                raise
            self._error = None
            return rows

    def _save(self, tables: dict[str, pa.Table]) -> None:
        """Commit one flush's Arrow batches (see :func:`write_batches`); a subclass may send
        them elsewhere (:class:`storage.remote.RemoteWriter`)."""
        write_batches(self.store, self.run_id, tables)

    def _loop(self) -> None:
        delay = self.flush_interval
        next_flush = time.monotonic() + delay
        while not self._stopping:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            if self._stopping:
                break
            next_flush = time.monotonic() + delay
            try:
                self._flush()
                delay = self.flush_interval
            except Exception as exc:
                delay = min(delay * 2, 30.0)
                log.warning(
                    "flushing run %s failed (retrying in %.0f s): %s", self.run_id, delay, exc
                )
            if time.monotonic() - self._last_ping >= self.heartbeat_interval:
                self._last_ping = time.monotonic()
                try:
                    self._stop_flag = self.store.ping(self.run_id)
                except Exception as exc:
                    log.warning("heartbeat of run %s failed: %s", self.run_id, exc)

    def _sites(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        cached = self._site_cache
        if cached is not None and (names is cached[0] or list(names) == cached[0]):
            return cached[1], cached[2]
        names = list(names)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"names must be a non-empty list of site names, got {names!r}")
        if "mean" in names:
            raise ValueError("'mean' is reserved for the mean over sites; rename that site")
        arrays = (np.array(names, dtype=object), np.arange(len(names), dtype=np.int32))
        self._site_cache = (names, *arrays)
        return arrays


def write_batches(store: Catalog, run_id: str, tables: Mapping[str, pa.Table]) -> int:
    """Insert one Arrow batch per run table (every column but ``run_id``, as the writer
    builds them) into the run's file, all in one transaction; return the rows written."""
    with store._run_file(run_id) as con, transaction(con):
        for table, data in tables.items():
            insert_arrow(con, table, run_id, data)
    return sum(len(data) for data in tables.values())


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, run_id: str, data: pa.Table) -> None:
    """Append an Arrow table holding every column of ``table`` but ``run_id``; rows of
    site_temperatures also add their steps to the site_steps index. Rows of guard_events
    keep one per step: the first of each step, and none for a step already stored."""
    columns = ", ".join(data.column_names)
    view = f"_batch_{table}"
    where = ""
    if table == "guard_events":
        data = _first_per_step(data)
        where = " WHERE step NOT IN (SELECT step FROM guard_events)"
    con.register(view, data)
    try:
        con.execute(
            f"INSERT INTO {table} (run_id, {columns}) SELECT ?, {columns} FROM {view}{where}",
            [run_id],
        )
        if table == "site_temperatures":
            con.execute(f"INSERT INTO site_steps SELECT DISTINCT step FROM {view} ORDER BY step")
    finally:
        con.unregister(view)


def _first_per_step(data: pa.Table) -> pa.Table:
    """The rows of ``data`` that come first for their step, in their order."""
    steps = data.column("step").to_numpy()
    _, first = np.unique(steps, return_index=True)
    return data if len(first) == len(steps) else data.take(np.sort(first))


def _to_arrow(table: str, chunks: list) -> pa.Table:
    """Build one Arrow table from buffered row tuples or column chunks."""
    schema = arrow_schema(table)
    names = column_names(table)[1:]  # run_id is added by insert_arrow
    marked = _NULL_MARKED.get(table, set())
    if table in _ROW_TABLES:
        columns = list(zip(*chunks, strict=True))
        arrays = [
            pa.array(list(col), type=schema.field(name).type)
            for name, col in zip(names, columns, strict=True)
        ]
        return pa.Table.from_arrays(arrays, names=names)
    arrays = []
    for name in names:
        typ = schema.field(name).type
        parts = [chunk[name] for chunk in chunks]
        if all(isinstance(part, np.ndarray) for part in parts):
            values = np.concatenate(parts)
            mask = values < 0 if name in marked else None  # _NULL marks NULL
            arrays.append(pa.array(values, type=typ, mask=mask))
        else:
            arrays.append(pa.array(list(itertools.chain.from_iterable(parts)), type=typ))
    return pa.Table.from_arrays(arrays, names=names)


def _optional_counts(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Counts of ``shape``, or ``_NULL`` everywhere when ``values`` is None (not counted)."""
    return np.full(shape, _NULL, np.int64) if values is None else counts(values, shape, what)


def _check_parts(chunk: Mapping[str, np.ndarray], pairs: list[tuple[str, str]]) -> None:
    """Raise unless each counted ``part`` is at most its ``whole`` (pairs both counted)."""
    for part, whole in pairs:
        p, w = chunk[part], chunk[whole]
        if np.all(p != _NULL) and np.all(w != _NULL):
            at_most(p, w, part, whole)
