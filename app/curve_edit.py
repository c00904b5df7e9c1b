"""Pure logic of the Design page: presets to control points, lasso strokes, validation.

A target curve on the Design page is edited as control points ``(fraction, temperature)``
(docs/algorithm.md §5): a preset is sampled into points, a stroke drawn with Plotly's lasso
replaces the stretch of points it spans, and the points are validated by
:class:`actcool.DrawnCurve`, whose ``ValueError`` names the bad point. Nothing here touches Streamlit, so all of it is
unit-tested directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from actcool import (
    ConstantCurve,
    CosineCurve,
    DrawnCurve,
    PowerCurve,
    ReplayCurve,
    TargetCurve,
    curve_from_dict,
)
from actcool.curves import PAPER_T_START

__all__ = [
    "COLUMNS",
    "PRESETS",
    "apply_stroke",
    "build_curve",
    "curve_or_message",
    "points_frame",
    "preset_curve",
    "preset_points",
    "replay_curve",
    "sort_points",
    "stroke_from_selection",
]

COLUMNS = ("fraction", "temperature")  # the editable table's columns
# "Calibrated default" is the run's default target (app.preview.calibrated_default).
PRESETS = (
    "Calibrated default",
    "Power cool-down",
    "Constant",
    "Cosine",
    "Replay a finished run",
    "Saved curve",
)
STROKE_SPACING = 0.02  # fraction of training between resampled stroke points
PRESET_SAMPLES = 21  # control points sampled from a smooth preset (every 5% of training)
DIGITS = 4  # control points are rounded for a readable table


def points_frame(points: Sequence[Sequence[float]] | np.ndarray) -> pd.DataFrame:
    """Control points as the float DataFrame the editable table shows (columns COLUMNS)."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pd.DataFrame(array, columns=list(COLUMNS))


def preset_curve(name: str, **params: float) -> TargetCurve:
    """The curve of a parametric preset: ``"Power cool-down"`` (t_start, gamma),
    ``"Constant"`` (temperature) or ``"Cosine"`` (t_start, t_end).

    Raises:
        ValueError: unknown preset, or a parameter the curve rejects (naming it).
    """
    if name == "Power cool-down":
        return PowerCurve(params.get("t_start", PAPER_T_START), params.get("gamma", 1.0))
    if name == "Constant":
        return ConstantCurve(params.get("temperature", 1.0))
    if name == "Cosine":
        return CosineCurve(params.get("t_start", PAPER_T_START), params.get("t_end", 0.0))
    raise ValueError(
        f"unknown parametric preset {name!r}; choose one of: Power cool-down, Constant, Cosine"
    )


def preset_points(curve: TargetCurve, samples: int = PRESET_SAMPLES) -> pd.DataFrame:
    """Control points that reproduce ``curve`` when interpolated linearly.

    A constant needs two points; a replay or drawn curve keeps its own points; any other
    curve is sampled at ``samples`` evenly spaced fractions.
    """
    definition = curve.to_dict()
    if definition["kind"] == "constant":
        fractions = np.array([0.0, 1.0])
    elif definition["kind"] == "replay":
        fractions = np.asarray(definition["fractions"], dtype=np.float64)
        return _rounded(fractions, np.asarray(definition["temperatures"], dtype=np.float64))
    elif definition["kind"] == "drawn":
        return points_frame(definition["points"])
    else:
        fractions = np.linspace(0.0, 1.0, samples)
    return _rounded(fractions, np.asarray(curve(fractions), dtype=np.float64))


def replay_curve(steps: pd.DataFrame, total_steps: int | None) -> ReplayCurve:
    """:meth:`ReplayCurve.from_measurements` of a run's measured mean temperatures.

    ``steps`` is :meth:`storage.Store.steps` output; rows without a measurement are skipped.

    Raises:
        ValueError: fewer than two measurements (the message says so).
    """
    measured = steps.dropna(subset=["mean_temperature"])
    return ReplayCurve.from_measurements(
        measured["step"].to_numpy(np.float64),
        measured["mean_temperature"].to_numpy(np.float64),
        total_steps,
    )


