"""Input checks shared by the catalog, the writer and the readers.

Each returns the value in its stored form or raises ``ValueError`` / ``TypeError`` with a
message naming the bad value and what would be accepted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_run_id(run_id: Any) -> str:
    """Return ``run_id`` if it is a well-formed id (it becomes a file name), else raise."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"bad run id {run_id!r}; ids are 1-64 letters, digits, '-' or '_', "
            "as returned by create_run"
        )
    return run_id


def to_json(value: Any, what: str) -> str:
    """Serialise ``value`` to JSON text; paths, sets and NumPy scalars/arrays are converted."""

    def convert(obj: Any) -> Any:
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        if isinstance(obj, (set, frozenset)):
            try:
                return sorted(obj)
            except TypeError:  # mixed types: keep them all, in any order
                return list(obj)
        if hasattr(obj, "tolist"):  # NumPy scalars and arrays
            return obj.tolist()
        raise TypeError(
            f"{what} holds a {type(obj).__name__} ({obj!r}), which is not "
            "JSON-serialisable; use str, int, float, bool, None, list or dict"
        )

    return json.dumps(value, default=convert, sort_keys=True, allow_nan=True)


def check_text(value: Any, what: str) -> str:
    """A non-empty, non-blank str."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty str, got {value!r}")
    return value


def check_tags(tags: Any) -> list[str]:
    """A list of non-empty str; a bare str is refused (it would split into letters)."""
    if isinstance(tags, str):
        raise TypeError(f"tags must be a list of str, got the str {tags!r}; write [{tags!r}]")
    tag_list = list(tags)
    for tag in tag_list:
        check_text(tag, "each tag")
    return tag_list


def check_statuses(status: str | Iterable[str] | None, allowed: Sequence[str]) -> list[str] | None:
    """None, or one status or several, each one of ``allowed``; returned as a list."""
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    for value in wanted:
        if value not in allowed:
            raise ValueError(f"unknown status {value!r}; choose from: {', '.join(allowed)}")
    return wanted


def check_time(value: Any, what: str, now: datetime) -> datetime:
    """``True`` (meaning ``now``) or a datetime (naive is UTC), as naive UTC."""
    if value is True:
        return now
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    raise TypeError(f"{what} must be a datetime or True (now), got {value!r}")


def check_limit(value: int | None, what: str) -> int | None:
    """None (no limit) or an int >= 2."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{what} must be an int >= 2 or None (no limit), got {value!r}")
    return int(value)


def step_number(step: Any) -> int:
    """A training step: an int >= 0 (NumPy ints welcome, floats and bools refused)."""
    if isinstance(step, (bool, float)) or not hasattr(step, "__index__") or int(step) < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    return int(step)


def count(value: Any, what: str) -> int:
    """A count: an int >= 0."""
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__") or int(value) < 0:
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")
    return int(value)


def number(value: Any, what: str) -> float | None:
    """None (stored as NULL) or anything ``float()`` takes except str and bool; NaN stays NaN."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{what} must be a number or None, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number or None, got {value!r}") from None


def finite(value: Any, what: str) -> float:
    """A finite number (not None, NaN or infinite), as a float."""
    result = number(value, what)
    if result is None or not np.isfinite(result):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return result


def floats(values: Any, shape: tuple[int, ...] | None, what: str) -> np.ndarray:
    """A float64 array of exactly ``shape``, or of any non-empty 1-D shape when None."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be numbers, got {type(values).__name__}") from None
    if shape is None:
        if arr.ndim != 1 or not len(arr):
            raise ValueError(f"{what} must be a non-empty 1-D sequence, got shape {arr.shape}")
    elif arr.shape != shape:
        raise ValueError(f"{what} must have shape {shape} (matching names/rates), got {arr.shape}")
    return arr


def ints(values: Any, n: int, what: str) -> np.ndarray:
    """An int64 array of ``n`` whole numbers."""
    arr = floats(values, (n,), what)
    if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(f"{what} must be whole numbers, got {values!r}")
    return arr.astype(np.int64)


def counts(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """An int64 array of exactly ``shape`` holding whole numbers >= 0."""
    arr = floats(values, shape, what)
    if not np.all(np.isfinite(arr) & (arr == np.round(arr)) & (arr >= 0)):
        raise ValueError(f"{what} must be whole numbers >= 0, got {values!r}")
    return arr.astype(np.int64)


def at_most(part: np.ndarray, whole: np.ndarray, what: str, of: str) -> None:
    """Raise unless ``part <= whole`` element-wise (``whole`` broadcast)."""
    if np.any(part > whole):
        raise ValueError(
            f"{what} must not exceed {of}, got {part.tolist()!r} of {whole.tolist()!r}"
        )
