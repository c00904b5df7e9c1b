import logging

import numpy as np
import pytest

from actcool import change_probability, fit_pattern_model


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("mu,sigma", [(-2.0, 1.0), (0.5, 2.0), (-5.0, 0.6)])
def test_fit_recovers_mu_sigma_from_binomial_noise(mu, sigma, seed):
    rng = np.random.default_rng(seed)
    lrs = np.logspace(-4, 2, 25)
    batch = 128
    p_true = change_probability(lrs, mu, sigma)
    observed = rng.binomial(batch, p_true) / batch
    fit = fit_pattern_model(lrs, observed, batch_size=batch)
    assert fit is not None
    assert fit.mu == pytest.approx(mu, abs=0.25)
    assert fit.sigma == pytest.approx(sigma, rel=0.2)
    assert fit.rmse < 0.06  # binomial noise at B=128 is at most 0.044 per point
    assert fit.n_informative == int(((observed > 1 / 256) & (observed < 1 - 1 / 256)).sum())
    assert fit.critical_lr == pytest.approx(np.exp(fit.mu))


def test_exact_data_fits_exactly():
    lrs = np.logspace(-3, 1, 17)
    fit = fit_pattern_model(lrs, change_probability(lrs, -1.0, 0.8))
    assert fit.mu == pytest.approx(-1.0, abs=1e-6)
    assert fit.sigma == pytest.approx(0.8, rel=1e-6)
    assert fit.rmse < 1e-8


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_no_signal_gives_none_and_a_reason(value, caplog):
    lrs = np.logspace(-4, 2, 25)
    with caplog.at_level(logging.INFO, logger="actcool.fit"):
        assert fit_pattern_model(lrs, np.full(25, value)) is None
    assert "0 of 25" in caplog.text


def test_two_informative_points_are_too_few():
    lrs = np.logspace(-4, 2, 7)
    assert fit_pattern_model(lrs, [0, 0, 0, 0.3, 0.8, 1, 1]) is None


def test_saturated_regularised_points_are_not_informative():
    # what the mean-temperature regulariser leaves of an all-changed batch: 1 - 1/(2B)
    lrs = np.logspace(-4, 2, 6)
    p = [0, 0, 0.4, 1 - 1 / 256, 1 - 1 / 256, 1 - 1 / 256]
    assert fit_pattern_model(lrs, p, batch_size=128) is None
    assert fit_pattern_model(lrs, p) is not None


def test_caller_bugs_raise():
    with pytest.raises(ValueError, match="length"):
        fit_pattern_model([0.1, 1.0], [0.5])
    with pytest.raises(ValueError, match="> 0"):
        fit_pattern_model([0.0, 1.0, 2.0], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_pattern_model([0.1, 1.0, 2.0], [0.1, 0.5, 1.2])
