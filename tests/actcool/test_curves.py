import json
import math

import numpy as np
import pytest

from actcool import (
    ConstantCurve,
    CosineCurve,
    DrawnCurve,
    PowerCurve,
    ReplayCurve,
    curve_from_dict,
)
from actcool.curves import REPLAY_POINTS


def test_power_curve_closed_form():
    c = PowerCurve(3.17, gamma=2.0)
    f = np.linspace(0, 1, 11)
    np.testing.assert_allclose(c(f), 3.17 * (1 - f**2))
    assert c(0.0) == pytest.approx(3.17)
    assert c(1.0) == 0.0
    assert PowerCurve(3.17)(0.25) == pytest.approx(3.17 * 0.75)  # gamma=1 is linear
    # staying hot longer: gamma > 1 lies above linear in the middle
    assert PowerCurve(3.17, 4.0)(0.5) > PowerCurve(3.17, 1.0)(0.5) > PowerCurve(3.17, 0.5)(0.5)


def test_fractions_outside_training_are_clamped():
    c = PowerCurve(2.0)
    assert c(-0.5) == 2.0 and c(1.5) == 0.0


def test_constant_and_cosine():
    assert ConstantCurve(1.5)(0.3) == 1.5
    c = CosineCurve(3.0, 1.0)
    assert c(0.0) == pytest.approx(3.0)
    assert c(0.5) == pytest.approx(2.0)
    assert c(1.0) == pytest.approx(1.0)


def test_drawn_linear_interpolates_and_is_constant_outside():
    c = DrawnCurve([(0.2, 3.0), (0.6, 1.0), (0.8, 1.0)])
    assert c(0.0) == 3.0  # before the first point
    assert c(0.4) == pytest.approx(2.0)
    assert c(0.7) == pytest.approx(1.0)
    assert c(1.0) == 1.0  # after the last point


def test_drawn_pchip_does_not_overshoot():
    pts = [(0.0, 3.0), (0.3, 3.0), (0.35, 0.0), (1.0, 0.0)]
    c = DrawnCurve(pts, interpolation="pchip")
    f = np.linspace(0, 1, 2001)
    v = c(f)
    assert v.min() >= 0.0 and v.max() <= 3.0
    np.testing.assert_allclose(c([0.0, 0.3, 0.35, 1.0]), [3.0, 3.0, 0.0, 0.0], atol=1e-12)
    assert np.all(np.diff(v) <= 1e-12)  # monotone data stays monotone


@pytest.mark.parametrize(
    "points, match",
    [
        ([(0.0, 1.0)], "at least two points"),
        ([(0.0, 1.0), (0.5, -0.1)], r"point 1 has temperature -0.1"),
        ([(0.0, 1.0), (0.5, float("nan"))], r"point 1 .* not finite"),
        ([(0.0, 1.0), (0.5, float("inf"))], r"point 1 .* not finite"),
        ([(0.0, 1.0), (1.2, 0.0)], r"point 1 has fraction 1.2"),
        ([(0.5, 1.0), (0.2, 0.0)], r"point 1 \(fraction 0.2\) comes before point 0"),
        ([(0.5, 1.0), (0.5, 0.0)], r"points 0 and 1 share the fraction 0.5"),
        ([(0.0, 1.0), ("a", 0.0)], r"point 1 .* not a pair of numbers"),
        ([(0.0, 1.0), (0.5,)], r"point 1 .* not a \(fraction, temperature\) pair"),
    ],
)
def test_drawn_curve_names_the_offending_point(points, match):
    with pytest.raises(ValueError, match=match):
        DrawnCurve(points)


def test_bad_parameters():
    with pytest.raises(ValueError, match="gamma"):
        PowerCurve(3.0, gamma=0)
    with pytest.raises(ValueError, match="t_start"):
        PowerCurve(-1.0)
    with pytest.raises(ValueError, match="interpolation"):
        DrawnCurve([(0, 1), (1, 0)], interpolation="cubic")


def test_power_curve_with_a_hold_closed_form():
    c = PowerCurve(2.0, gamma=3.0, hold=0.2)
    f = np.array([0.0, 0.1, 0.2, 0.4, 0.6, 1.0])
    x = np.clip((f - 0.2) / 0.8, 0, 1)
    np.testing.assert_allclose(c(f), 2.0 * (1 - x**3))
    assert c.to_dict() == {"kind": "power", "t_start": 2.0, "gamma": 3.0, "hold": 0.2}
    assert curve_from_dict(c.to_dict()) == c
    assert "hold" not in PowerCurve(2.0).to_dict()  # stored definitions of old runs unchanged
    with pytest.raises(ValueError, match="hold must lie in"):
        PowerCurve(2.0, hold=1.0)


def test_replay_resamples_a_measured_profile():
    steps = np.arange(0, 1001, 10)
    temps = 3.0 * (1 - steps / 1000) + 0.05 * np.sin(steps)  # noisy linear cool-down
    c = ReplayCurve.from_measurements(steps, temps, points=20)
    assert len(c.fractions) == 20
    assert c(0.5) == pytest.approx(1.5, abs=0.1)
    # resampled onto any run length: only the fraction matters
    assert c(0.25) == pytest.approx(2.25, abs=0.1)
    direct = ReplayCurve([0.0, 1.0], [2.0, 0.0])
    assert direct(0.75) == pytest.approx(0.5)


def test_replay_averages_each_twentieth_of_the_run_by_default():
    # 200 measurements, one every 5 steps of 1000 (none on a bin edge): 10 per 5% of training
    steps = np.arange(2, 1000, 5)
    rng = np.random.default_rng(0)
    temps = 2.0 * (1 - steps / 1000) * rng.uniform(0.6, 1.4, steps.size)
    c = ReplayCurve.from_measurements(steps, temps, total_steps=1000)
    assert REPLAY_POINTS == 20 and len(c.fractions) == 20
    for b in range(20):
        sel = slice(10 * b, 10 * b + 10)
        assert c.fractions[b] == pytest.approx(steps[sel].mean() / 1000, abs=1e-12)
        assert c.temperatures[b] == pytest.approx(temps[sel].mean(), abs=1e-12)


@pytest.mark.parametrize(
    "curve",
    [
        PowerCurve(3.17, 2.0),
        ConstantCurve(1.0),
        CosineCurve(3.0, 0.5),
        DrawnCurve([(0, 3.0), (0.5, 2.0), (1, 0)], "pchip"),
        ReplayCurve([0.0, 0.4, 1.0], [3.0, 2.0, 0.1]),
    ],
)
def test_curves_are_data(curve):
    d = json.loads(json.dumps(curve.to_dict()))
    back = curve_from_dict(d)
    assert back == curve
    f = np.linspace(0, 1, 50)
    np.testing.assert_array_equal(back(f), curve(f))


def test_curve_from_dict_errors():
    with pytest.raises(ValueError, match="unknown curve kind 'spline'.*power"):
        curve_from_dict({"kind": "spline"})
    with pytest.raises(ValueError, match="invalid parameters"):
        curve_from_dict({"kind": "power", "t_begin": 3})
    with pytest.raises(TypeError):
        curve_from_dict("power")
    with pytest.raises(ValueError, match="point 1"):
        curve_from_dict({"kind": "drawn", "points": [[0, 1], [0.5, -2]]})


def test_scalar_in_scalar_out():
    assert isinstance(PowerCurve()(0.5), float)
    assert math.isclose(PowerCurve()(0.5), 3.17 / 2)
