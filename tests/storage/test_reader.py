"""Dashboard queries: downsampling, the site matrix, aligned metrics, export, bulk rows."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from storage.reader import even_indices, minmax_indices


def make_run(store, n=1000, config=None):
    """A run with n steps (loss 1/(step+1) with a spike at n // 2), 4 sites every 10 steps."""
    run_id = store.create_run(config or {}, name="reader")
    step = np.arange(n)
    loss = 1.0 / (step + 1)
    loss[n // 2] = 50.0
    store.append_rows(
        run_id,
        "steps",
        pd.DataFrame(
            {
                "step": step,
                "epoch": step // 100,
                "lr": 0.1 * (1 - step / n),
                "loss": loss,
                "mean_temperature": 0.5 - step / (4 * n),
                "target_temperature": 0.5 - step / (4 * n),
            }
        ),
    )
    measured = step[::10]
    store.append_rows(
        run_id,
        "site_temperatures",
        pd.DataFrame(
            {
                "step": np.repeat(measured, 4),
                "site_index": np.tile(np.arange(4), len(measured)),
                "site_name": np.tile(["a", "b", "c", "d"], len(measured)),
                "changed": 1,
                "batch_size": 32,
                "temperature": (
                    np.repeat(measured, 4) + np.tile(np.arange(4), len(measured)) / 10.0
                ),
            }
        ),
    )
    store.append_rows(
        run_id,
        "evaluations",
        pd.DataFrame(
            {
                "step": [0, 499, 999],
                "epoch": [0, 4, 9],
                "train_loss": [2.0, 1.0, 0.5],
                "train_error": [0.9, 0.5, 0.2],
                "val_loss": [2.1, 1.1, 0.6],
                "val_error": [0.9, 0.5, 0.3],
                "test_error": [None, None, 0.31],
            }
        ),
    )
    return run_id


def test_minmax_indices_keep_ends_and_spikes_within_budget():
    values = np.sin(np.linspace(0, 20, 10_000))
    values[1234] = 100.0
    values[4321] = -100.0
    values[5000:5100] = np.nan
    picked = minmax_indices(values, 100)
    assert len(picked) <= 100 and picked[0] == 0 and picked[-1] == 9999
    assert {1234, 4321} <= set(picked.tolist())
    assert np.all(np.diff(picked) > 0)
    assert minmax_indices(values[:50], 100).tolist() == list(range(50))
    assert even_indices(11, 3).tolist() == [0, 5, 10]
    assert even_indices(3, 10).tolist() == [0, 1, 2]


def test_steps_full_and_downsampled(store):
    run_id = make_run(store)
    steps = store.steps(run_id)
    assert steps["step"].tolist() == list(range(1000))
    assert steps["lr"].to_numpy() == pytest.approx(0.1 * (1 - np.arange(1000) / 1000))
    small = store.steps(run_id, max_points=50)
    assert len(small) <= 50
    assert small["step"].iloc[0] == 0 and small["step"].iloc[-1] == 999
    assert small["loss"].max() == 50.0  # the spike at step 500 survives


def test_site_matrix_full_limited_and_with_a_missing_value(store):
    run_id = make_run(store)
    names, steps, temps = store.site_matrix(run_id)
    assert names == ["a", "b", "c", "d"] and steps.tolist() == list(range(0, 1000, 10))
    assert temps.shape == (4, 100)
    assert temps[2, 7] == pytest.approx(70.2)
    names, steps, temps = store.site_matrix(run_id, max_steps=11)
    assert steps.tolist() == [0, 100, 200, 300, 400, 500, 590, 690, 790, 890, 990]
    assert temps[:, -1] == pytest.approx([990.0, 990.1, 990.2, 990.3])
    store.append_rows(
        run_id,
        "site_temperatures",
        pd.DataFrame(
            {
                "step": [2000],
                "site_index": [1],
                "site_name": ["b"],
                "changed": [1],
                "batch_size": [32],
                "temperature": [7.0],
            }
        ),
    )
    names, steps, temps = store.site_matrix(run_id)
    assert steps[-1] == 2000 and np.isnan(temps[[0, 2, 3], -1]).all() and temps[1, -1] == 7.0


def test_empty_run_reads_as_empty_tables(store):
    run_id = store.create_run({}, name="empty")
    assert store.steps(run_id, max_points=10).empty
    assert store.scans(run_id).empty and store.fits(run_id).empty
    assert store.evaluations(run_id).empty
    names, steps, temps = store.site_matrix(run_id, max_steps=10)
    assert names == [] and steps.shape == (0,) and temps.shape == (0, 0)


def test_aligned_by_step_and_by_fraction(store):
    from_config = make_run(store, n=1000, config={"total_steps": 2000})
    from_summary = make_run(store, n=1000, config={"total_steps": 2000})
    store.update_run(from_summary, summary={"total_steps": 1000})
    from_data = make_run(store, n=500)
    by_step = store.aligned([from_config, from_data], metric="lr")
    assert by_step.columns.tolist() == ["run_id", "x", "value"]
    assert (by_step["run_id"] == from_config).sum() == 1000
    assert (by_step["run_id"] == from_data).sum() == 500
    frac = store.aligned([from_config, from_summary, from_data], metric="lr", by="fraction")
    assert frac[frac["run_id"] == from_config]["x"].max() == pytest.approx(999 / 2000)
    assert frac[frac["run_id"] == from_summary]["x"].max() == pytest.approx(999 / 1000)
    assert frac[frac["run_id"] == from_data]["x"].max() == pytest.approx(1.0)  # last step
    evals = store.aligned([from_config], metric="test_error")
    assert evals["x"].tolist() == [999] and evals["value"].tolist() == [0.31]
    small = store.aligned([from_config], metric="loss", max_points=20)
    assert len(small) <= 20 and small["value"].max() == 50.0


def test_export_parquet_and_csv_round_trip(store, tmp_path):
    run_id = make_run(store, config={"model": "tiny"})
    with store.writer(run_id) as writer:
        writer.log_scan(
            1000, 10, [0.1, 1.0], ["a"], [[0.2, 0.8]], [[1.0, 2.0]], [0.3, 0.7], [1.5, 2.5]
        )
        writer.log_fits(1000, [("mean", 0.1, 0.2, 0.3, 4)])
    out = store.export(run_id, "parquet", tmp_path / "pq")
    for name, frame in [
        ("steps", store.steps(run_id)),
        ("evaluations", store.evaluations(run_id)),
        ("fits", store.fits(run_id)),
        ("scans", store.scans(run_id)),
    ]:
        file = "lr_scans" if name == "scans" else name
        back = pq.read_table(out / f"{file}.parquet").to_pandas()
        assert (back["run_id"] == run_id).all()
        pd.testing.assert_frame_equal(
            back[frame.columns].reset_index(drop=True), frame, check_dtype=False
        )
    run = json.loads((out / "run.json").read_text())
    assert run["id"] == run_id and run["config"] == {"model": "tiny"}

    archive = store.export(run_id, "csv", tmp_path / "run.zip")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted(
            [
                "run.json",
                "steps.csv",
                "site_temperatures.csv",
                "lr_scans.csv",
                "fits.csv",
                "evaluations.csv",
                "guard_events.csv",
                "metrics.csv",
            ]
        )
        sites = pd.read_csv(io.BytesIO(zf.read("site_temperatures.csv")))
        evaluations = pd.read_csv(io.BytesIO(zf.read("evaluations.csv")))
    assert len(sites) == 400 and sites["temperature"].iloc[7] == pytest.approx(10.3)
    assert {"total", "flipped_bits", "total_bits", "changed_positions"} <= set(sites.columns)
    assert evaluations["test_error"].isna().tolist() == [True, True, False]
    default = store.export(run_id, "csv")
    assert default == store.home / "exports" / f"{run_id}-csv" and (default / "steps.csv").exists()


def test_bulk_rows_may_leave_out_the_columns_added_later(store):
    run_id = make_run(store, n=20)  # site rows without totals or bit counts
    counts = store.site_counts(run_id)
    assert len(counts) == 2 * 4 and (counts["changed"] == 1).all()
    assert counts[["total", "flipped_bits", "total_bits"]].isna().all().all()
    store.append_rows(
        run_id,
        "fits",
        pd.DataFrame(
            {
                "step": [10],
                "site": ["mean"],
                "mu": [0.1],
                "sigma": [0.2],
                "rmse": [0.3],
                "n_informative": [4],
            }
        ),
    )
    fits = store.fits(run_id)
    assert fits["model"].tolist() == ["gaussian"] and fits["lambda0"].isna().all()
    names, steps, changed = store.site_matrix(run_id, value="changed")
    assert names == ["a", "b", "c", "d"] and steps.tolist() == [0, 10]
    assert (changed == 1.0).all()


def test_truncate_run_drops_later_steps_everywhere(store):
    run_id = make_run(store)
    deleted = store.truncate_run(run_id, after_step=499)
    assert deleted == 500 + 50 * 4 + 1
    assert store.steps(run_id)["step"].max() == 499
    assert store.site_matrix(run_id)[1].max() == 490
    assert store.evaluations(run_id)["step"].tolist() == [0, 499]


BAD_READS = [
    (lambda s, r: s.steps("no-such-run"), KeyError, "unknown run id 'no-such-run'"),
    (lambda s, r: s.get_run("../etc"), ValueError, r"bad run id '\.\./etc'"),
    (lambda s, r: s.steps(r, max_points=1), ValueError, "max_points must be an int >= 2"),
    (lambda s, r: s.site_matrix(r, max_steps=0.5), ValueError, "max_steps must be an int >= 2"),
    (
        lambda s, r: s.site_matrix(r, value="bits"),
        ValueError,
        "unknown site value 'bits'; choose one of: temperature, changed, total",
    ),
    (
        lambda s, r: s.aligned([r], metric="accuracy"),
        ValueError,
        "unknown metric 'accuracy'; choose one of: epoch, lr, loss",
    ),
    (lambda s, r: s.aligned([r], by="time"), ValueError, "unknown alignment 'time'"),
    (lambda s, r: s.aligned(r), TypeError, "run_ids must be a list of ids"),
    (lambda s, r: s.aligned([r, "cafebabe"]), KeyError, "unknown run ids"),
    (
        lambda s, r: s.export(r, "xlsx"),
        ValueError,
        "unknown export format 'xlsx'; choose one of: csv, parquet",
    ),
    (lambda s, r: s.append_rows(r, "losses", pd.DataFrame()), ValueError, "unknown table 'losses'"),
    (
        lambda s, r: s.append_rows(r, "steps", pd.DataFrame({"step": [1]})),
        ValueError,
        r"missing \['epoch', 'lr', 'loss'",
    ),
    (
        lambda s, r: s.list_runs(status="done"),
        ValueError,
        "unknown status 'done'; choose from: queued",
    ),
    (lambda s, r: s.update_run(r, status="paused"), ValueError, "unknown status 'paused'"),
    (
        lambda s, r: s.update_run(r, started="yesterday"),
        TypeError,
        "started must be a datetime or True",
    ),
    (
        lambda s, r: s.update_run("abcdef12", status="finished"),
        KeyError,
        "unknown run id 'abcdef12'",
    ),
    (lambda s, r: s.create_run({}, name=""), ValueError, "name must be a non-empty str"),
    (
        lambda s, r: s.create_run({}, name="x", tags="baseline"),
        TypeError,
        "tags must be a list of str",
    ),
    (
        lambda s, r: s.create_run({}, name="x", status="finished"),
        ValueError,
        "a new run's status must be 'running' or 'queued'",
    ),
    (lambda s, r: s.create_run({"f": object()}, name="x"), TypeError, "config holds a object"),
    (lambda s, r: s.create_run([1], name="x"), TypeError, "config must be a dict"),
    (lambda s, r: s.save_curve("c", {"f": {1, object()}}), TypeError, "not JSON-serialisable"),
    (lambda s, r: s.claim_next_queued(""), ValueError, "worker must be a non-empty str"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_READS)
def test_bad_arguments_name_the_value_and_the_choices(store, call, error, match):
    run_id = store.create_run({}, name="target")
    with pytest.raises(error, match=match):
        call(store, run_id)
