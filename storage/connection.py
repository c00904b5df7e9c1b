"""Short-lived access to DuckDB files that waits out other processes' file locks.

DuckDB lets one process at a time open a database file (read-only opens included); a
second process gets ``IOException: Could not set lock on file``. So every ActCool process
holds a file only for one unit of work, and every access goes through :func:`connect`,
which retries lock conflicts with jittered exponential back-off. A conflict reaches the
caller only as :class:`LockTimeout`, after ``timeout`` seconds.

Holding a file briefly must also be cheap. Creating a DuckDB instance (``duckdb.connect``
on a path) costs 25-100 ms, most of it registering built-in functions, and the file stays
locked all that time. Instead each process keeps one in-memory instance, the hub, and
``ATTACH``-es a file for the duration of a ``with connect(...)`` block, then ``DETACH``-es
it, which checkpoints and releases the lock: about 2 ms for a small read and 25 ms for a
write, so readers and writers in other processes rarely wait.

A reader opens a file with ``read_only=True``: DuckDB then takes a shared lock (readers in
other processes are not kept out, a writer is), writes nothing to the file, and refuses a
file that is not there instead of creating it, so a reader never leaves a file behind in a
store folder that is being deleted.

Within a process, ``connect`` blocks run one at a time (a re-entrant process-wide lock,
taken only once the file is attached, never while waiting for another process). Blocks
are short, so threads barely notice, and it rules out everything that can go wrong when
threads share a DuckDB instance: optimistic-concurrency conflicts between two updates of
one row, ``DETACH`` waiting on another thread's transaction, and lock-order deadlocks
between DuckDB's internal locks and the GIL. It also makes each block's read-modify-write
atomic across threads, as the file lock makes it atomic across processes.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 60.0  # seconds; generous, as a file is normally held for < 50 ms
_FIRST_DELAY = 0.002  # seconds before the first retry; doubles up to _MAX_DELAY
_MAX_DELAY = 0.05  # a refused attach is cheap, so poll often to keep write-to-read lag low
_WARN_AFTER = 5.0  # seconds of waiting before one warning is logged


class LockTimeout(TimeoutError):
    """Another process kept a database file locked for longer than the lock timeout."""


def is_lock_error(exc: BaseException) -> bool:
    """True when ``exc`` is DuckDB refusing a file because another process holds it."""
    return isinstance(exc, duckdb.IOException) and "Could not set lock on file" in str(exc)


class _Hub:
    """This process's in-memory DuckDB instance and the files attached to it.

    Only used with the process lock held.
    """

    def __init__(self) -> None:
        self.db = duckdb.connect(":memory:")
        # real path -> [alias, users (nested blocks), attached read-only]
        self.attached: dict[str, list] = {}
        self.aliases = (f"f{i}" for i in itertools.count())

    def attach(self, path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """Attach ``path`` (or reuse the attachment of an enclosing block) and return a new
        cursor whose default database it is; DuckDB's IOException on a lock conflict, and
        for ``read_only`` on a file that does not exist."""
        entry = self.attached.get(path)
        if entry is None:
            # A signal (SystemExit) between ATTACH and the bookkeeping, or a failed DETACH,
            # can leave the file attached but unrecorded: adopt it rather than fail, where
            # its mode serves this block.
            orphan = self.db.execute(
                "SELECT database_name, readonly FROM duckdb_databases() WHERE path = ?", [path]
            ).fetchall()
            if orphan and orphan[0][1] and not read_only:
                self.db.execute(f"DETACH {orphan[0][0]}")
                orphan = []
            alias = orphan[0][0] if orphan else next(self.aliases)
            if not orphan:
                quoted = path.replace("'", "''")
                mode = " (READ_ONLY)" if read_only else ""
                self.db.execute(f"ATTACH '{quoted}' AS {alias}{mode}")
            entry = self.attached[path] = [alias, 0, bool(orphan[0][1]) if orphan else read_only]
        elif entry[2] and not read_only:
            raise RuntimeError(
                f"{path!r} is open read-only in an enclosing block and cannot be written "
                "inside it; open it for writing outside that block"
            )
        entry[1] += 1
        try:
            cursor = self.db.cursor()
            cursor.execute(f"USE {entry[0]}")
            return cursor
        except BaseException:
            self.release(path)
            raise

    def release(self, path: str) -> None:
        entry = self.attached[path]
        entry[1] -= 1
        if entry[1] == 0:
            del self.attached[path]
            self.db.execute(f"DETACH {entry[0]}")  # checkpoints, then unlocks the file


_hub: _Hub | None = None
_process_lock = threading.RLock()


@contextmanager
def connect(
    path: str | os.PathLike, timeout: float = DEFAULT_LOCK_TIMEOUT, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Give a cursor on which unqualified table names refer to the file at ``path``.

    The file is created if missing and held (locked against other processes) only until
    the ``with`` block ends. With ``read_only`` nothing is written or created: a missing
    file is DuckDB's IOException, other readers may hold the file at the same time, and
    a block nested inside a writing block of the same file reads through that one. Lock
    conflicts are retried with jittered exponential back-off (2 ms doubling to 50 ms); after
    ``timeout`` seconds :class:`LockTimeout` is raised, naming the file and DuckDB's
    description of the holder. Other errors are raised at once.
    Blocks of one process run one at a time (see the module docstring); they may nest.
    """
    global _hub
    real = os.path.realpath(path)
    started = time.monotonic()
    delay = _FIRST_DELAY
    warned = False
    while True:
        _process_lock.acquire()
        try:
            if _hub is None:
                _hub = _Hub()
            cursor = _hub.attach(real, read_only)
            break
        except BaseException as exc:
            _process_lock.release()
            if not is_lock_error(exc):
                raise
            waited = time.monotonic() - started
            if waited >= timeout:
                raise LockTimeout(
                    f"database file {str(path)!r} stayed locked by another process for "
                    f"{waited:.1f} s (lock timeout {timeout:g} s); DuckDB said: {exc}"
                ) from exc
            if waited >= _WARN_AFTER and not warned:
                log.warning("waiting %.1f s so far for the lock on %s", waited, path)
                warned = True
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, timeout - waited)))
            delay = min(delay * 2, _MAX_DELAY)
    try:
        yield cursor
    finally:
        try:
            cursor.close()
            _hub.release(real)
        finally:
            _process_lock.release()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction: commit on success, roll back on any exception."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


def first_row(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row of the query just executed on ``con``, or None; reads the result to
    its end, as DuckDB refuses ``register`` and ``sql`` on a connection with a pending one."""
    rows = con.fetchall()
    return rows[0] if rows else None


_inherited: list[_Hub] = []  # the parent's hubs, in a forked child: kept, never closed


def _reset_after_fork() -> None:
    # A DuckDB instance must not be used across fork, and a lock held by another thread at
    # fork time would stay held forever in the child: start afresh there. The parent's
    # instance is kept referenced, not dropped: destroying it in the child (whose DuckDB
    # threads did not survive the fork) crashes the child, e.g. every subprocess started
    # with a preexec_fn (Ray starts its servers so) before it could exec.
    global _hub, _process_lock
    if _hub is not None:
        _inherited.append(_hub)
    _hub = None
    _process_lock = threading.RLock()


os.register_at_fork(after_in_child=_reset_after_fork)
