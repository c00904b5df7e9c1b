"""The report's statistics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.analysis import linear_r2, rank_correlation, relative_variation, smooth, spread


def test_linear_r2_of_an_exact_line_is_one_with_its_coefficients():
    x = np.linspace(0, 1, 11)
    r2, a, b = linear_r2(x, 3.17 - 2.5 * x)
    assert r2 == pytest.approx(1.0) and a == pytest.approx(3.17) and b == pytest.approx(-2.5)


def test_linear_r2_against_a_hand_computed_case():
    # y = 0, 2, 1 at x = 0, 1, 2: line 0.5 + 0.5x, residuals -0.5, 1, -0.5 -> SS_res 1.5;
    # mean 1 -> SS_tot 2; R² = 1 - 1.5/2 = 0.25.
    r2, a, b = linear_r2([0, 1, 2], [0, 2, 1])
    assert r2 == pytest.approx(0.25) and a == pytest.approx(0.5) and b == pytest.approx(0.5)


def test_linear_r2_ignores_nan_and_needs_three_points():
    r2, _, b = linear_r2([0, 1, 2, 3], [1, float("nan"), 3, 4])
    assert r2 == pytest.approx(1.0) and b == pytest.approx(1.0)
    assert math.isnan(linear_r2([0, 1], [0, 1])[0])
    assert math.isnan(linear_r2([0, 1, 2], [5, 5, 5])[0])


def test_rank_correlation_is_plus_minus_one_for_monotone_data():
    assert rank_correlation([1, 2, 3, 4], [0.1, 5, 7, 100]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [9, 3, 2, -1]) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 2], [1, 2]))


def test_spread_and_its_text():
    s = spread([7.0, 9.0, float("nan"), None])
    assert (s.mean, s.low, s.high, s.n) == (8.0, 7.0, 9.0, 2)
    assert str(s) == "8.00 (7.00–9.00)"
    assert str(spread([])) == "n/a" and str(spread([1.234])) == "1.23"


def test_smooth_keeps_constants_and_lines_and_the_length():
    assert np.allclose(smooth(np.full(7, 2.0), 3), 2.0)
    y = np.arange(10, dtype=float)
    out = smooth(y, 3)
    assert out.shape == y.shape and np.allclose(out[1:-1], y[1:-1])
    assert out[0] == pytest.approx(0.5)  # the edge averages what exists: (0 + 1) / 2
    assert smooth([1.0, 2.0], 5).shape == (2,)


def test_relative_variation():
    assert relative_variation([1.0, 3.0]) == pytest.approx(0.5)  # std 1 (population), mean 2
    assert math.isnan(relative_variation([1.0]))
