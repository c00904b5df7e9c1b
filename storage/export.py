"""Export one run to CSV or Parquet: one file, a folder of files, or a zip archive.

DuckDB writes every file itself (``COPY (SELECT ...) TO ...``), so a run of millions of
rows is streamed from its run file to disk without a DataFrame in memory.

Layouts, chosen by the output path:

- ``run.parquet`` / ``run.csv`` (the path ends in the format's suffix): **one file**, one
  table. Its ``kind`` column says what a row is: ``run`` (one row, the catalog entry as
  JSON in ``run_json``), then ``steps``, ``site_temperatures``, ``lr_scans``, ``fits``,
  ``evaluations``, ``guard_events`` and ``metrics`` rows with their own columns (the union of all
  tables' columns; a column a table lacks is NULL). ``pandas.read_parquet(path)`` reads it;
  ``frame[frame.kind == "steps"].dropna(axis=1, how="all")`` gives one table back.
- ``run.zip``: one zip archive of the folder layout.
- any other path (no suffix, or an existing folder): **a folder** holding ``run.json`` and
  ``<table>.<format>`` per run table, all columns including ``run_id``.

Every column of the current schema is written, the counts behind each temperature at the
run's granularity (``changed`` of ``total``, ``flipped_bits`` of ``total_bits``...) and both
models' fits included; a run's granularity is in its config. CSV writes NULL as an empty
field; Parquet keeps the types and the NULLs. An output that exists already is an error
(``FileExistsError`` naming it, the file left as it was) unless ``force=True``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .schema import RUN_TABLES

__all__ = ["FORMATS", "check_format", "export_layout", "write_export"]

FORMATS = ("csv", "parquet")
LAYOUTS = ("file", "folder", "zip")
_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet"}


def check_format(format: str) -> str:
    """``format`` if it is one of :data:`FORMATS`, else ValueError listing them."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    return format


def export_layout(out: Path, format: str | None) -> tuple[str, str]:
    """``(format, layout)`` for writing to ``out``: the layout from the path (see the module
    docstring) and the format given, else the one the path's suffix names, else csv.

    Raises ValueError when the suffix and ``format`` disagree, or the suffix is neither a
    format nor ``.zip`` (a folder is asked for by a path without a suffix).
    """
    suffix = out.suffix.lower().lstrip(".")
    if format is not None:
        check_format(format)
    if out.is_dir():
        return format or "csv", "folder"
    if suffix == "zip":
        return format or "csv", "zip"
    if suffix in FORMATS:
        if format is not None and format != suffix:
            raise ValueError(
                f"{out} ends in .{suffix} but the format is {format}; write "
                f"{out.with_suffix('.' + format)} or choose the format {suffix}"
            )
        return suffix, "file"
    if suffix:
        raise ValueError(
            f"cannot tell what to write from the suffix of {out}: end it in "
            f".{' or .'.join(FORMATS)} for one file, .zip for an archive, or give a folder "
            "path without a suffix"
        )
    return format or "csv", "folder"


def write_export(
    con: duckdb.DuckDBPyConnection,
    run: Mapping[str, Any],
    format: str | None,
    out: Path,
    force: bool = False,
) -> Path:
    """Write the run whose file ``con`` has open (as its default database) to ``out``.

    Args:
        con: a cursor on the run's DuckDB file.
        run: the catalog entry (:meth:`~storage.Store.get_run`), written as run.json or the
            ``run`` row.
        format: ``"csv"`` or ``"parquet"``; None takes it from ``out``'s suffix (else csv).
        out: the output path; its form picks the layout (see the module docstring).
        force: replace existing output files instead of raising FileExistsError.

    Returns ``out``.
    """
    format, layout = export_layout(out, format)
    run_json = json.dumps(dict(run), default=_json_default, indent=2)
    if layout == "file":
        _refuse_existing([out], force)
        out.parent.mkdir(parents=True, exist_ok=True)
        compact = json.dumps(dict(run), default=_json_default)  # one CSV line
        _copy(con, _one_table_query(compact), out, format)
        return out
    names = ["run.json", *(f"{table}.{format}" for table in RUN_TABLES)]
    if layout == "zip":
        _refuse_existing([out], force)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
            _write_folder(con, run_json, format, Path(tmp))
            partial = out.with_name(out.name + ".partial")
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in names:
                    archive.write(Path(tmp) / name, name)
            os.replace(partial, out)
        return out
    _refuse_existing([out / name for name in names], force)
    out.mkdir(parents=True, exist_ok=True)
    _write_folder(con, run_json, format, out)
    return out


def _write_folder(con: duckdb.DuckDBPyConnection, run_json: str, format: str, folder: Path) -> None:
    (folder / "run.json").write_text(run_json)
    for table in RUN_TABLES:
        _copy(
            con, f"SELECT * FROM {table} ORDER BY step, rowid", folder / f"{table}.{format}", format
        )


def _one_table_query(run_json: str) -> str:
    # Tables in their export order, rows of each in step order (ties in logging order); the
    # run row first. UNION ALL BY NAME fills the columns a table lacks with NULL.
    parts = [f"SELECT 0 AS _table, 0 AS _row, 'run' AS kind, {_literal(run_json)} AS run_json"]
    for i, table in enumerate(RUN_TABLES, start=1):
        parts.append(f"SELECT {i} AS _table, rowid AS _row, '{table}' AS kind, * FROM {table}")
    union = " UNION ALL BY NAME ".join(f"({part})" for part in parts)
    return f"SELECT * EXCLUDE (_table, _row) FROM ({union}) ORDER BY _table, step, _row"


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path, format: str) -> None:
    con.execute(f"COPY ({query}) TO {_literal(str(path))} ({_COPY_OPTIONS[format]})")


def _refuse_existing(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{', '.join(existing)} already exists; choose another output or replace it "
            "(force=True)"
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to run.json")
