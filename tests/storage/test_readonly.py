"""Readers open a store without creating one (``Store(..., create=False)``), and a run
recorded through the writer alone reads its latest test error."""

from __future__ import annotations

import math

import pytest

from storage import Store, StoreNotFound


@pytest.mark.parametrize("folder_exists", [False, True])
def test_a_reader_creates_nothing_where_there_is_no_store(tmp_path, folder_exists):
    home = tmp_path / "actcool-data"
    if folder_exists:  # e.g. a project folder that holds other things
        home.mkdir()
    reader = Store(home, create=False)
    assert not reader.exists()
    for read in (
        reader.list_runs,
        lambda: reader.get_run("abcdef12"),
        lambda: reader.steps("abcdef12"),
        reader.created_at,
    ):
        with pytest.raises(StoreNotFound, match="no ActCool store at '.*actcool-data'") as info:
            read()
        assert info.value.home == home
    assert isinstance(info.value, FileNotFoundError)
    assert home.exists() == folder_exists and (not folder_exists or not any(home.iterdir()))


def test_a_reader_reads_an_existing_store_and_still_names_unknown_runs(tmp_path):
    writer = Store(tmp_path / "home")
    run_id = writer.create_run({"model": "convnet4"}, name="x")
    with writer.writer(run_id) as w:
        w.log_step(0, epoch=0, lr=0.1, loss=2.0)
    reader = Store(tmp_path / "home", create=False)
    assert reader.exists()
    assert reader.list_runs()["id"].tolist() == [run_id]
    assert reader.steps(run_id)["loss"].tolist() == [2.0]
    with pytest.raises(KeyError, match="unknown run id 'abcdef12'"):
        reader.get_run("abcdef12")
    # a store deleted under an open reader is not made again by the reader
    import shutil

    shutil.rmtree(tmp_path / "home")
    with pytest.raises(StoreNotFound):
        reader.list_runs()
    assert not (tmp_path / "home").exists()


def test_last_test_error_is_the_latest_measured_one(tmp_path):
    store = Store(tmp_path / "home")
    run_id = store.create_run({}, name="outside the trainer")
    assert store.last_test_error(run_id) is None
    with store.writer(run_id) as w:
        w.log_eval(10, epoch=1, test_error=7.5)
        w.log_eval(20, epoch=2, test_error=6.25)
        w.log_eval(30, epoch=3, val_error=5.0)  # no test error at the last evaluation
        w.log_eval(25, epoch=2.5, test_error=math.nan)
    assert store.last_test_error(run_id) == 6.25
