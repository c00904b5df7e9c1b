"""The catalog: runs, the run queue, stop requests and named learning-rate curves.

All of it lives in ``<home>/catalog.duckdb``. Every method opens the file, does its work in
one transaction and closes it again (see :mod:`storage.connection`), so the trainer, its
workers and the dashboard can all use the catalog at once. While a method works, no other
process and no other thread of this process touches the catalog, so read-modify-write
operations are atomic; that is what lets two workers claim queued runs without ever
sharing one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .connection import DEFAULT_LOCK_TIMEOUT, LockTimeout, connect, first_row, transaction
from .schema import (
    CATALOG_MIGRATIONS,
    RUN_MIGRATIONS,
    ensure_migrated,
    forget,
    is_migrated,
    migrate,
    utcnow,
)
from .status import (
    DEFAULT_LOST_AFTER,
    HOST,
    LOST,
    RESUMABLE,
    RUN_COLUMNS,
    STATUSES,
    TERMINAL,
    decode_runs,
    first_run,
)
from .validate import check_run_id, check_statuses, check_tags, check_text, check_time, to_json


def new_run_id() -> str:
    """Eight random hex digits that never read as a number.

    Ids such as ``"12345678"`` or ``"148e1124"`` (1.48e1126) would turn into numbers, or
    ``inf``, when an exported CSV is opened in pandas or a spreadsheet; those are drawn again.
    """
    while True:
        run_id = os.urandom(4).hex()
        try:
            float(run_id)
        except ValueError:
            return run_id


class UnreadableStore(RuntimeError):
    """A store file exists but cannot be opened or migrated: not a DuckDB file, or one
    written by another DuckDB or ActCool version. The message names the file and the cause."""

    def __init__(self, path: Path, kind: str, cause: BaseException) -> None:
        self.path = Path(path)
        detail = " ".join(str(cause).split())
        super().__init__(
            f"the {kind} file {str(path)!r} cannot be read ({detail}); move it aside to start "
            "an empty store there"
        )


class StoreNotFound(FileNotFoundError):
    """A store opened with ``create=False`` where there is none: no folder, or a folder
    without ``catalog.duckdb``. ``home`` is the folder that was looked at."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        super().__init__(
            f"no ActCool store at {str(home)!r} (it has no catalog.duckdb); set ACTCOOL_HOME "
            "or pass the folder of an existing store"
        )