def stroke_from_selection(selection: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """The last lasso path of a ``st.plotly_chart`` selection state, in data coordinates.

    Streamlit reports a lasso as ``selection["lasso"] = [{"x": [...], "y": [...]}, ...]``
    (the mouse path, without the closing segment). Returns ``(x, y)`` float arrays, empty
    when there is no lasso or it holds no finite pair.
    """
    empty = np.empty(0), np.empty(0)
    if not selection:
        return empty
    lassos = selection.get("lasso") or []
    if not lassos:
        return empty
    path = lassos[-1]
    try:
        x = np.asarray(path.get("x", []), dtype=np.float64)
        y = np.asarray(path.get("y", []), dtype=np.float64)
    except (TypeError, ValueError, AttributeError):
        return empty
    if x.shape != y.shape or x.ndim != 1:
        return empty
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def apply_stroke(
    points: pd.DataFrame,
    stroke_x: Sequence[float] | np.ndarray,
    stroke_y: Sequence[float] | np.ndarray,
    spacing: float = STROKE_SPACING,
) -> pd.DataFrame:
    """Replace the stretch of ``points`` that a drawn stroke spans by the stroke itself.

    The stroke is clipped to fractions in [0, 1] and temperatures >= 0, then resampled
    every ``spacing`` of training between its leftmost and rightmost fraction: each sample
    is the mean height of the stroke points in its cell (so a closed lasso loop reads as
    its middle line), empty cells are interpolated. Control points strictly left and right
    of the stroke are kept.

    Args:
        points: control points, columns ``fraction`` and ``temperature`` (any order; rows
            with a missing value are dropped).
        stroke_x, stroke_y: the path in data coordinates (fraction, bits).
        spacing: distance between resampled stroke points, as a fraction of training.

    Returns:
        The new control points, sorted by fraction.

    Raises:
        ValueError: a stroke with fewer than two finite points or no horizontal extent.
    """
    x = np.asarray(stroke_x, dtype=np.float64)
    y = np.asarray(stroke_y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = np.clip(x[keep], 0.0, 1.0), np.maximum(y[keep], 0.0)
    if len(x) < 2:
        raise ValueError("the stroke needs at least two points; drag across the chart")
    low, high = float(x.min()), float(x.max())
    if high - low < spacing / 2:
        raise ValueError(
            "the stroke has no horizontal extent; drag from left to right across the chart"
        )
    cells = max(2, math.ceil((high - low) / spacing) + 1)
    centres = np.linspace(low, high, cells)  # (C,)
    cell = np.clip(np.rint((x - low) / (high - low) * (cells - 1)).astype(int), 0, cells - 1)
    sums = np.bincount(cell, weights=y, minlength=cells)
    counts = np.bincount(cell, minlength=cells)
    filled = counts > 0
    heights = np.interp(centres, centres[filled], sums[filled] / counts[filled])
    old = points.dropna(subset=list(COLUMNS))
    old_f = old["fraction"].to_numpy(np.float64)
    old_t = old["temperature"].to_numpy(np.float64)
    outside = (old_f < low) | (old_f > high)
    fractions = np.concatenate([old_f[outside], centres])
    temperatures = np.concatenate([old_t[outside], heights])
    order = np.argsort(fractions, kind="stable")
    return _rounded(fractions[order], temperatures[order])


def sort_points(points: pd.DataFrame) -> pd.DataFrame:
    """Points sorted by fraction, rows with a missing value and repeated fractions dropped
    (the first of each fraction is kept): what "Sort points" on the Design page does."""
    clean = points.dropna(subset=list(COLUMNS)).astype(np.float64)
    clean = clean.sort_values("fraction", kind="stable").drop_duplicates("fraction")
    return clean[list(COLUMNS)].reset_index(drop=True)


def build_curve(
    points: pd.DataFrame, interpolation: str = "linear"
) -> tuple[DrawnCurve | None, str | None]:
    """Validate control points as a :class:`DrawnCurve`: ``(curve, None)`` or ``(None, message)``.

    The message is the ``ValueError`` of ``DrawnCurve`` (it names the bad point), so a
    negative temperature, fewer than two points or a non-finite value never becomes a
    traceback. Non-numeric cells are reported the same way.
    """
    try:
        table = points[list(COLUMNS)]
    except KeyError:
        return None, f"the table needs the columns {', '.join(COLUMNS)}"
    rows = [[_number(value) for value in row] for row in table.itertuples(index=False, name=None)]
    try:
        return DrawnCurve(rows, interpolation=interpolation), None
    except (ValueError, TypeError) as exc:
        return None, str(exc)


def curve_or_message(definition: Mapping[str, Any]) -> tuple[TargetCurve | None, str | None]:
    """:func:`actcool.curve_from_dict` that returns ``(None, message)`` instead of raising."""
    try:
        return curve_from_dict(dict(definition)), None
    except (ValueError, TypeError) as exc:
        return None, str(exc)


def _rounded(fractions: np.ndarray, temperatures: np.ndarray) -> pd.DataFrame:
    frame = points_frame(np.column_stack([fractions, temperatures]).round(DIGITS))
    return frame.drop_duplicates("fraction").reset_index(drop=True)


def _number(value: Any) -> Any:
    # Table cells arrive as floats, None (an empty cell) or, from odd input, text; only a
    # real number passes, anything else reaches DrawnCurve's "is not finite" message as NaN.
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
