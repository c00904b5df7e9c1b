"""Guard events: ActCoolLR's cuts of the rate round trip, land once per step, follow the run
(resume truncation, delete, export, a remote trainer) and appear in an upgraded old file."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from storage.connection import connect
from storage.reader import GUARD_EVENT_COLUMNS
from storage.remote import RemoteStore, StoreService
from storage.schema import RUN_MIGRATIONS, forget, migrate, schema_version

RISE = "smoothed loss 2.1 is 1.62x its lowest (1.3)"
COLLAPSE = "temperature per unit rate 0.4 fell below 0.1x its recent median (9.5)"


def log_two_events(writer) -> None:
    writer.log_guard_event(30, "loss_rise", RISE, 0.4, 0.2)
    writer.log_guard_event(90, "temperature_collapse", COLLAPSE, 0.2, 0.1)


def test_events_round_trip_in_step_order(store):
    run_id = store.create_run({}, name="guarded")
    with store.writer(run_id) as writer:
        writer.log_guard_event(90, "temperature_collapse", COLLAPSE, 0.2, 0.1)
        writer.log_guard_event(30, "loss_rise", RISE, 0.4, 0.2)
    events = store.guard_events(run_id)
    assert list(events.columns) == list(GUARD_EVENT_COLUMNS)
    assert events["step"].tolist() == [30, 90]
    assert events["reason"].tolist() == ["loss_rise", "temperature_collapse"]
    assert events["detail"].tolist() == [RISE, COLLAPSE]
    assert events["lr_before"].tolist() == [0.4, 0.2]
    assert events["lr_after"].tolist() == [0.2, 0.1]


def test_a_run_without_events_reads_as_an_empty_frame_with_the_columns(store):
    run_id = store.create_run({}, name="calm")
    with store.writer(run_id) as writer:
        writer.log_step(0, 0, 0.1, 2.3)
    events = store.guard_events(run_id)
    assert len(events) == 0 and list(events.columns) == list(GUARD_EVENT_COLUMNS)
    assert events["step"].dtype == "int64" and events["lr_before"].dtype == "float64"


def test_an_event_logged_again_is_stored_once(store):
    run_id = store.create_run({}, name="resumed")
    with store.writer(run_id) as writer:
        log_two_events(writer)
        writer.flush()
        writer.log_guard_event(30, "loss_rise", "logged again after a resume", 0.4, 0.2)
        writer.log_guard_event(150, "loss_rise", "first at 150", 0.1, 0.05)
        writer.log_guard_event(150, "loss_rise", "second at 150, same flush", 0.1, 0.05)
    events = store.guard_events(run_id)
    assert events["step"].tolist() == [30, 90, 150]
    assert events["detail"].tolist() == [RISE, COLLAPSE, "first at 150"]  # the first stays


def test_resume_truncation_drops_the_events_after_the_checkpoint(store):
    run_id = store.create_run({}, name="killed")
    with store.writer(run_id) as writer:
        log_two_events(writer)
    assert store.truncate_run(run_id, after_step=50) == 1
    assert store.guard_events(run_id)["step"].tolist() == [30]


def test_deleting_a_run_deletes_its_events(store):
    run_id = store.create_run({}, name="doomed")
    with store.writer(run_id) as writer:
        log_two_events(writer)
    store.update_run(run_id, status="finished")
    store.delete_run(run_id)
    with pytest.raises(KeyError):
        store.guard_events(run_id)
    assert not store.run_path(run_id).exists()


def test_export_includes_the_events(store, tmp_path):
    run_id = store.create_run({}, name="exported")
    with store.writer(run_id) as writer:
        writer.log_step(30, 0, 0.4, 2.0)
        log_two_events(writer)
    folder = store.export(run_id, "parquet", tmp_path / "folder")
    back = pq.read_table(folder / "guard_events.parquet").to_pandas()
    assert (back["run_id"] == run_id).all()
    pd.testing.assert_frame_equal(back[list(GUARD_EVENT_COLUMNS)], store.guard_events(run_id))
    one = pd.read_parquet(store.export(run_id, out=tmp_path / "run.parquet"))
    assert one["kind"].tolist() == ["run", "steps", "guard_events", "guard_events"]
    assert one.loc[one["kind"] == "guard_events", "reason"].tolist() == [
        "loss_rise",
        "temperature_collapse",
    ]


def test_a_remote_trainer_records_events_once(tmp_path):
    service = StoreService(tmp_path / "home")
    client = RemoteStore(lambda method, *a, **k: getattr(service, method)(*a, **k), tmp_path)
    run_id = service.store.create_run({}, name="remote")
    with client.writer(run_id) as writer:
        log_two_events(writer)
        writer.flush()
        writer.log_guard_event(30, "loss_rise", RISE, 0.4, 0.2)
    assert service.store.guard_events(run_id)["step"].tolist() == [30, 90]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": -1}, ValueError, r"step must be an int >= 0, got -1"),
        ({"reason": ""}, ValueError, r"reason must be a non-empty str, got ''"),
        ({"detail": None}, TypeError, r"detail must be a str, got None"),
        ({"lr_before": float("nan")}, ValueError, r"lr_before must be a finite number, got nan"),
        ({"lr_after": None}, ValueError, r"lr_after must be a finite number, got None"),
        ({"lr_after": "0.1"}, TypeError, r"lr_after must be a number or None, got '0.1'"),
    ],
)
def test_bad_events_are_refused_and_log_nothing(store, kwargs, error, match):
    run_id = store.create_run({}, name="bad")
    event = {"step": 30, "reason": "loss_rise", "detail": RISE, "lr_before": 0.4, "lr_after": 0.2}
    with store.writer(run_id) as writer:
        with pytest.raises(error, match=match):
            writer.log_guard_event(**{**event, **kwargs})
        assert writer.buffered_rows == 0


def test_a_version_3_run_file_gains_an_empty_event_table(store):
    run_id = store.create_run({}, name="before the guard")
    path = store.run_path(run_id)
    path.unlink()
    forget(path)
    with connect(path) as con:  # the file as version 3 wrote it: no guard_events table
        migrate(con, RUN_MIGRATIONS[:3], "run")
        con.execute(
            "INSERT INTO steps (run_id, step, epoch, lr, loss, wall_time) "
            "VALUES (?, 0, 0, 0.1, 2.3, 1.0)",
            [run_id],
        )
    events = store.guard_events(run_id)  # migrates on first use
    assert len(events) == 0 and list(events.columns) == list(GUARD_EVENT_COLUMNS)
    assert store.steps(run_id)["lr"].tolist() == [0.1]  # the old rows are kept
    with store.writer(run_id) as writer:
        writer.log_guard_event(5, "loss_rise", RISE, 0.1, 0.05)
    assert store.guard_events(run_id)["step"].tolist() == [5]
    with connect(path) as con:
        assert schema_version(con) == len(RUN_MIGRATIONS) == 5


def test_aligned_events_share_the_x_axis_of_aligned(store):
    guarded = store.create_run({"total_steps": 120}, name="guarded")
    unfinished = store.create_run({}, name="no total: its last step")
    calm = store.create_run({}, name="calm")
    for run_id in (guarded, unfinished, calm):
        with store.writer(run_id) as writer:
            for step in range(0, 101, 10):
                writer.log_step(step, epoch=0, lr=0.1, loss=1.0)
    with store.writer(guarded) as writer:
        log_two_events(writer)
    with store.writer(unfinished) as writer:
        writer.log_guard_event(50, "loss_rise", RISE, 0.1, 0.05)
    runs = [calm, unfinished, guarded]
    by_step = store.aligned_guard_events(runs)
    assert by_step["run_id"].tolist() == [unfinished, guarded, guarded]
    assert by_step["x"].tolist() == [50.0, 30.0, 90.0]
    assert list(by_step.columns) == ["run_id", "x", *GUARD_EVENT_COLUMNS]
    by_fraction = store.aligned_guard_events(runs, by="fraction")
    assert by_fraction["x"].tolist() == pytest.approx([50 / 100, 30 / 120, 90 / 120])
    lr = store.aligned(runs, "lr", by="fraction")
    assert lr[lr["run_id"] == guarded]["x"].max() == pytest.approx(100 / 120)  # same totals
    none = store.aligned_guard_events([calm], by="fraction")
    assert len(none) == 0 and list(none.columns) == list(by_step.columns)
    with pytest.raises(ValueError, match="unknown alignment 'epoch'"):
        store.aligned_guard_events(runs, by="epoch")
    with pytest.raises(KeyError, match="unknown run ids"):
        store.aligned_guard_events(["nosuchrun"])
