"""Table definitions and schema migrations for the catalog file and the per-run files.

Layout of a store home::

    <home>/catalog.duckdb        runs, curves, requests (stop requests), schema_version
    <home>/runs/<run_id>.duckdb  steps, site_temperatures, lr_scans, fits, evaluations,
                                 guard_events, metrics, site_steps (derived index of
                                 measured steps), schema_version

Each file records the migrations applied to it in ``schema_version``. A migration is a
function of a connection, appended to :data:`CATALOG_MIGRATIONS` or
:data:`RUN_MIGRATIONS` and never edited afterwards: migration ``i`` (1-based) takes a file
from version ``i - 1`` to version ``i``. :func:`migrate` applies the missing ones in order,
each in its own transaction, so an old file is upgraded the first time it is opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

Migration = Callable[[duckdb.DuckDBPyConnection], None]


# ---------------------------------------------------------------- catalog migrations
def _catalog_v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE runs (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            config VARCHAR NOT NULL,      -- JSON text
            status VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, -- all timestamps are UTC
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            heartbeat_at TIMESTAMP,
            pid INTEGER,
            host VARCHAR,
            device VARCHAR,
            error VARCHAR,
            traceback VARCHAR,
            summary VARCHAR,              -- JSON text
            tags VARCHAR[]
        )
        """
    )
    con.execute(
        """
        CREATE TABLE curves (
            name VARCHAR PRIMARY KEY,
            definition VARCHAR NOT NULL,  -- JSON text
            created_at TIMESTAMP NOT NULL
        )
        """
    )


def _catalog_v2(con: duckdb.DuckDBPyConnection) -> None:
    # The run queue (which worker claimed a run) and dashboard -> trainer stop requests.
    con.execute("ALTER TABLE runs ADD COLUMN worker VARCHAR")
    con.execute(
        """
        CREATE TABLE requests (
            run_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,        -- 'stop'
            created_at TIMESTAMP NOT NULL
        )
        """
    )


def _catalog_v3(con: duckdb.DuckDBPyConnection) -> None:
    # Temperatures gained a granularity; every run recorded before was measured per sample.
    rows = con.execute("SELECT id, config FROM runs").fetchall()
    for run_id, text in rows:
        config = json.loads(text)
        if isinstance(config, dict) and "granularity" not in config:
            config["granularity"] = "sample"
            con.execute(
                "UPDATE runs SET config = ? WHERE id = ?",
                [json.dumps(config, sort_keys=True, allow_nan=True), run_id],
            )


CATALOG_MIGRATIONS: list[Migration] = [_catalog_v1, _catalog_v2, _catalog_v3]


# ---------------------------------------------------------------- run-file migrations
def _run_v1(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in _RUN_V1_COLUMNS.items():
        body = ", ".join(f"{name} {sql}" for name, sql, _ in columns)
        con.execute(f"CREATE TABLE {table} ({body})")


def _run_v2(con: duckdb.DuckDBPyConnection) -> None:
    # One row per measured step (per log_sites call), so that the site matrix finds its
    # steps without scanning every (step, site) row.
    con.execute("CREATE TABLE site_steps (step BIGINT NOT NULL)")
    con.execute("INSERT INTO site_steps SELECT DISTINCT step FROM site_temperatures ORDER BY step")


def _run_v3(con: duckdb.DuckDBPyConnection) -> None:
    # Granularities: what each site counted and out of how many, flipped bits, and the Weibull
    # fits next to the Gaussian ones. Rows written before were measured per sample.
    for table, columns in _RUN_V3_ADDED.items():
        for name, sql, _ in columns:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql}")
    con.execute("UPDATE site_temperatures SET total = batch_size, changed_samples = changed")
    # lr_scans rows had no batch size: take that of the step's measurement, else the run's.
    con.execute(
        """
        UPDATE lr_scans SET total = coalesce(
            (SELECT max(s.batch_size) FROM site_temperatures s WHERE s.step = lr_scans.step),
            (SELECT max(batch_size) FROM site_temperatures)
        )
        WHERE site_index IS NOT NULL
        """
    )
    con.execute(
        "UPDATE lr_scans SET changed = CAST(round(probability * total) AS BIGINT) "
        "WHERE total IS NOT NULL AND isfinite(probability)"
    )
    con.execute("UPDATE fits SET model = 'gaussian'")


def _run_v4(con: duckdb.DuckDBPyConnection) -> None:
    # ActCoolLR's divergence guard: one row per cut of the learning rate. Runs recorded before
    # had no guard, so the table starts empty.
    for table, columns in _RUN_V4_TABLES.items():
        body = ", ".join(f"{name} {sql}" for name, sql, _ in columns)
        con.execute(f"CREATE TABLE {table} ({body})")


