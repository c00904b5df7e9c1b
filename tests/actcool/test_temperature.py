import math

import numpy as np
import pytest

from actcool import (
    change_probability,
    clip_probability,
    lr_for_probability,
    mu_from_observation,
    probability_from_temperature,
    temperature_from_probability,
)
from actcool.temperature import temperatures_from_counts


def test_temperature_closed_forms():
    assert temperature_from_probability(0.0) == 0.0
    assert temperature_from_probability(0.5) == pytest.approx(1.0)
    assert temperature_from_probability(0.75) == pytest.approx(2.0)
    # the paper's start value: 89% of patterns change
    assert temperature_from_probability(0.89) == pytest.approx(3.184, abs=1e-3)
    assert math.isinf(temperature_from_probability(1.0))


def test_all_changed_uses_the_half_sample_regulariser():
    # P = 1 counts as 1 - 1/(2B): log2(2B) bits, 8 bits at B = 128
    assert temperature_from_probability(1.0, batch_size=128) == pytest.approx(8.0)
    assert temperature_from_probability(1.0, batch_size=16) == pytest.approx(5.0)
    # anything below 1 is untouched by the regulariser
    assert temperature_from_probability(127 / 128, batch_size=128) == pytest.approx(7.0)


def test_counts_to_temperatures():
    t = temperatures_from_counts(np.array([0, 64, 96, 128]), 128)
    np.testing.assert_allclose(t, [0.0, 1.0, 2.0, 8.0])
    with pytest.raises(ValueError, match=r"\[0, 128\]"):
        temperatures_from_counts(np.array([129]), 128)


def test_probability_temperature_round_trip():
    t = np.linspace(0, 7.5, 31)
    np.testing.assert_allclose(
        temperature_from_probability(probability_from_temperature(t)), t, atol=1e-12
    )
    assert probability_from_temperature(3.17) == pytest.approx(1 - 2**-3.17)
    assert probability_from_temperature(float("inf")) == 1.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="1.5"):
        temperature_from_probability(1.5)
    with pytest.raises(ValueError, match="nan"):
        temperature_from_probability(float("nan"))
    with pytest.raises(ValueError, match="-1"):
        probability_from_temperature(-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        temperature_from_probability(0.5, batch_size=0)


def test_clip_probability():
    assert clip_probability(0.0, 128) == 1 / 256
    assert clip_probability(1.0, 128) == 1 - 1 / 256
    assert clip_probability(0.3, 128) == 0.3


def test_mu_and_lr_formulas_round_trip():
    sigma, lr, p = 1.3, 0.05, 0.7
    mu = mu_from_observation(lr, p, sigma)
    # closed form with the single sign convention of docs/algorithm.md §2:
    # mu = ln(lr) - sigma * Phi^-1(p)
    from statistics import NormalDist

    assert mu == pytest.approx(math.log(lr) - sigma * NormalDist().inv_cdf(p), rel=1e-12)
    assert lr_for_probability(mu, sigma, p) == pytest.approx(lr, rel=1e-12)
    # P(lambda) at the critical rate e^mu is one half; it grows with lambda
    assert change_probability(math.exp(mu), mu, sigma) == pytest.approx(0.5)
    assert change_probability(lr, mu, sigma) == pytest.approx(p)
    assert change_probability(10 * lr, mu, sigma) > p


def test_formula_inputs_are_checked():
    with pytest.raises(ValueError, match="clipped"):
        mu_from_observation(0.1, 1.0, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        lr_for_probability(0.0, 0.0, 0.5)
    with pytest.raises(ValueError, match="> 0"):
        mu_from_observation(0.0, 0.5, 1.0)
