"""Readers open a store without creating one (``Store(..., create=False)``), and a run
recorded through the writer alone reads its latest test error."""

from __future__ import annotations

import math

import duckdb
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


def _folder(home) -> dict[str, bytes]:
    """Every file under ``home`` with its bytes."""
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def _seeded(tmp_path):
    store = Store(tmp_path / "home")
    run_id = store.create_run({"model": "convnet4"}, name="x")
    with store.writer(run_id) as w:
        w.log_step(0, epoch=0, lr=0.1, loss=2.0)
    store.save_curve("linear", {"kind": "linear"})
    return store, run_id


def test_reads_write_nothing(tmp_path):
    """Reads open the files read-only: not a byte of the folder changes, and no write-ahead
    log appears (a dashboard polling a store must not write into it)."""
    store, run_id = _seeded(tmp_path)
    before = _folder(store.home)
    for reader in (store, Store(store.home, create=False)):
        reader.list_runs(), reader.get_run(run_id), reader.created_at(), reader.list_curves()
        reader.load_curve("linear"), reader.stop_requested(run_id), reader.steps(run_id)
    assert _folder(store.home) == before


def _deleted_before_open(monkeypatch, victim):
    """Delete ``victim`` just before the store's next open of it: ``rm -r`` running between
    a reader's check that the file is there and its open."""
    import storage.catalog as catalog

    real = catalog.connect

    def connect(path, *args, **kwargs):
        if str(path) == str(victim) and victim.exists():
            victim.unlink()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(catalog, "connect", connect)


def test_a_run_file_deleted_between_the_check_and_the_open_is_not_made_again(tmp_path, monkeypatch):
    store, run_id = _seeded(tmp_path)
    reader = Store(store.home, create=False)
    _deleted_before_open(monkeypatch, store.run_path(run_id))
    assert reader.steps(run_id).empty  # read as an empty run
    assert list((store.home / "runs").iterdir()) == []


@pytest.mark.parametrize("create", [False, True])
def test_a_catalog_deleted_between_the_check_and_the_open(tmp_path, monkeypatch, create):
    """A reader (create=False) says the store is gone and makes nothing; a store that may
    create (a trainer's) starts an empty catalog, as before."""
    store, _ = _seeded(tmp_path)
    _deleted_before_open(monkeypatch, store.catalog_path)
    if create:
        assert Store(store.home).list_runs().empty
        assert store.catalog_path.exists()
    else:
        with pytest.raises(StoreNotFound):
            Store(store.home, create=False).list_runs()
        assert not store.catalog_path.exists()


def test_a_file_deleted_while_a_reader_holds_it_is_not_made_again(tmp_path):
    store, run_id = _seeded(tmp_path)
    with store._run_file_to_read(run_id) as con:
        store.run_path(run_id).unlink()
        assert con.execute("SELECT count(*) FROM steps").fetchall() == [(1,)]
    assert list((store.home / "runs").iterdir()) == []


def test_a_file_of_an_older_schema_is_migrated_by_its_first_read(tmp_path):
    """A read-only open cannot migrate: a file behind this code's schema is opened for
    writing once, then read."""
    from storage.schema import CATALOG_MIGRATIONS, forget, migrate, schema_version

    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    con = duckdb.connect(str(home / "catalog.duckdb"))
    migrate(con, CATALOG_MIGRATIONS[:1], "catalog")  # a store of the first release
    con.close()
    forget(home / "catalog.duckdb")
    assert Store(home, create=False).list_runs().empty
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    assert schema_version(con) == len(CATALOG_MIGRATIONS)
    con.close()


def test_a_block_nested_in_a_read_only_one_cannot_write_the_file(tmp_path):
    from storage.connection import connect

    path = tmp_path / "a.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        with connect(path, read_only=True) as inner:  # reads through the writing block
            inner.execute("INSERT INTO t VALUES (1)")
    with connect(path, read_only=True) as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
        with pytest.raises(RuntimeError, match="open it for writing outside that block"):
            with connect(path):
                pass
    with pytest.raises(duckdb.IOException):  # nothing is created for a reader
        with connect(tmp_path / "missing.duckdb", read_only=True):
            pass
    assert not (tmp_path / "missing.duckdb").exists()