def _run_v5(con: duckdb.DuckDBPyConnection) -> None:
    # Named metrics of runs recorded with actcool.track (an open namespace: any name). Runs
    # recorded before had none, so the table starts empty.
    for table, columns in _RUN_V5_TABLES.items():
        body = ", ".join(f"{name} {sql}" for name, sql, _ in columns)
        con.execute(f"CREATE TABLE {table} ({body})")


RUN_MIGRATIONS: list[Migration] = [_run_v1, _run_v2, _run_v3, _run_v4, _run_v5]


# The run-file tables as _run_v1 creates them: (name, DuckDB type, Arrow type). Frozen;
# RUN_TABLES below adds the later columns. Nullable unless noted.
_RUN_V1_COLUMNS: dict[str, list[tuple[str, str, pa.DataType]]] = {
    "steps": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),
        ("epoch", "DOUBLE", pa.float64()),  # may be fractional
        ("lr", "DOUBLE", pa.float64()),
        ("loss", "DOUBLE", pa.float64()),
        ("mean_temperature", "DOUBLE", pa.float64()),
        ("target_temperature", "DOUBLE", pa.float64()),
        ("wall_time", "DOUBLE NOT NULL", pa.float64()),  # unix seconds when logged
    ],
    "site_temperatures": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),
        ("site_index", "INTEGER NOT NULL", pa.int32()),
        ("site_name", "VARCHAR NOT NULL", pa.string()),
        ("changed", "BIGINT", pa.int64()),
        ("batch_size", "BIGINT", pa.int64()),
        ("temperature", "DOUBLE", pa.float64()),
    ],
    "lr_scans": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),
        ("epoch", "DOUBLE", pa.float64()),
        ("rate", "DOUBLE NOT NULL", pa.float64()),
        ("site", "VARCHAR NOT NULL", pa.string()),  # a site name or 'mean'
        ("site_index", "INTEGER", pa.int32()),  # NULL for 'mean'
        ("probability", "DOUBLE", pa.float64()),
        ("temperature", "DOUBLE", pa.float64()),
    ],
    "fits": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),
        ("site", "VARCHAR NOT NULL", pa.string()),  # a site name or 'mean'
        ("mu", "DOUBLE", pa.float64()),  # NULL when no fit was possible
        ("sigma", "DOUBLE", pa.float64()),
        ("rmse", "DOUBLE", pa.float64()),
        ("n_informative", "INTEGER", pa.int32()),
    ],
    "evaluations": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),
        ("epoch", "DOUBLE", pa.float64()),
        ("train_loss", "DOUBLE", pa.float64()),
        ("train_error", "DOUBLE", pa.float64()),
        ("val_loss", "DOUBLE", pa.float64()),
        ("val_error", "DOUBLE", pa.float64()),
        ("test_error", "DOUBLE", pa.float64()),
        ("wall_time", "DOUBLE NOT NULL", pa.float64()),
    ],
}

# Columns added by _run_v3, appended to the tables of version 1 (frozen, like _RUN_V1_COLUMNS).
_RUN_V3_ADDED: dict[str, list[tuple[str, str, pa.DataType]]] = {
    "site_temperatures": [
        ("total", "BIGINT", pa.int64()),  # denominator of `changed` at the run's granularity
        ("flipped_bits", "BIGINT", pa.int64()),
        ("total_bits", "BIGINT", pa.int64()),
        ("changed_samples", "BIGINT", pa.int64()),  # NULL where that counter was not counted
        ("changed_positions", "BIGINT", pa.int64()),
        ("total_positions", "BIGINT", pa.int64()),
    ],
    "lr_scans": [
        ("changed", "BIGINT", pa.int64()),  # at the run's granularity; NULL for 'mean'
        ("total", "BIGINT", pa.int64()),
        ("flipped_bits", "BIGINT", pa.int64()),
        ("total_bits", "BIGINT", pa.int64()),
        ("changed_samples", "BIGINT", pa.int64()),  # NULL where that counter was not counted
        ("batch_size", "BIGINT", pa.int64()),
        ("changed_positions", "BIGINT", pa.int64()),
        ("total_positions", "BIGINT", pa.int64()),
    ],
    "fits": [
        ("model", "VARCHAR", pa.string()),  # 'gaussian' | 'weibull'
        ("lambda0", "DOUBLE", pa.float64()),  # Weibull; NULL for Gaussian rows and no fit
        ("k", "DOUBLE", pa.float64()),
        ("reason", "VARCHAR", pa.string()),  # why there is no fit; NULL when fitted
    ],
}

