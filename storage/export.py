"""Export every table of one run to CSV or Parquet files, in a folder or a zip archive.

Layout (folder or zip alike)::

    run.json                  the catalog entry (config, status, summary, timestamps)
    steps.<ext>               one file per run table, all columns including run_id
    site_temperatures.<ext>
    lr_scans.<ext>
    fits.<ext>
    evaluations.<ext>

Every column of the current schema is written, the counts behind each temperature at the
run's granularity (``changed`` of ``total``, ``flipped_bits`` of ``total_bits``...) and both
models' fits included; a run's granularity is in its config in run.json. CSV writes NULL and
NaN alike as an empty field; Parquet keeps the types and the NULLs.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .reader import fetch_arrow
from .schema import RUN_TABLES

FORMATS = ("csv", "parquet")


def read_all(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    """Every run table as Arrow, all columns, in step order (ties in logging order)."""
    tables = {}
    for table in RUN_TABLES:
        tables[table] = fetch_arrow(con, f"SELECT * FROM {table} ORDER BY step, rowid")
    return tables


def write_export(
    run: Mapping[str, Any], tables: Mapping[str, pa.Table], format: str, out: Path
) -> Path:
    """Write ``run`` as run.json and each table as ``<table>.<format>`` under ``out``.

    ``out`` ending in ``.zip`` makes one zip archive; anything else is a folder (created
    if needed; files of the same names are replaced). Returns ``out``.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    files = {"run.json": json.dumps(dict(run), default=_json_default, indent=2).encode()}
    for name, table in tables.items():
        files[f"{name}.{format}"] = _encode(table, format)
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
    return out


def _encode(table: pa.Table, format: str) -> bytes:
    buffer = io.BytesIO()
    if format == "parquet":
        pq.write_table(table, buffer)
    else:
        table.to_pandas().to_csv(buffer, index=False)
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to run.json")
