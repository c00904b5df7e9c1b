"""Granularities and the Weibull response model against closed forms (docs/algorithm.md §1-2)."""

import math

import numpy as np
import pytest

from actcool import (
    Granularity,
    fit_response_models,
    fit_weibull_model,
    weibull_lr_for_temperature,
    weibull_probability,
    weibull_temperature,
)
from actcool.granularity import counted_temperatures


def test_parse_and_str_round_trip():
    assert str(Granularity()) == "unit:64"
    assert Granularity.parse("unit") == Granularity("unit", 64)
    assert Granularity.parse("unit:16") == Granularity("unit", 16)
    assert Granularity.parse("unit", pattern_length=8) == Granularity("unit", 8)
    for text in ("sample", "position", "unit:32"):
        assert str(Granularity.parse(text)) == text
    assert Granularity("sample", 5) == Granularity("sample")  # L means nothing for patterns
    assert Granularity.parse("position").counter == "positions"
    assert Granularity.parse("unit").counter == "bits"


@pytest.mark.parametrize(
    "bad, match",
    [
        ("channel", "unknown granularity 'channel'"),
        ("sample:4", "only 'unit'"),
        ("unit:x", "must be an integer"),
        ("unit:0", "pattern_length must be a positive"),
    ],
)
def test_bad_granularities_say_what_is_accepted(bad, match):
    with pytest.raises(ValueError, match=match):
        Granularity.parse(bad)
    with pytest.raises(ValueError, match="applies to granularity 'unit' only"):
        Granularity.parse("sample", pattern_length=64)
    with pytest.raises(TypeError, match="granularity must be a string"):
        Granularity.parse(64)


def test_temperatures_closed_forms():
    # patterns: T = -log2(1 - c/n), the all-changed case counted as 1 - 1/(2n)
    g = Granularity("position")
    np.testing.assert_allclose(g.temperatures([0, 512, 768, 1024], 1024), [0, 1, 2, 11])
    assert g.cap(1024) == 11.0
    # unit:L: T = -L·log2(1 - q) from the flipped-bit fraction; no cap
    u = Granularity("unit", 64)
    q = 1000 / 1_000_000
    assert u.temperatures(1000, 1_000_000) == pytest.approx(-64 * math.log2(1 - q))
    assert u.temperatures(1000, 1_000_000) == pytest.approx(64 * q / math.log(2), rel=1e-3)
    assert u.cap(10) is None
    assert u.temperatures(10, 10) == pytest.approx(64 * math.log2(20))
    np.testing.assert_array_equal(u.resolution([6400, 10]), [100, 1])
    with pytest.raises(ValueError, match=r"changed counts must lie in \[0, total\]"):
        counted_temperatures([5], [4])


def test_weibull_model_closed_forms():
    assert weibull_probability(0.1, 0.1, 1.0) == pytest.approx(1 - math.exp(-1))
    assert weibull_temperature(0.2, 0.1, 2.0) == pytest.approx(4 / math.log(2))
    # T(λ*) = C exactly for the λ* of the control law
    lam0, k = 0.03, 0.9
    lr_t = 0.01
    t_now = float(weibull_temperature(lr_t, lam0, k))
    lr_star = weibull_lr_for_temperature(lr_t, t_now, 2.5, k)
    assert float(weibull_temperature(lr_star, lam0, k)) == pytest.approx(2.5)
    assert weibull_lr_for_temperature(0.1, 1.0, 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="measured temperature must be finite and > 0"):
        weibull_lr_for_temperature(0.1, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("lam0, k", [(1e-2, 1.0), (0.3, 0.7), (2e-3, 1.5)])
def test_weibull_fit_recovers_the_parameters_from_binomial_noise(lam0, k):
    rng = np.random.default_rng(0)
    lrs = np.logspace(-4, 1, 25)
    n = 4096
    p = rng.binomial(n, weibull_probability(lrs, lam0, k)) / n
    fit = fit_weibull_model(lrs, p, resolution=n)
    assert fit is not None
    assert fit.lambda0 == pytest.approx(lam0, rel=0.05)
    assert fit.k == pytest.approx(k, rel=0.05)
    assert fit.rmse < 0.01


def test_both_models_report_why_there_is_no_fit():
    lrs = np.logspace(-4, 2, 25)
    gauss, weib, reasons = fit_response_models(lrs, np.zeros(25), resolution=128)
    assert gauss is None and weib is None
    assert set(reasons) == {"gaussian", "weibull"}
    assert "only 0 of 25 scan points" in reasons["weibull"]
    # a Weibull curve is fitted better by the Weibull model than by the Gaussian CDF
    p = weibull_probability(lrs, 0.05, 1.0)
    gauss, weib, reasons = fit_response_models(lrs, p, resolution=10**6)
    assert reasons == {}
    assert weib.rmse < 1e-6 < gauss.rmse
