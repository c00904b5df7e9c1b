"""A store folder deleted or a store file replaced under a running process."""

from __future__ import annotations

import shutil

import pytest

from storage import Store, UnreadableStore


def test_a_deleted_store_folder_comes_back_empty(tmp_path):
    store = Store(tmp_path / "home")
    store.create_run({"model": "convnet4"}, name="before")
    created = store.created_at()
    shutil.rmtree(tmp_path / "home")
    assert store.created_at() > created  # a reader can tell the new store from the old
    # the same process (its migration cache) opens the new, empty files as new files
    assert store.list_runs().empty
    run_id = store.create_run({"model": "convnet4"}, name="after")
    with store.writer(run_id) as writer:
        writer.log_step(0, epoch=0, lr=0.1, loss=1.0)
    assert store.steps(run_id)["step"].tolist() == [0]


def test_reading_a_run_whose_file_is_gone_makes_no_file(tmp_path):
    """A run file deleted under a reader (a store folder being removed: the run files go first,
    the catalog still lists the run): a read returns the empty run and writes nothing, so the
    folder's removal is not undone under it."""
    store = Store(tmp_path / "home")
    run_id = store.create_run({"model": "convnet4"}, name="before")
    with store.writer(run_id) as writer:
        writer.log_step(0, epoch=0, lr=0.1, loss=1.0)
    store.run_path(run_id).unlink()
    for read in (store.steps, store.scans, store.fits, store.evaluations, store.guard_events):
        assert read(run_id).empty
    assert not store.run_path(run_id).exists()
    assert list((tmp_path / "home" / "runs").iterdir()) == []
    # writing makes the file again, migrated
    with store.writer(run_id) as writer:
        writer.log_step(1, epoch=0, lr=0.1, loss=0.5)
    assert store.steps(run_id)["step"].tolist() == [1]


def test_an_unreadable_catalog_is_named_and_can_be_set_aside(tmp_path):
    store = Store(tmp_path / "home")
    store.create_run({"model": "convnet4"}, name="before")
    store.catalog_path.unlink()
    store.catalog_path.write_bytes(b"not a database, e.g. a file of another version" * 100)
    with pytest.raises(
        UnreadableStore,
        match=r"the catalog file '.*catalog\.duckdb' cannot be "
        r"read \(.*\); move it aside",
    ):
        store.list_runs()
    moved = store.set_aside()
    assert moved.name.startswith("catalog.duckdb.unreadable-") and moved.exists()
    assert store.list_runs().empty
