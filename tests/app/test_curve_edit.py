"""Curve editing on the Design page: presets, lasso strokes, validation, implied rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from actcool import DrawnCurve, PowerCurve, ReplayCurve
from app import curve_edit


def frame(points):
    return curve_edit.points_frame(points)


def test_power_preset_points_reproduce_the_curve():
    curve = curve_edit.preset_curve("Power cool-down", t_start=3.0, gamma=2.0)
    assert curve == PowerCurve(3.0, 2.0)
    points = curve_edit.preset_points(curve)
    assert len(points) == curve_edit.PRESET_SAMPLES
    assert points["temperature"].iloc[0] == pytest.approx(3.0)
    assert points["temperature"].iloc[-1] == pytest.approx(0.0)
    assert points["temperature"].iloc[10] == pytest.approx(3.0 * (1 - 0.5**2))


def test_constant_and_cosine_presets():
    constant = curve_edit.preset_points(curve_edit.preset_curve("Constant", temperature=2.5))
    assert constant.values.tolist() == [[0.0, 2.5], [1.0, 2.5]]
    cosine = curve_edit.preset_points(curve_edit.preset_curve("Cosine", t_start=4, t_end=1))
    assert cosine["temperature"].iloc[10] == pytest.approx(2.5)


def test_bad_preset_parameters_raise_value_errors():
    with pytest.raises(ValueError, match="gamma"):
        curve_edit.preset_curve("Power cool-down", t_start=3, gamma=0)
    with pytest.raises(ValueError, match="unknown parametric preset"):
        curve_edit.preset_curve("Spiral")


def test_replay_of_measured_steps_keeps_its_points():
    steps = pd.DataFrame(
        {
            "step": np.arange(100),
            "mean_temperature": np.where(np.arange(100) % 10 == 0, np.linspace(4, 0, 100), np.nan),
        }
    )
    curve = curve_edit.replay_curve(steps, total_steps=100)
    assert isinstance(curve, ReplayCurve)
    points = curve_edit.preset_points(curve)
    assert len(points) == 10
    assert points["temperature"].iloc[0] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="at least two"):
        curve_edit.replay_curve(steps.iloc[:5], total_steps=100)


def test_stroke_from_selection_reads_the_last_lasso():
    selection = {
        "points": [],
        "box": [],
        "lasso": [
            {"x": [0.0, 1.0], "y": [1.0, 1.0]},
            {"xref": "x", "yref": "y", "x": [0.2, 0.3, None], "y": [2.0, 2.5, 1.0]},
        ],
    }
    x, y = curve_edit.stroke_from_selection(selection)
    np.testing.assert_array_equal(x, [0.2, 0.3])
    np.testing.assert_array_equal(y, [2.0, 2.5])
    for empty in (None, {}, {"lasso": []}, {"lasso": [{"x": [1, 2], "y": [1]}]}):
        assert len(curve_edit.stroke_from_selection(empty)[0]) == 0


def test_a_stroke_replaces_the_stretch_it_spans():
    points = frame([[0.0, 3.0], [0.25, 2.0], [0.5, 1.5], [0.75, 1.0], [1.0, 0.0]])
    x = np.linspace(0.2, 0.6, 41)
    new = curve_edit.apply_stroke(points, x, np.full_like(x, 2.5))
    kept_left = new[new["fraction"] < 0.2]
    kept_right = new[new["fraction"] > 0.6]
    assert kept_left.values.tolist() == [[0.0, 3.0]]
    assert kept_right.values.tolist() == [[0.75, 1.0], [1.0, 0.0]]
    inside = new[(new["fraction"] >= 0.2) & (new["fraction"] <= 0.6)]
    assert np.allclose(inside["temperature"], 2.5)
    assert inside["fraction"].iloc[0] == pytest.approx(0.2)
    assert inside["fraction"].iloc[-1] == pytest.approx(0.6)
    assert np.all(np.diff(new["fraction"]) > 0)
    assert DrawnCurve(new.values.tolist())(0.4) == pytest.approx(2.5)


def test_a_stroke_drawn_right_to_left_or_as_a_loop_reads_as_its_middle():
    points = frame([[0.0, 3.0], [1.0, 0.0]])
    x = np.r_[np.linspace(0.9, 0.1, 30), np.linspace(0.1, 0.9, 30)]
    y = np.r_[np.full(30, 2.0), np.full(30, 1.0)]  # upper edge back, lower edge forth
    new = curve_edit.apply_stroke(points, x, y)
    inside = new[(new["fraction"] > 0.1) & (new["fraction"] < 0.9)]
    assert np.allclose(inside["temperature"], 1.5)


def test_a_stroke_is_clipped_to_the_valid_region():
    points = frame([[0.0, 3.0], [1.0, 0.0]])
    new = curve_edit.apply_stroke(points, [-0.2, 0.5, 1.3], [-1.0, -1.0, -1.0])
    assert new["fraction"].min() == 0.0 and new["fraction"].max() == 1.0
    assert (new["temperature"] == 0.0).all()


def test_a_degenerate_stroke_is_rejected_with_a_message():
    points = frame([[0.0, 3.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="at least two points"):
        curve_edit.apply_stroke(points, [0.5], [1.0])
    with pytest.raises(ValueError, match="no horizontal extent"):
        curve_edit.apply_stroke(points, [0.5, 0.5, 0.5], [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[0.0, 3.0], [0.5, -1.0], [1.0, 0.0]], "point 1 has temperature -1.0"),
        ([[0.0, 3.0]], "at least two points"),
        ([[0.0, 3.0], [0.5, None], [1.0, 0.0]], "point 1 .* is not finite"),
        ([[0.0, 3.0], [0.5, math.inf], [1.0, 0.0]], "point 1 .* is not finite"),
        ([[0.0, 3.0], [1.0, 1.0], [0.5, 0.0]], "sorted by fraction"),
        ([[0.0, 3.0], [1.5, 1.0]], "fractions of training must lie in"),
    ],
)
def test_invalid_points_give_a_message_naming_the_point(rows, message):
    points = pd.DataFrame(rows, columns=["fraction", "temperature"])
    curve, problem = curve_edit.build_curve(points)
    assert curve is None
    assert problem is not None
    import re

    assert re.search(message, problem), problem


def test_text_in_a_cell_is_never_evaluated():
    points = pd.DataFrame({"fraction": [0.0, "__import__('os')"], "temperature": [1.0, 2.0]})
    curve, problem = curve_edit.build_curve(points)
    assert curve is None and "not finite" in problem


def test_valid_points_make_a_drawn_curve_with_the_chosen_interpolation():
    points = frame([[0.0, 3.0], [0.5, 1.0], [1.0, 0.0]])
    curve, problem = curve_edit.build_curve(points, "pchip")
    assert problem is None
    assert curve.to_dict()["interpolation"] == "pchip"
    assert curve(0.5) == pytest.approx(1.0)


def test_sort_points_orders_and_cleans():
    points = pd.DataFrame(
        {"fraction": [1.0, 0.0, 0.5, 0.5, None], "temperature": [0.0, 3.0, 1.0, 2.0, 1.0]}
    )
    assert curve_edit.sort_points(points).values.tolist() == [[0.0, 3.0], [0.5, 1.0], [1.0, 0.0]]


def test_curve_or_message_never_raises():
    curve, problem = curve_edit.curve_or_message({"kind": "power", "t_start": -1})
    assert curve is None and "t_start" in problem
    curve, problem = curve_edit.curve_or_message({"kind": "wobble"})
    assert curve is None and "unknown curve kind" in problem
