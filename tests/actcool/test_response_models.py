"""The response models' inverses (actcool/weibull_model.py, actcool/pattern_model.py): one
inverse per model, checked against closed forms and by round trips model(inverse(C)) == C."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtri

from actcool.pattern_model import change_probability, gaussian_lr_at, lr_for_probability
from actcool.temperature import probability_from_temperature
from actcool.weibull_model import (
    weibull_log_gain,
    weibull_lr_at,
    weibull_lr_for_gain,
    weibull_lr_for_temperature,
    weibull_temperature,
)


def test_weibull_inverse_is_the_closed_form():
    lambda0, k = 0.03, 0.9
    temperatures = np.array([0.0, 0.5, 1 / math.log(2), 2.0, 6.0])
    rates = weibull_lr_at(temperatures, lambda0, k)
    assert rates.tolist() == pytest.approx(
        [lambda0 * (c * math.log(2)) ** (1 / k) for c in temperatures]
    )
    assert rates[0] == 0.0  # 0 bits: rate 0
    assert rates[2] == pytest.approx(lambda0)  # T(λ0) = 1/ln 2 bits
    with pytest.raises(ValueError, match="k must be"):
        weibull_lr_at(temperatures, lambda0, 0.0)
    with pytest.raises(ValueError, match="lambda0 must be"):
        weibull_lr_at(temperatures, -1.0, 1.0)


@pytest.mark.parametrize(("lambda0", "k"), [(1e-2, 1.0), (0.3, 0.7), (2e-3, 1.5)])
def test_weibull_round_trips(lambda0, k):
    targets = np.array([0.01, 0.5, 1.0, 3.0, 20.0])
    rates = weibull_lr_at(targets, lambda0, k)
    np.testing.assert_allclose(weibull_temperature(rates, lambda0, k), targets, rtol=1e-12)
    # the gain form: T = a·λ^k with ln a read off one observation
    log_gain = weibull_log_gain(0.01, float(weibull_temperature(0.01, lambda0, k)), k)
    assert log_gain == pytest.approx(-k * math.log(lambda0) - math.log(math.log(2)))
    np.testing.assert_allclose(weibull_lr_for_gain(targets, log_gain, k), rates, rtol=1e-12)
    # the control law from a measurement at λ_t
    for c, rate in zip(targets, rates, strict=True):
        t_now = float(weibull_temperature(0.01, lambda0, k))
        assert weibull_lr_for_temperature(0.01, t_now, float(c), k) == pytest.approx(rate)


def test_weibull_inverse_edges():
    out = weibull_lr_for_gain(np.array([0.0, -1.0, np.nan, 1e300]), -700.0, 0.01)
    assert out[0] == 0.0 and out[1] == 0.0 and math.isnan(out[2]) and out[3] == math.inf
    assert weibull_lr_for_temperature(0.1, 1.0, 0.0, 1.0) == 0.0
    assert weibull_lr_for_temperature(0.1, 1.0, 4.0, 2.0) == pytest.approx(0.2)


def test_gaussian_inverse_is_the_closed_form():
    mu, sigma, batch = -3.0, 1.5, 128
    temperatures = np.array([3.17, 1.585, 0.0, 1.0, 40.0])
    rates = gaussian_lr_at(temperatures, mu, sigma, batch)
    for c, lr in zip(temperatures, rates, strict=True):
        p = min(max(1 - 2 ** (-c), 1 / 256), 1 - 1 / 256)
        assert lr == pytest.approx(math.exp(mu + sigma * ndtri(p)))
    assert rates[3] == pytest.approx(math.exp(mu))  # 1 bit is the critical rate e^μ
    assert lr_for_probability(mu, sigma, 0.5) == pytest.approx(math.exp(mu))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_lr_at(temperatures, mu, 0.0, batch)


def test_gaussian_round_trips_inside_the_clip():
    mu, sigma, batch = -2.0, 0.8, 1000
    targets = np.array([0.05, 0.5, 1.0, 2.0, 5.0])  # P inside [1/2000, 1 − 1/2000]
    rates = gaussian_lr_at(targets, mu, sigma, batch)
    np.testing.assert_allclose(
        change_probability(rates, mu, sigma), probability_from_temperature(targets), rtol=1e-10
    )