class Catalog:
    """Runs, queue, stop requests and curves of one store home.

    Args:
        home: the store folder; created on demand.
        lost_after: seconds without a heartbeat after which a ``running`` run is reported
            as ``lost`` (default 30).
        lock_timeout: seconds to wait for another process's file lock before
            :class:`~storage.connection.LockTimeout` (default 60).
        create: make the folder and catalog when they are missing (default). False, for
            readers: nothing is created, and every access raises :class:`StoreNotFound`
            while the folder has no catalog.
    """

    def __init__(
        self,
        home: str | os.PathLike,
        lost_after: float = DEFAULT_LOST_AFTER,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        create: bool = True,
    ):
        if lost_after <= 0:
            raise ValueError(f"lost_after must be > 0 seconds, got {lost_after!r}")
        if lock_timeout <= 0:
            raise ValueError(f"lock_timeout must be > 0 seconds, got {lock_timeout!r}")
        self.home = Path(home)
        self.lost_after = float(lost_after)
        self.lock_timeout = float(lock_timeout)
        self.create = bool(create)
        if self.create:
            (self.home / "runs").mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        """Whether the folder holds a store (its catalog file); creates nothing."""
        return self.catalog_path.is_file()

    # ------------------------------------------------------------------ files
    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.duckdb"

    def run_path(self, run_id: str) -> Path:
        """Path of the DuckDB file holding the metrics of ``run_id``."""
        return self.home / "runs" / f"{check_run_id(run_id)}.duckdb"

    @contextmanager
    def _catalog(self, read: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The catalog; ``read``: for reading only, so nothing is written (see :meth:`_open`)."""
        with self._open(self.catalog_path, CATALOG_MIGRATIONS, "catalog", read) as con:
            yield con

    @contextmanager
    def _run_file(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._open(self.run_path(run_id), RUN_MIGRATIONS, f"run {run_id!r}") as con:
            yield con

    @contextmanager
    def _run_file_to_read(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """The run's file, read-only, or where it is gone (deleted under a reader, e.g. while
        the store folder is being removed) an empty run in memory: a read never makes or
        writes a file, so it cannot leave one behind in a folder that is being deleted."""
        if not self.create and not self.exists():
            raise StoreNotFound(self.home)
        path, kind = self.run_path(run_id), f"run {run_id!r}"
        try:
            opened = self._attach_to_read(path, RUN_MIGRATIONS, kind)
        except FileNotFoundError:
            con = duckdb.connect(":memory:")
            try:
                migrate(con, RUN_MIGRATIONS, kind)  # in memory: nothing to cache
                yield con
            finally:
                con.close()
            return
        stack, con = opened or self._attach(path, RUN_MIGRATIONS, kind)
        with stack:
            yield con

    @contextmanager
    def _open(
        self, path: Path, migrations: list, kind: str, read: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """``connect`` and migrate; a file that cannot be opened or migrated (not a DuckDB
        file, one of an older or newer DuckDB or ActCool) is :class:`UnreadableStore`; a
        store opened with ``create=False`` that has no catalog is :class:`StoreNotFound`.

        ``read``: the file is opened read-only, so nothing is written into the folder. Where
        it is missing (or goes before it is opened), a store with ``create=False`` raises
        :class:`StoreNotFound`; one that may create opens it for writing, which creates it.
        A file that needs migrating is opened for writing, once."""
        if not self.create and not self.exists():
            raise StoreNotFound(self.home)
        opened = None
        if read:
            try:
                opened = self._attach_to_read(path, migrations, kind)
            except FileNotFoundError:
                if not self.create:
                    raise StoreNotFound(self.home) from None
        stack, con = opened or self._attach(path, migrations, kind)
        with stack:
            yield con

    def _attach(self, path: Path, migrations: list, kind: str) -> tuple[ExitStack, Any]:
        """``path`` opened for writing and migrated, as (stack that closes it, connection)."""
        if not self.home.is_dir():  # the store folder was deleted: start an empty one
            (self.home / "runs").mkdir(parents=True, exist_ok=True)
        if not path.exists():  # a new file (also where a deleted one was): migrate it
            forget(path)
        stack = ExitStack()
        try:
            con = stack.enter_context(connect(path, self.lock_timeout))
            ensure_migrated(con, path, migrations, kind)
        except LockTimeout:
            stack.close()
            raise
        except (duckdb.Error, RuntimeError) as exc:
            stack.close()
            raise UnreadableStore(path, kind, exc) from exc
        return stack, con

    def _attach_to_read(
        self, path: Path, migrations: list, kind: str
    ) -> tuple[ExitStack, Any] | None:
        """``path`` opened read-only, as (stack that closes it, connection): nothing is
        created or written. FileNotFoundError where the file is not there or goes before it
        is opened; None where it needs a migration, which only :meth:`_attach` can do."""
        if not path.is_file():
            raise FileNotFoundError(path)
        stack = ExitStack()
        try:
            con = stack.enter_context(connect(path, self.lock_timeout, read_only=True))
            current = is_migrated(con, path, migrations)
        except LockTimeout:
            stack.close()
            raise
        except (duckdb.Error, RuntimeError) as exc:
            stack.close()
            if not path.exists():
                raise FileNotFoundError(path) from exc
            raise UnreadableStore(path, kind, exc) from exc
        if not current:
            stack.close()
            return None
        return stack, con

    def created_at(self) -> datetime:
        """When the catalog file was created (its first migration; naive UTC). A store
        deleted and made afresh at the same path has another, so a reader can tell it from
        the one it saw before. Creates the catalog when missing."""
        with self._catalog(read=True) as con:
            return con.execute("SELECT min(applied_at) FROM schema_version").fetchall()[0][0]

    def set_aside(self) -> Path:
        """Rename an unreadable catalog file to ``catalog.duckdb.unreadable-<UTC time>``, so
        that the next access starts an empty catalog; return the new name. The run files
        stay where they are."""
        target = self.catalog_path.with_name(
            f"{self.catalog_path.name}.unreadable-{utcnow():%Y%m%d-%H%M%S}"
        )
        self.catalog_path.rename(target)
        wal = self.catalog_path.with_name(self.catalog_path.name + ".wal")
        if wal.exists():
            wal.rename(target.with_name(target.name + ".wal"))
        forget(self.catalog_path)
        return target

    @contextmanager
    def _catalog_update(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A catalog connection inside one transaction, exclusive across threads and processes."""
        with self._catalog() as con, transaction(con):
            yield con

    # ------------------------------------------------------------------ runs
    def create_run(
        self, config: dict, name: str, tags: Iterable[str] = (), status: str = "running"
    ) -> str:
        """Register a new run and create its metrics file; return its short unique id.

        A ``running`` run records this process's pid and host and starts its heartbeat;
        a ``queued`` run waits for :meth:`claim_next_queued`.

        Args:
            config: the resolved run configuration; JSON-serialisable (paths and NumPy
                scalars are converted). Keys ``model``, ``dataset``, ``schedule`` and
                ``total_steps`` are used by :meth:`list_runs` filters and by ``aligned``.
            name: a human-readable label (need not be unique).
            tags: free-form labels for filtering.
            status: ``"running"`` (default) or ``"queued"``.
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        config_json = to_json(config, "config")
        name = check_text(name, "name")
        tag_list = check_tags(tags)
        if status not in ("running", "queued"):
            raise ValueError(f"a new run's status must be 'running' or 'queued', got {status!r}")
        now = utcnow()
        running = status == "running"
        with self._catalog_update() as con:
            while True:
                run_id = new_run_id()
                if not con.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchall():
                    break
            con.execute(
                "INSERT INTO runs (id, name, config, status, created_at, started_at, heartbeat_at,"
                " pid, host, tags, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')",
                [
                    run_id,
                    name,
                    config_json,
                    status,
                    now,
                    now if running else None,
                    now if running else None,
                    os.getpid() if running else None,
                    HOST if running else None,
                    tag_list,
                ],
            )
        with self._run_file(run_id):
            pass  # creates the file with the current schema
        return run_id

    def add_tags(self, run_id: str, tags: Iterable[str]) -> list[str]:
        """Add labels to a run's tags (kept in order, no duplicates); returns the new tags.

        Raises KeyError for an unknown run.
        """
        extra = check_tags(tags)
        with self._catalog_update() as con:
            row = first_row(
                con.execute("SELECT tags FROM runs WHERE id = ?", [check_run_id(run_id)])
            )
            if row is None:
                raise self._unknown(con, run_id)
            merged = list(dict.fromkeys([*(row[0] or []), *extra]))
            con.execute("UPDATE runs SET tags = ? WHERE id = ?", [merged, run_id])
        return merged

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        pid: int | None = None,
        host: str | None = None,
        device: str | None = None,
        error: str | None = None,
        traceback: str | None = None,
        summary: dict | None = None,
        started: datetime | bool | None = None,
        finished: datetime | bool | None = None,
    ) -> None:
        """Set the given fields of a run; ``None`` leaves a field unchanged.

        ``summary`` is merged into the stored summary (new keys win). ``started`` and
        ``finished`` take a datetime (naive means UTC) or ``True`` for now. Setting status
        ``running`` also stamps ``started_at`` (if unset) and the heartbeat and clears
        pending stop requests; a final status (finished, stopped, failed, diverged) stamps
        ``finished_at`` if unset. Raises KeyError for an unknown run.
        """
        sets: dict[str, Any] = {}
        now = utcnow()
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}")
            sets["status"] = status
        if pid is not None:
            if isinstance(pid, bool) or not isinstance(pid, int):
                raise TypeError(f"pid must be an int, got {pid!r}")
            sets["pid"] = pid
        for field, value in (
            ("host", host),
            ("device", device),
            ("error", error),
            ("traceback", traceback),
        ):
            if value is not None:
                if not isinstance(value, str):
                    raise TypeError(f"{field} must be a str, got {type(value).__name__}")
                sets[field] = value
        for field, value in (("started_at", started), ("finished_at", finished)):
            if value is not None:
                sets[field] = check_time(value, field.removesuffix("_at"), now)
        if summary is not None and not isinstance(summary, dict):
            raise TypeError(f"summary must be a dict, got {type(summary).__name__}")
        with self._catalog_update() as con:
            row = first_row(
                con.execute(
                    "SELECT summary, started_at, finished_at FROM runs WHERE id = ?",
                    [check_run_id(run_id)],
                )
            )
            if row is None:
                raise self._unknown(con, run_id)
            if summary is not None:
                sets["summary"] = to_json({**json.loads(row[0] or "{}"), **summary}, "summary")
            if status == "running":
                sets.setdefault("started_at", row[1] or now)
                sets["heartbeat_at"] = now
                con.execute("DELETE FROM requests WHERE run_id = ?", [run_id])
            elif status in TERMINAL:
                sets.setdefault("finished_at", row[2] or now)
            if sets:
                assignments = ", ".join(f"{field} = ?" for field in sets)
                con.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*sets.values(), run_id])

    def heartbeat(self, run_id: str) -> None:
        """Record that the run's process is alive now. Raises KeyError for an unknown run."""
        self.ping(run_id)

    def ping(self, run_id: str) -> bool:
        """Heartbeat and stop check in one catalog visit; returns :meth:`stop_requested`."""
        with self._catalog_update() as con:
            updated = con.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE id = ? RETURNING id",
                [utcnow(), check_run_id(run_id)],
            ).fetchall()
            if not updated:
                raise self._unknown(con, run_id)
            return _stop_pending(con, run_id)

    def request_stop(self, run_id: str) -> bool:
        """Ask the run's trainer to stop; returns whether there was anything to stop.

        A running run gets a stop request that its trainer sees through
        :meth:`stop_requested` (a :class:`~storage.writer.RunWriter` refreshes it with each
        heartbeat, every 2 s by default). A queued run is marked ``stopped`` at once, as no
        trainer holds it. A run that already ended is left alone (returns False).
        """
        with self._catalog_update() as con:
            row = first_row(
                con.execute("SELECT status FROM runs WHERE id = ?", [check_run_id(run_id)])
            )
            if row is None:
                raise self._unknown(con, run_id)
            if row[0] == "queued":
                con.execute(
                    "UPDATE runs SET status = 'stopped', finished_at = ? WHERE id = ?",
                    [utcnow(), run_id],
                )
                return True
            if row[0] != "running":
                return False
            if not _stop_pending(con, run_id):
                con.execute("INSERT INTO requests VALUES (?, 'stop', ?)", [run_id, utcnow()])
            return True

    def stop_requested(self, run_id: str) -> bool:
        """True once :meth:`request_stop` was called for this run (until it runs again)."""
        with self._catalog(read=True) as con:
            if not con.execute(
                "SELECT 1 FROM runs WHERE id = ?", [check_run_id(run_id)]
            ).fetchall():
                raise self._unknown(con, run_id)
            return _stop_pending(con, run_id)

    def claim_next_queued(self, worker: str) -> dict | None:
        """Atomically take the oldest queued run, mark it running, and return it.

        Two workers, in any threads or processes, never get the same run. The run records
        ``worker`` and this process's pid and host (update them if another process will
        train it). Returns the run as :meth:`get_run` does, or None when the queue is empty.
        """
        worker = check_text(worker, "worker")
        now = utcnow()
        with self._catalog_update() as con:
            row = first_row(
                con.execute(
                    "SELECT id FROM runs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1"
                )
            )
            if row is None:
                return None
            con.execute(
                "UPDATE runs SET status = 'running', worker = ?, pid = ?, host = ?, "
                "started_at = ?, heartbeat_at = ? WHERE id = ?",
                [worker, os.getpid(), HOST, now, now, row[0]],
            )
            con.execute("DELETE FROM requests WHERE run_id = ?", [row[0]])
            return first_run(self._runs_frame(con, row[0]))

    def requeue(self, run_id: str) -> None:
        """Put a stopped, lost or failed run back in the queue, to be resumed by a worker.

        The run reads ``queued`` at once and keeps its place in the creation order; the
        worker that claims it continues it from its checkpoint. ValueError for any other
        status, KeyError for an unknown run.
        """
        with self._catalog_update() as con:  # check and update at once: no race
            runs = self._runs_frame(con, check_run_id(run_id))
            if runs.empty:
                raise self._unknown(con, run_id)
            status = runs["status"].iloc[0]  # derived: a silent 'running' run reads lost
            if status not in RESUMABLE:
                raise ValueError(
                    f"run {run_id!r} is {status}; only {', '.join(RESUMABLE)} runs resume"
                )
            con.execute(
                "UPDATE runs SET status = 'queued', finished_at = NULL, pid = NULL, "
                "worker = NULL WHERE id = ?",
                [run_id],
            )
            con.execute("DELETE FROM requests WHERE run_id = ?", [run_id])

    def remove_queued(self, run_id: str) -> None:
        """Take a run out of the queue; ValueError if it has been claimed or ended.

        A run that never trained is deleted; one queued to resume (it has trained before:
        see :meth:`requeue`) keeps its metrics and goes back to ``stopped``.
        """
        with self._catalog_update() as con:
            row = first_row(
                con.execute(
                    "SELECT status, started_at FROM runs WHERE id = ?", [check_run_id(run_id)]
                )
            )
            if row is None:
                raise self._unknown(con, run_id)
            if row[0] != "queued":
                raise ValueError(
                    f"run {run_id!r} is {row[0]}, not queued; only queued runs can be removed"
                )
            if row[1] is not None:
                con.execute(
                    "UPDATE runs SET status = 'stopped', finished_at = ? WHERE id = ?",
                    [utcnow(), run_id],
                )
            else:
                self._delete(con, run_id)

    def delete_run(self, run_id: str) -> None:
        """Delete a run and all its metrics; ValueError while it is running (and not lost)."""
        run = self.get_run(run_id)
        if run["status"] == "running":
            raise ValueError(
                f"run {run_id!r} is running; stop it (or wait until it is lost) before deleting it"
            )
        with self._catalog_update() as con:
            self._delete(con, run_id)

    def _delete(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        con.execute("DELETE FROM requests WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM runs WHERE id = ?", [run_id])
        path = self.run_path(run_id)
        for file in (path, path.with_name(path.name + ".wal")):
            file.unlink(missing_ok=True)
        forget(path)

    # ------------------------------------------------------------------ reading runs
    def list_runs(
        self,
        status: str | Iterable[str] | None = None,
        tag: str | None = None,
        model: str | None = None,
        dataset: str | None = None,
        schedule: str | None = None,
    ) -> pd.DataFrame:
        """All runs matching every given filter, newest first, one row per run.

        Columns: id, name, status, created_at, started_at, finished_at, heartbeat_at
        (UTC timestamps), pid, host, device, worker, error, traceback, tags (list),
        config and summary (dicts), and model, dataset, schedule taken from the config
        (a dict value contributes its ``"name"``). ``status`` is derived: a ``running``
        run whose heartbeat is older than ``lost_after`` seconds, or whose pid is dead on
        this host, reads as ``lost``; filter on one status or a list of them.
        """
        wanted = check_statuses(status, (*STATUSES, LOST))
        with self._catalog(read=True) as con:
            runs = self._runs_frame(con)
        mask = pd.Series(True, index=runs.index)
        if wanted is not None:
            mask &= runs["status"].isin(wanted)
        if tag is not None:
            mask &= runs["tags"].map(lambda tags: tag in tags)
        for key, value in (("model", model), ("dataset", dataset), ("schedule", schedule)):
            if value is not None:
                mask &= runs[key] == value
        return runs[mask].reset_index(drop=True)

    def get_run(self, run_id: str) -> dict:
        """One run as a dict with the columns of :meth:`list_runs`; KeyError if unknown."""
        with self._catalog(read=True) as con:
            runs = self._runs_frame(con, check_run_id(run_id))
            if runs.empty:
                raise self._unknown(con, run_id)
        return first_run(runs)

    def _runs_frame(
        self, con: duckdb.DuckDBPyConnection, run_id: str | None = None
    ) -> pd.DataFrame:
        where, params = ("WHERE id = ?", [run_id]) if run_id is not None else ("", [])
        raw = con.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs {where} ORDER BY created_at DESC, id",
            params,
        ).df()
        return decode_runs(raw, self.lost_after)

    def _unknown(self, con: duckdb.DuckDBPyConnection, run_id: str) -> KeyError:
        count = con.execute("SELECT count(*) FROM runs").fetchall()[0][0]
        return KeyError(
            f"unknown run id {run_id!r} (the store at {str(self.home)!r} has "
            f"{count} runs; see list_runs())"
        )

    # ------------------------------------------------------------------ curves
    def save_curve(self, name: str, definition: dict) -> None:
        """Store a named target-temperature curve definition, replacing any of that name."""
        name = check_text(name, "curve name")
        if not isinstance(definition, dict):
            raise TypeError(f"curve definition must be a dict, got {type(definition).__name__}")
        text = to_json(definition, "curve definition")
        with self._catalog_update() as con:
            con.execute("INSERT OR REPLACE INTO curves VALUES (?, ?, ?)", [name, text, utcnow()])

    def list_curves(self) -> pd.DataFrame:
        """All curves by name: columns name, definition (dict), created_at (UTC)."""
        with self._catalog(read=True) as con:
            curves = con.execute(
                "SELECT name, definition, created_at FROM curves ORDER BY name"
            ).df()
        curves["definition"] = curves["definition"].map(json.loads)
        curves["created_at"] = pd.to_datetime(curves["created_at"]).dt.tz_localize("UTC")
        return curves

    def load_curve(self, name: str) -> dict:
        """The definition saved under ``name``; KeyError listing the saved names if absent."""
        with self._catalog(read=True) as con:
            row = first_row(con.execute("SELECT definition FROM curves WHERE name = ?", [name]))
            if row is None:
                raise self._unknown_curve(con, name)
        return json.loads(row[0])

    def delete_curve(self, name: str) -> None:
        """Delete the curve ``name``; KeyError listing the saved names if absent."""
        with self._catalog_update() as con:
            if not con.execute(
                "DELETE FROM curves WHERE name = ? RETURNING name", [name]
            ).fetchall():
                raise self._unknown_curve(con, name)

    @staticmethod
    def _unknown_curve(con: duckdb.DuckDBPyConnection, name: str) -> KeyError:
        names = [row[0] for row in con.execute("SELECT name FROM curves ORDER BY name").fetchall()]
        return KeyError(f"unknown curve {name!r}; saved curves: {', '.join(names) or '(none)'}")


# ---------------------------------------------------------------------- helpers
def _stop_pending(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return (
        con.execute(
            "SELECT 1 FROM requests WHERE run_id = ? AND kind = 'stop'", [run_id]
        ).fetchall()
        != []
    )
