"""RunWriter: what is logged is what is read back, flushing, back-pressure, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from storage import RunWriter

SITES = ["conv1", "conv2", "fc1"]


def test_every_log_call_round_trips_with_its_values(store):
    run_id = store.create_run({}, name="all")
    with store.writer(run_id) as writer:
        writer.log_step(0, 0, 0.1, 2.5, 0.48, 0.5)
        writer.log_step(1, 0.5, 0.09, float("nan"))  # a diverged loss stays NaN, not NULL
        writer.log_sites(0, SITES, [10, 20, 30], 64, np.array([0.1, 0.2, 0.3]))
        writer.log_sites(1, SITES, np.array([11, 21, 31]), 64, [0.15, 0.25, 0.35])
        rates = [0.01, 0.1, 1.0]
        probabilities = np.arange(9, dtype=float).reshape(3, 3) / 10  # (sites, rates)
        writer.log_scan(
            1, 0.5, rates, SITES, probabilities, probabilities + 1, [0.2, 0.4, 0.6], [1.2, 1.4, 1.6]
        )
        writer.log_fits(1, [("mean", -1.0, 0.5, 0.01, 3), ("conv1", None, None, None, 0)])
        writer.log_eval(1, 0.5, train_loss=2.0, val_error=0.75)

    steps = store.steps(run_id)
    assert steps["step"].tolist() == [0, 1]
    assert steps["epoch"].tolist() == [0.0, 0.5]
    assert steps["lr"].tolist() == [0.1, 0.09]
    assert steps["loss"][0] == 2.5 and math.isnan(steps["loss"][1])
    assert steps["mean_temperature"][0] == 0.48 and steps["mean_temperature"].isna()[1]
    assert steps["target_temperature"][0] == 0.5

    names, matrix_steps, temps = store.site_matrix(run_id)
    assert names == SITES and matrix_steps.tolist() == [0, 1]
    assert temps == pytest.approx(np.array([[0.1, 0.15], [0.2, 0.25], [0.3, 0.35]]))

    scans = store.scans(run_id)
    assert len(scans) == 4 * 3
    mean = scans[scans["site"] == "mean"]
    assert mean["rate"].tolist() == rates and mean["site_index"].isna().all()
    assert mean["probability"].tolist() == [0.2, 0.4, 0.6]
    assert mean["temperature"].tolist() == [1.2, 1.4, 1.6]
    conv2 = scans[scans["site"] == "conv2"]
    assert conv2["site_index"].tolist() == [1, 1, 1]
    assert conv2["probability"].to_numpy() == pytest.approx([0.3, 0.4, 0.5])
    assert conv2["temperature"].to_numpy() == pytest.approx([1.3, 1.4, 1.5])
    assert (scans["epoch"] == 0.5).all() and (scans["step"] == 1).all()

    fits = store.fits(run_id)
    assert fits["site"].tolist() == ["mean", "conv1"]
    assert fits["mu"][0] == -1.0 and fits["sigma"][0] == 0.5 and fits["rmse"][0] == 0.01
    assert fits["mu"].isna()[1] and fits["n_informative"].tolist() == [3, 0]

    evaluations = store.evaluations(run_id)
    assert evaluations["train_loss"].tolist() == [2.0] and evaluations["val_error"].tolist() == [
        0.75
    ]
    assert evaluations[["train_error", "val_loss", "test_error"]].isna().all().all()


def test_granularity_counts_and_both_fit_models_round_trip(store):
    run_id = store.create_run({"granularity": "unit:64"}, name="counts")
    with store.writer(run_id) as writer:
        writer.log_sites(
            0,
            SITES,
            [40, 50, 6],
            4,
            [0.5, 0.6, 0.7],
            total=[4096, 4096, 256],
            flipped_bits=np.array([40, 50, 6]),
            total_bits=[4096, 4096, 256],
            changed_samples=[4, 4, 3],
            changed_positions=[30, 33, 3],
            total_positions=[64, 64, 4],
        )
        writer.log_sites(5, SITES, [1, 2, 3], 4, [0.1, 0.2, 0.3])  # an old-style call
        writer.log_scan(
            5,
            1.0,
            [0.1, 1.0],
            SITES,
            np.full((3, 2), 0.5),
            np.ones((3, 2)),
            [0.5, 0.5],
            [1.0, 1.0],
            changed=[[1, 2], [3, 4], [5, 6]],
            total=[10, 20, 30],
            flipped_bits=np.array([[7, 8], [9, 10], [11, 12]]),
            total_bits=[100, 200, 300],
        )
        writer.log_fits(
            5,
            [
                {
                    "site": "mean",
                    "model": "gaussian",
                    "mu": -1.0,
                    "sigma": 0.5,
                    "rmse": 0.01,
                    "n_informative": 5,
                },
                {
                    "site": "mean",
                    "model": "weibull",
                    "lambda0": 0.3,
                    "k": 1.1,
                    "rmse": 0.02,
                    "n_informative": 5,
                },
                {
                    "site": "conv1",
                    "model": "weibull",
                    "n_informative": 1,
                    "reason": "only 1 informative point",
                },
                ("conv2", 0.1, 0.2, 0.03, 4),  # a plain tuple is a Gaussian fit
            ],
        )

    counts = store.site_counts(run_id)
    assert counts.columns.tolist() == [
        "step",
        "site_index",
        "site_name",
        "changed",
        "total",
        "flipped_bits",
        "total_bits",
        "changed_samples",
        "batch_size",
        "changed_positions",
        "total_positions",
        "temperature",
    ]
    first, later = counts[counts["step"] == 0], counts[counts["step"] == 5]
    assert first["site_name"].tolist() == SITES and first["site_index"].tolist() == [0, 1, 2]
    assert first["total"].tolist() == [4096, 4096, 256]
    assert first["flipped_bits"].tolist() == [40, 50, 6]
    assert (
        first["changed_samples"].tolist() == [4, 4, 3] and first["batch_size"].tolist() == [4] * 3
    )
    assert first["changed_positions"].tolist() == [30, 33, 3]
    assert first["total_positions"].tolist() == [64, 64, 4]
    assert first["temperature"].tolist() == [0.5, 0.6, 0.7]
    assert later["changed"].tolist() == [1, 2, 3] and later["batch_size"].tolist() == [4] * 3
    for column in ("total", "flipped_bits", "total_bits", "changed_samples", "total_positions"):
        assert later[column].isna().all(), column  # not counted: NULL, not 0 or -1

    names, steps, bits = store.site_matrix(run_id, value="total_bits")
    assert names == SITES and steps.tolist() == [0, 5]
    np.testing.assert_array_equal(bits[:, 0], [4096, 4096, 256])
    assert np.isnan(bits[:, 1]).all()

    scans = store.scans(run_id)
    mean, sites = scans[scans["site"] == "mean"], scans[scans["site"] != "mean"]
    for column in ("changed", "total", "flipped_bits", "total_bits"):
        assert mean[column].isna().all(), column
    assert sites["changed"].tolist() == [1, 2, 3, 4, 5, 6]
    assert sites["total"].tolist() == [10, 10, 20, 20, 30, 30]
    assert sites["flipped_bits"].tolist() == [7, 8, 9, 10, 11, 12]
    assert sites["total_bits"].tolist() == [100, 100, 200, 200, 300, 300]

    fits = store.fits(run_id)
    assert fits.columns.tolist() == [
        "step",
        "site",
        "model",
        "mu",
        "sigma",
        "lambda0",
        "k",
        "rmse",
        "n_informative",
        "reason",
    ]
    assert fits["site"].tolist() == ["mean", "mean", "conv1", "conv2"]
    assert fits["model"].tolist() == ["gaussian", "weibull", "weibull", "gaussian"]
    assert fits["mu"].tolist()[0] == -1.0 and fits["lambda0"].tolist()[1] == 0.3
    assert fits["k"].tolist()[1] == 1.1 and fits["rmse"].tolist()[3] == 0.03
    assert fits["mu"].isna().tolist() == [False, True, True, False]
    assert fits["lambda0"].isna().tolist() == [True, False, True, True]
    assert fits["n_informative"].tolist() == [5, 5, 1, 4]
    assert fits["reason"].isna().tolist() == [True, True, False, True]
    assert fits["reason"].tolist()[2] == "only 1 informative point"


def test_flush_makes_rows_readable_at_once_and_close_is_idempotent(store):
    run_id = store.create_run({}, name="flush")
    writer = store.writer(run_id, flush_interval=2.0)
    for step in range(10):
        writer.log_step(step, 0, 0.1, 1.0)
    assert writer.flush() == 10
    assert len(store.steps(run_id)) == 10
    assert writer.flush() == 0
    writer.log_step(10, 0, 0.1, 1.0)
    writer.close()
    writer.close()
    assert store.steps(run_id)["step"].tolist() == list(range(11))
    with pytest.raises(RuntimeError, match="closed"):
        writer.log_step(11, 0, 0.1, 1.0)


def test_a_full_buffer_blocks_the_caller_instead_of_dropping_rows(store):
    run_id = store.create_run({}, name="small-buffer")
    with store.writer(run_id, flush_interval=2.0, max_buffer_rows=50) as writer:
        for step in range(2000):
            writer.log_step(step, 0, 0.1, 1.0)
            assert writer.buffered_rows <= 50
    assert store.steps(run_id)["step"].tolist() == list(range(2000))


def test_a_failing_flush_surfaces_once_the_buffer_is_full_and_keeps_the_rows(store, monkeypatch):
    run_id = store.create_run({}, name="disk-full")
    writer = store.writer(run_id, flush_interval=0.1, max_buffer_rows=20)

    def broken(run_id):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_run_file", broken)
    logged = 0
    with pytest.raises(OSError, match="disk full"):
        for step in range(10_000):
            writer.log_step(step, 0, 0.1, 1.0)
            logged += 1
    assert 20 <= logged < 10_000
    monkeypatch.undo()
    writer.close()  # saves everything that was buffered, once
    assert store.steps(run_id)["step"].tolist() == list(range(logged))


def test_writer_for_an_unknown_run_raises_key_error(store):
    with pytest.raises(KeyError, match="unknown run id 'deadbeef'"):
        store.writer("deadbeef")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flush_interval": 5.0}, r"flush_interval must be in \(0, 2\]"),
        ({"flush_interval": 0}, r"flush_interval must be in \(0, 2\]"),
        ({"max_buffer_rows": 0}, "max_buffer_rows must be a positive int"),
        ({"heartbeat_interval": -1}, "heartbeat_interval must be > 0"),
    ],
)
def test_bad_writer_settings(store, kwargs, match):
    run_id = store.create_run({}, name="settings")
    with pytest.raises(ValueError, match=match):
        RunWriter(store, run_id, **kwargs)


BAD_LOGS = [
    (lambda w: w.log_step(-1, 0, 0.1, 1.0), ValueError, "step must be an int >= 0, got -1"),
    (lambda w: w.log_step(1.5, 0, 0.1, 1.0), ValueError, "step must be an int >= 0, got 1.5"),
    (lambda w: w.log_step(0, 0, "0.1", 1.0), TypeError, "lr must be a number or None, got '0.1'"),
    (
        lambda w: w.log_sites(0, ["a", "b"], [1], 8, [0.1, 0.2]),
        ValueError,
        r"changed must have shape \(2,\)",
    ),
    (
        lambda w: w.log_sites(0, ["a", "b"], [1, 2], 8, [0.1]),
        ValueError,
        r"temperatures must have shape \(2,\)",
    ),
    (lambda w: w.log_sites(0, [], [], 8, []), ValueError, "names must be a non-empty list"),
    (lambda w: w.log_sites(0, ["mean"], [1], 8, [0.1]), ValueError, "'mean' is reserved"),
    (lambda w: w.log_sites(0, ["a"], [1.5], 8, [0.1]), ValueError, "changed must be whole numbers"),
    (lambda w: w.log_sites(0, ["a"], [1], -8, [0.1]), ValueError, "batch_size must be an int >= 0"),
    (
        lambda w: w.log_scan(
            0, 0, [0.1, 1.0], ["a"], np.zeros((2, 2)), np.zeros((1, 2)), [0, 0], [0, 0]
        ),
        ValueError,
        r"probabilities must have shape \(1, 2\)",
    ),
    (
        lambda w: w.log_scan(
            0, 0, [0.1, 1.0], ["a"], np.zeros((1, 2)), np.zeros((1, 2)), [0], [0, 0]
        ),
        ValueError,
        r"mean_probability must have shape \(2,\)",
    ),
    (
        lambda w: w.log_sites(0, ["a"], [5], 8, [0.1], total=[4]),
        ValueError,
        r"changed must not exceed total, got \[5\] of \[4\]",
    ),
    (
        lambda w: w.log_sites(0, ["a"], [1], 8, [0.1], flipped_bits=[-1]),
        ValueError,
        "flipped_bits must be whole numbers >= 0",
    ),
    (
        lambda w: w.log_sites(0, ["a"], [1], 8, [0.1], changed_samples=[9]),
        ValueError,
        "changed_samples must not exceed batch_size",
    ),
    (
        lambda w: w.log_sites(0, ["a", "b"], [1, 1], 8, [0.1, 0.1], total_positions=[4]),
        ValueError,
        r"total_positions must have shape \(2,\)",
    ),
    (
        lambda w: w.log_scan(
            0,
            0,
            [0.1, 1.0],
            ["a"],
            np.zeros((1, 2)),
            np.zeros((1, 2)),
            [0, 0],
            [0, 0],
            changed=[[1, 9]],
            total=[8],
        ),
        ValueError,
        "changed must not exceed total",
    ),
    (
        lambda w: w.log_scan(
            0,
            0,
            [0.1, 1.0],
            ["a"],
            np.zeros((1, 2)),
            np.zeros((1, 2)),
            [0, 0],
            [0, 0],
            flipped_bits=[1, 2],
        ),
        ValueError,
        r"flipped_bits must have shape \(1, 2\)",
    ),
    (lambda w: w.log_fits(0, [("mean", 1.0, 0.5)]), ValueError, "each fit row must be"),
    (
        lambda w: w.log_fits(0, [{"site": "mean", "model": "logistic"}]),
        ValueError,
        "unknown fit model 'logistic'; choose one of: gaussian, weibull",
    ),
    (
        lambda w: w.log_fits(0, [{"site": "mean", "model": "gaussian", "k": 1.0}]),
        ValueError,
        "a gaussian fit has no k",
    ),
    (
        lambda w: w.log_fits(0, [{"site": "mean", "model": "weibull", "lam": 1.0}]),
        ValueError,
        r"unknown fit field\(s\) \['lam'\]; a fit row has: site, model, mu",
    ),
    (
        lambda w: w.log_fits(0, [{"site": "mean", "model": "weibull", "reason": 3}]),
        TypeError,
        "fit reason must be a str or None",
    ),
    (lambda w: w.log_fits(0, [("", 1.0, 0.5, 0.1, 2)]), ValueError, "fit site must be"),
    (lambda w: w.log_eval(0, 0, val_error="high"), TypeError, "val_error must be a number"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_LOGS)
def test_bad_log_calls_raise_and_log_nothing(store, call, error, match):
    run_id = store.create_run({}, name="bad")
    with store.writer(run_id) as writer:
        with pytest.raises(error, match=match):
            call(writer)
        assert writer.buffered_rows == 0
