"""TemperatureController against docs/algorithm.md §4: the control law as arithmetic over plain
numbers (the exact rate sequences of both laws, clamping, saturation, non-finite inputs, old
states). ActCoolLR around it is tests/actcool/test_scheduler.py."""

import math
from statistics import NormalDist

import pytest

from actcool import ConstantCurve, PowerCurve, TemperatureController
from actcool.curves import PAPER_T_START
from actcool.temperature import temperature_from_probability

PHI_INV = NormalDist().inv_cdf


def _clip(p, b):
    return min(max(p, 1 / (2 * b)), 1 - 1 / (2 * b))


def expected_sequence(lr0, temps, sigma, curve, n, k, b, steps, lr_min=1e-6, lr_max=10.0):
    """docs/algorithm.md §4 written out by hand, with the standard library's normal quantile."""
    lrs = [lr0]
    lr_t, lr_star, start = lr0, None, None
    for t in range(steps):
        if t % k == 0:
            lr_t = lrs[t]
            mu = math.log(lr_t) - sigma * PHI_INV(_clip(1 - 2 ** -temps[t // k], b))
            c = curve(min((t + k) / n, 1.0))
            lr_star = min(max(math.exp(mu + sigma * PHI_INV(_clip(1 - 2**-c, b))), lr_min), lr_max)
            start = t
        j = t + 1 - start
        lrs.append(lr_star if j >= k else lr_t + (lr_star - lr_t) * j / k)
    return lrs


def test_controller_produces_the_spec_sequence():
    curve = PowerCurve(PAPER_T_START, 1.0)
    temps = [0.4, 2.5, 3.4, 1.0, 6.0, 0.0]
    k, n, b, sigma = 4, 24, 64, 1.3
    ctrl = TemperatureController(
        response="gaussian",
        smoothing=0.0,
        max_rise=None,
        lr_initial=0.1,
        total_steps=n,
        measure_every=k,
        sigma=sigma,
    )
    got = [ctrl.lr_at(0)]
    for t in range(n):
        if t % k == 0:
            lr_star = ctrl.observe(t, got[t], temps[t // k], b, curve)
        got.append(ctrl.lr_at(t + 1))
        if (t + 1) % k == 0:
            assert got[-1] == lr_star  # reaches λ* exactly at the next measurement step
    want = expected_sequence(0.1, temps, sigma, curve, n, k, b, n)
    assert got == pytest.approx(want, rel=1e-9)
    # the classic bug (restarting the segment) would keep the rate at λ_0 forever
    assert len({round(x, 12) for x in got}) > n // 2


def test_clamping_and_non_finite_inputs():
    curve = PowerCurve(PAPER_T_START)
    ctrl = TemperatureController(
        response="gaussian",
        smoothing=0.0,
        max_rise=None,
        lr_initial=0.1,
        total_steps=100,
        measure_every=10,
        sigma=1.0,
        lr_min=1e-3,
        lr_max=0.5,
    )
    assert ctrl.observe(0, 0.1, 0.0, 128, curve) == 0.5  # cold: wants a huge rate, clamped
    assert ctrl.observe(10, 0.5, 8.0, 128, curve) == pytest.approx(
        0.5 * math.exp(1.0 * (PHI_INV(1 - 2 ** -(PAPER_T_START * 0.8)) - PHI_INV(1 - 1 / 256)))
    )
    ctrl2 = TemperatureController(
        response="gaussian",
        smoothing=0.0,
        max_rise=None,
        lr_initial=0.1,
        total_steps=100,
        measure_every=10,
        sigma=50.0,
        lr_min=1e-3,
    )
    assert ctrl2.observe(0, 0.1, 8.0, 128, PowerCurve(0.0)) == 1e-3  # hot: clamped below
    for bad in [float("nan"), float("inf")]:
        c = TemperatureController(
            response="gaussian",
            smoothing=0.0,
            max_rise=None,
            lr_initial=0.1,
            total_steps=100,
            measure_every=10,
            sigma=1.0,
        )
        lr = c.observe(0, 0.1, bad, 128, curve)
        assert lr == 0.1 and c.diverged
        assert all(math.isfinite(c.lr_at(t)) for t in range(30))
    c = TemperatureController(
        response="gaussian",
        smoothing=0.0,
        max_rise=None,
        lr_initial=0.1,
        total_steps=100,
        measure_every=10,
        sigma=1.0,
    )
    assert math.isfinite(c.observe(0, float("nan"), 1.0, 128, curve)) and c.diverged
    # a zero rate cannot give ln λ; it is read as lr_min, never NaN
    c = TemperatureController(
        response="gaussian",
        smoothing=0.0,
        max_rise=None,
        lr_initial=0.0,
        total_steps=100,
        measure_every=10,
        sigma=1.0,
    )
    assert math.isfinite(c.observe(0, 0.0, 0.0, 128, curve))
    with pytest.raises(ValueError, match="lr_min"):
        TemperatureController(
            response="gaussian",
            smoothing=0.0,
            max_rise=None,
            lr_initial=0.1,
            total_steps=10,
            lr_min=1.0,
            lr_max=0.1,
        )


def test_a_saturated_measurement_uses_the_scan_fit():
    curve = PowerCurve(PAPER_T_START)
    c = TemperatureController(
        response="gaussian",
        smoothing=0.0,
        max_rise=None,
        lr_initial=0.5,
        total_steps=100,
        measure_every=10,
        sigma=1.2,
    )
    # every pattern changed (8 bits at B=128): the point estimate is biased, the scan's μ is used
    lr = c.observe(0, 0.5, 8.0, 128, curve, scan_mu=-4.0)
    assert c.mu == -4.0
    assert lr == pytest.approx(math.exp(-4.0 + 1.2 * PHI_INV(1 - 2 ** -curve(0.1))))
    # an unsaturated measurement keeps docs/algorithm.md §4's estimate even when a scan is present
    c.observe(10, lr, 2.0, 128, curve, scan_mu=-4.0)
    assert c.mu == pytest.approx(math.log(lr) - 1.2 * PHI_INV(0.75))


def weibull_sequence(
    lr0, temps, k_exp, beta, curve, n, k, res, steps, lr_min=1e-6, lr_max=10.0, max_rise=2.0
):
    """The Weibull law with smoothing written out by hand: ln a_t = ln T − k ln λ_t,
    ln â ← β ln â + (1 − β) ln a_t, λ* = (C/â)^(1/k)."""
    lrs, log_a = [lr0], None
    lr_t = lr_star = start = None
    floor = -math.log2(1 - 1 / (2 * res))
    for t in range(steps):
        if t % k == 0:
            lr_t = lrs[t]
            a_t = math.log(max(temps[t // k], floor)) - k_exp * math.log(lr_t)
            log_a = a_t if log_a is None else beta * log_a + (1 - beta) * a_t
            c = curve(min((t + k) / n, 1.0))
            lr_star = lr_min if c <= 0 else math.exp((math.log(c) - log_a) / k_exp)
            lr_star = min(max(min(lr_star, max_rise * lr_t), lr_min), lr_max)
            start = t
        j = t + 1 - start
        lrs.append(lr_star if j >= k else lr_t + (lr_star - lr_t) * j / k)
    return lrs


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.8])
def test_weibull_law_with_smoothing_matches_the_closed_form(beta):
    curve = PowerCurve(2.0, 1.0)
    temps = [0.3, 2.5, 1.4, 0.0, 4.0, 1.0]
    k, n, res, k_exp = 4, 24, 1000, 1.1
    ctrl = TemperatureController(
        lr_initial=0.05, total_steps=n, measure_every=k, k=k_exp, smoothing=beta
    )
    got = [ctrl.lr_at(0)]
    for t in range(n):
        if t % k == 0:
            lr_star = ctrl.observe(t, got[t], temps[t // k], res, curve)
        got.append(ctrl.lr_at(t + 1))
        if (t + 1) % k == 0:
            assert got[-1] == lr_star
    assert got == pytest.approx(
        weibull_sequence(0.05, temps, k_exp, beta, curve, n, k, res, n), rel=1e-9
    )
    if beta == 0.0:  # the exact law λ_t·(C/T̄)^(1/k), here limited to 2·λ_t
        assert 0.05 * (curve(k / n) / 0.3) ** (1 / k_exp) > 0.1
        assert got[k] == pytest.approx(0.1)


def test_a_zero_reading_under_a_target_below_the_floor_keeps_the_gain():
    # resolution 8: the floor is the temperature of a change probability 1/16, 0.093 bits
    res = 8
    floor = temperature_from_probability(0.5 / res)
    low, high = ConstantCurve(0.2 * floor), ConstantCurve(5.0 * floor)
    c = TemperatureController(lr_initial=0.1, total_steps=100, measure_every=10, k=1.0)
    first = c.observe(0, 0.1, 1.0, res, low)  # ln a = ln 1 − ln 0.1: λ* = 0.2·floor/10
    assert first == pytest.approx(0.1 * 0.2 * floor)
    gain = c.log_gain
    # 0 flips: the target cannot be told from 0 either, so the gain stays and λ* with it
    assert c.observe(10, first, 0.0, res, low) == pytest.approx(first)
    assert c.log_gain == gain
    # under a target above the floor a reading of 0 is colder than asked: the rate rises
    assert c.observe(20, first, 0.0, res, high) > first


def test_weibull_law_at_the_end_and_for_bad_arguments():
    c = TemperatureController(lr_initial=0.1, total_steps=10, measure_every=10, k=1.0, lr_min=1e-4)
    assert c.observe(0, 0.1, 1.0, 1000, PowerCurve(2.0)) == 1e-4  # target 0 at the end: lr_min
    with pytest.raises(ValueError, match="response"):
        TemperatureController(lr_initial=0.1, total_steps=10, response="cauchy")
    with pytest.raises(ValueError, match="smoothing"):
        TemperatureController(lr_initial=0.1, total_steps=10, smoothing=1.0)
    with pytest.raises(ValueError, match="k must be"):
        TemperatureController(lr_initial=0.1, total_steps=10, k=0.0)


def test_a_controller_state_saved_before_the_weibull_law_resumes_as_gaussian():
    old = {
        "lr_initial": 0.1,
        "total_steps": 10,
        "measure_every": 2,
        "lr_min": 1e-6,
        "lr_max": 10.0,
        "sigma": 1.0,
        "mu": -2.0,
        "ramp_start": 0,
        "ramp_from": 0.1,
        "ramp_to": 0.2,
        "diverged": False,
    }
    c = TemperatureController(lr_initial=0.1, total_steps=10)
    c.load_state_dict(old)
    assert c.response == "gaussian" and c.smoothing == 0.0 and c.lr_at(2) == 0.2