# Tables created by _run_v4 (frozen, like _RUN_V1_COLUMNS).
_RUN_V4_TABLES: dict[str, list[tuple[str, str, pa.DataType]]] = {
    # At most one row per step: the writer leaves out a row for a step already stored.
    "guard_events": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),  # the measurement step that tripped the guard
        # 'loss_rise' | 'temperature_collapse' | 'site_dark'
        ("reason", "VARCHAR NOT NULL", pa.string()),
        ("detail", "VARCHAR NOT NULL", pa.string()),  # what the guard saw, in words
        ("lr_before", "DOUBLE NOT NULL", pa.float64()),  # the rate that step trained at
        ("lr_after", "DOUBLE NOT NULL", pa.float64()),  # the ceiling for the rest of the run
    ],
}

# Tables created by _run_v5 (frozen, like _RUN_V1_COLUMNS).
_RUN_V5_TABLES: dict[str, list[tuple[str, str, pa.DataType]]] = {
    # Long format: one row per (step, phase, name). Metrics with no column of their own: a
    # tracked loop's extra step metrics, its per-group rates, any evaluation it names.
    "metrics": [
        ("run_id", "VARCHAR NOT NULL", pa.string()),
        ("step", "BIGINT NOT NULL", pa.int64()),
        ("phase", "VARCHAR NOT NULL", pa.string()),  # 'train' (per step) | 'eval'
        ("name", "VARCHAR NOT NULL", pa.string()),
        ("value", "DOUBLE", pa.float64()),  # NaN where the value was not finite
        ("wall_time", "DOUBLE NOT NULL", pa.float64()),
    ],
}

# The current columns of every run-file table, in file order. The writer builds its Arrow
# batches from these, the reader selects them.
RUN_TABLES: dict[str, list[tuple[str, str, pa.DataType]]] = {
    **{table: columns + _RUN_V3_ADDED.get(table, []) for table, columns in _RUN_V1_COLUMNS.items()},
    **_RUN_V4_TABLES,
    **_RUN_V5_TABLES,
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a run-file table, in column order."""
    return pa.schema([(name, typ) for name, _, typ in RUN_TABLES[table]])


def column_names(table: str) -> list[str]:
    """Column names of a run-file table, in order."""
    return [name for name, _, _ in RUN_TABLES[table]]


def optional_columns(table: str) -> list[str]:
    """Columns added after version 1, which bulk inserts may leave out (stored as NULL)."""
    return [name for name, _, _ in _RUN_V3_ADDED.get(table, [])]


# ---------------------------------------------------------------- applying migrations
def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in an open file; 0 for an empty file."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]


def migrate(con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration], kind: str) -> int:
    """Bring an open file up to ``len(migrations)``; return the version it had before.

    Raises ``RuntimeError`` when the file is newer than this code (written by a newer
    ActCool), rather than guessing at its layout.
    """
    before = schema_version(con)
    if before > len(migrations):
        raise RuntimeError(
            f"{kind} file has schema version {before}, but this version of actcool knows "
            f"versions up to {len(migrations)}; upgrade actcool to read it"
        )
    for version in range(before + 1, len(migrations) + 1):
        con.begin()
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            migrations[version - 1](con)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utcnow()])
        except BaseException:
            con.rollback()
            raise
        con.commit()
    return before


# Files already migrated by this process: real path -> (device, inode) of the file then. A
# file deleted and created afresh (a store folder removed under a running app) has another
# identity, so it is migrated again instead of being taken for the old, migrated one.
_checked: dict[str, tuple[int, int]] = {}


def ensure_migrated(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike,
    migrations: Sequence[Migration],
    kind: str,
) -> None:
    """:func:`migrate` the file at ``path`` once per process; later calls are free.

    Call it inside the ``connect`` block of ``con``, which keeps other threads out.
    """
    if not is_migrated(con, path, migrations):
        migrate(con, migrations, kind)
        _remember(path)


def is_migrated(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike, migrations: Sequence[Migration]
) -> bool:
    """Whether the file at ``path``, open on ``con``, is at ``len(migrations)``; only reads,
    so it serves a read-only connection. Remembered per file identity (``_checked``)."""
    key = os.path.realpath(path)
    identity = _identity(key)
    if identity is not None and _checked.get(key) == identity:
        return True
    if schema_version(con) != len(migrations):
        return False
    _remember(path)
    return True


def _identity(key: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``key``; None where it is not on disk (not yet, or
    deleted while open): such a file is always checked, and nothing is remembered."""
    try:
        stat = os.stat(key)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _remember(path: str | os.PathLike) -> None:
    key = os.path.realpath(path)
    identity = _identity(key)
    if identity is not None:
        _checked[key] = identity


def forget(path: str | os.PathLike) -> None:
    """Drop ``path`` from the per-process migration cache (after deleting the file)."""
    _checked.pop(os.path.realpath(path), None)


def utcnow() -> datetime:
    """The current UTC time as a naive datetime, the form stored in TIMESTAMP columns."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
