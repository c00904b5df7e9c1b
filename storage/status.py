"""Run statuses, and how a stored catalog row reads: decoded values and the derived status.

A run's stored status is one of :data:`STATUSES`. Readers see one more, :data:`LOST`: a
``running`` run whose heartbeat is older than ``lost_after`` seconds, or whose process is
gone on this host, has no trainer any more although nobody recorded its end (kill -9, a
crashed machine). These are pure functions of the rows; :mod:`storage.catalog` does the I/O.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

STATUSES = ("queued", "running", "finished", "stopped", "failed", "diverged")
LOST = "lost"  # derived on read: 'running' but silent for too long or its process is gone
TERMINAL = ("finished", "stopped", "failed", "diverged")
LIVE = ("queued", "running")  # statuses whose data still changes
RESUMABLE = ("stopped", LOST, "failed")  # can continue from the last checkpoint (resume)
DEFAULT_LOST_AFTER = 30.0  # seconds without a heartbeat before a running run reads as lost
HOST = socket.gethostname()

# Catalog columns in the order list_runs shows them.
RUN_COLUMNS = (
    "id",
    "name",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "pid",
    "host",
    "device",
    "worker",
    "error",
    "traceback",
    "tags",
    "config",
    "summary",
)
_TIMESTAMPS = ("created_at", "started_at", "finished_at", "heartbeat_at")


def derive_status(
    status: str, last_beat: Any, pid: Any, host: Any, lost_after: float, now: datetime
) -> str:
    """The status a reader sees: ``lost`` for a running run that is silent or dead, else
    ``status``. ``last_beat`` is the heartbeat (or start) time, tz-aware UTC or missing."""
    if status != "running":
        return status
    if not pd.isna(last_beat) and now - last_beat > timedelta(seconds=lost_after):
        return LOST
    if host == HOST and not pd.isna(pid) and not pid_alive(int(pid)):
        return LOST
    return status


def decode_runs(raw: pd.DataFrame, lost_after: float) -> pd.DataFrame:
    """Catalog rows (:data:`RUN_COLUMNS`) as list_runs returns them: UTC timestamps, parsed
    JSON, tag lists, model/dataset/schedule labels from the config, derived status."""
    runs = raw.copy()
    for column in _TIMESTAMPS:
        runs[column] = pd.to_datetime(runs[column]).dt.tz_localize("UTC")
    runs["pid"] = runs["pid"].astype("Int64")
    runs["tags"] = runs["tags"].map(lambda tags: list(tags) if tags is not None else [])
    runs["config"] = runs["config"].map(json.loads)
    runs["summary"] = runs["summary"].map(lambda text: json.loads(text) if text else {})
    for key in ("model", "dataset", "schedule"):
        runs[key] = runs["config"].map(lambda config, key=key: _config_label(config, key))
    now = datetime.now(timezone.utc)
    last_beat = runs["heartbeat_at"].fillna(runs["started_at"])
    runs["status"] = [
        derive_status(status, beat, pid, host, lost_after, now)
        for status, beat, pid, host in zip(
            runs["status"], last_beat, runs["pid"], runs["host"], strict=True
        )
    ]
    return runs


def first_run(runs: pd.DataFrame) -> dict:
    """The first row of :func:`decode_runs` output as plain Python values: datetimes (UTC)
    or None, ints, lists and dicts."""
    row = {}
    for key, value in runs.iloc[0].items():
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        elif not isinstance(value, (list, dict)) and pd.isna(value):
            value = None
        elif hasattr(value, "item"):
            value = value.item()
        row[key] = value
    return row


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _config_label(config: dict, key: str) -> str | None:
    value = config.get(key)
    if isinstance(value, dict):
        value = value.get("name")
    return None if value is None else str(value)
