"""Schema versions: old files are upgraded in place, newer ones are refused."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from storage import Store
from storage.connection import connect
from storage.schema import (
    CATALOG_MIGRATIONS,
    RUN_MIGRATIONS,
    RUN_TABLES,
    forget,
    migrate,
    schema_version,
)


def test_a_version_1_catalog_is_migrated_and_keeps_its_runs(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with connect(home / "catalog.duckdb") as con:
        assert migrate(con, CATALOG_MIGRATIONS[:1], "catalog") == 0
        con.execute(  # a run as version 1 stored it: no worker column, no requests table
            "INSERT INTO runs (id, name, config, status, created_at, heartbeat_at, tags, summary) "
            "VALUES ('0ld0ld00', 'old run', '{\"model\": \"convnet4\"}', 'finished', ?, ?, ['v1'], '{}')",
            [datetime(2024, 1, 2, 3, 4, 5), datetime(2024, 1, 2, 3, 4, 5)],
        )
        assert schema_version(con) == 1

    store = Store(home)
    run = store.get_run("0ld0ld00")
    assert run["name"] == "old run" and run["model"] == "convnet4" and run["tags"] == ["v1"]
    assert run["worker"] is None and run["status"] == "finished"
    assert store.request_stop("0ld0ld00") is False  # the v2 requests table is there
    assert run["config"] == {"model": "convnet4", "granularity": "sample"}  # v3
    with connect(home / "catalog.duckdb") as con:
        assert schema_version(con) == len(CATALOG_MIGRATIONS) == 3
        versions = con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(1,), (2,), (3,)]
        assert migrate(con, CATALOG_MIGRATIONS, "catalog") == 3  # nothing left to do


def test_a_version_1_run_file_gets_its_site_step_index(store):
    run_id = store.create_run({}, name="old metrics")
    path = store.run_path(run_id)
    path.unlink()
    forget(path)
    with connect(path) as con:  # the file as version 1 wrote it: no site_steps table
        migrate(con, RUN_MIGRATIONS[:1], "run")
        for step in (10, 0, 5):
            for site in (0, 1):
                con.execute(
                    "INSERT INTO site_temperatures VALUES (?, ?, ?, ?, 1, 8, ?)",
                    [run_id, step, site, f"s{site}", step + site / 10],
                )
    names, steps, temps = store.site_matrix(run_id)  # migrates on first use
    assert names == ["s0", "s1"] and steps.tolist() == [0, 5, 10]
    assert temps == pytest.approx(np.array([[0.0, 5.0, 10.0], [0.1, 5.1, 10.1]]))
    with connect(path) as con:
        assert schema_version(con) == len(RUN_MIGRATIONS) == 5


def test_a_file_from_a_newer_actcool_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    with connect(path) as con:
        migrate(con, RUN_MIGRATIONS, "run")
        con.execute("INSERT INTO schema_version VALUES (99, now())")
        with pytest.raises(RuntimeError, match="schema version 99.*upgrade actcool"):
            migrate(con, RUN_MIGRATIONS, "run")


def test_run_file_tables_match_the_declared_columns(store):
    run_id = store.create_run({}, name="columns")
    with connect(store.run_path(run_id)) as con:
        for table, columns in RUN_TABLES.items():
            described = con.execute(f"DESCRIBE {table}").fetchall()
            assert [row[0] for row in described] == [name for name, _, _ in columns]


def test_a_version_2_run_file_reads_as_measured_per_sample(store):
    run_id = store.create_run({}, name="sample-era metrics")
    path = store.run_path(run_id)
    path.unlink()
    forget(path)
    with connect(path) as con:  # as version 2 wrote it: no totals, bits or Weibull columns
        migrate(con, RUN_MIGRATIONS[:2], "run")
        for step, batch in ((0, 8), (10, 16)):
            con.execute("INSERT INTO site_steps VALUES (?)", [step])
            for site, changed in ((0, 3), (1, 8)):
                con.execute(
                    "INSERT INTO site_temperatures VALUES (?, ?, ?, ?, ?, ?, 1.0)",
                    [run_id, step, site, f"s{site}", changed, batch],
                )
        scan_rows = [  # step, site, site_index, probability
            (10, "mean", None, 0.5),
            (10, "s0", 0, 0.25),
            (10, "s1", 1, None),
            (10, "s1", 1, float("nan")),
            (20, "s0", 0, 0.5),  # no measurement at step 20: the run's batch size
        ]
        for step, site, index, p in scan_rows:
            con.execute(
                "INSERT INTO lr_scans VALUES (?, ?, 1.0, 0.1, ?, ?, ?, 1.0)",
                [run_id, step, site, index, p],
            )
        con.execute("INSERT INTO fits VALUES (?, 10, 'mean', -1.0, 0.5, 0.01, 4)", [run_id])
        con.execute("INSERT INTO fits VALUES (?, 10, 's0', NULL, NULL, NULL, 0)", [run_id])

    counts = store.site_counts(run_id)  # migrates on first use
    assert counts["total"].tolist() == counts["batch_size"].tolist() == [8, 8, 16, 16]
    assert counts["changed_samples"].tolist() == counts["changed"].tolist() == [3, 8, 3, 8]
    for column in ("flipped_bits", "total_bits", "changed_positions", "total_positions"):
        assert counts[column].isna().all(), column
    scans = store.scans(run_id)
    assert scans["site"].tolist() == ["mean", "s0", "s1", "s1", "s0"]
    assert scans["total"].tolist()[1:] == [16, 16, 16, 16] and scans["total"].isna()[0]
    assert scans["changed"].tolist()[1] == 4 and scans["changed"].tolist()[4] == 8
    assert scans["changed"].isna().tolist() == [True, False, True, True, False]
    assert scans["flipped_bits"].isna().all() and scans["total_bits"].isna().all()
    fits = store.fits(run_id)
    assert fits["model"].tolist() == ["gaussian", "gaussian"]
    assert fits["mu"].tolist()[0] == -1.0 and fits["sigma"].tolist()[0] == 0.5
    assert fits[["lambda0", "k"]].isna().all().all() and fits["reason"].isna().all()
    with connect(path) as con:
        assert schema_version(con) == len(RUN_MIGRATIONS) == 5


def test_a_version_2_catalog_marks_its_runs_as_measured_per_sample(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with connect(home / "catalog.duckdb") as con:
        migrate(con, CATALOG_MIGRATIONS[:2], "catalog")
        for run_id, config in (
            ("0ld0ld00", '{"model": "convnet4", "epochs": 3}'),
            ("0ld0ld01", '{"granularity": "unit:64", "model": "resnet20"}'),
        ):
            con.execute(
                "INSERT INTO runs (id, name, config, status, created_at, tags, summary) "
                "VALUES (?, 'old', ?, 'finished', ?, [], '{}')",
                [run_id, config, datetime(2024, 1, 2, 3, 4, 5)],
            )
    store = Store(home)
    assert store.get_run("0ld0ld00")["config"] == {
        "model": "convnet4",
        "epochs": 3,
        "granularity": "sample",
    }
    assert store.get_run("0ld0ld01")["config"] == {"granularity": "unit:64", "model": "resnet20"}
    with connect(home / "catalog.duckdb") as con:
        assert schema_version(con) == 3


def test_a_version_4_run_file_gains_an_empty_metrics_table(store):
    run_id = store.create_run({}, name="before named metrics")
    path = store.run_path(run_id)
    path.unlink()
    forget(path)
    with connect(path) as con:  # the file as version 4 wrote it: no metrics table
        migrate(con, RUN_MIGRATIONS[:4], "run")
        con.execute(
            "INSERT INTO steps (run_id, step, epoch, lr, loss, wall_time) "
            "VALUES (?, 0, 0, 0.1, 2.3, 1.0)",
            [run_id],
        )
    metrics = store.metrics(run_id)  # migrates on first use
    assert len(metrics) == 0
    assert list(metrics.columns) == ["step", "phase", "name", "value", "wall_time"]
    assert store.steps(run_id)["lr"].tolist() == [0.1]  # the old rows are kept
    with store.writer(run_id) as writer:
        writer.log_metrics(0, "train", {"grad_norm": 1.5, "lr/1": float("nan")})
        writer.log_metrics(0, "eval", {"top5": 90})
        with pytest.raises(TypeError, match="top1 must be a number or None, got 'x'"):
            writer.log_metrics(1, "eval", {"top1": "x"})
        with pytest.raises(ValueError, match="unknown metric phase 'test'"):
            writer.log_metrics(1, "test", {"top1": 1.0})
    rows = store.metrics(run_id)
    assert rows[["step", "phase", "name"]].values.tolist() == [
        [0, "train", "grad_norm"],
        [0, "train", "lr/1"],
        [0, "eval", "top5"],
    ]
    assert rows["value"].tolist()[0::2] == [1.5, 90.0] and np.isnan(rows["value"].iloc[1])
    assert store.metrics(run_id, phase="eval")["name"].tolist() == ["top5"]
    with connect(path) as con:
        assert schema_version(con) == len(RUN_MIGRATIONS) == 5
