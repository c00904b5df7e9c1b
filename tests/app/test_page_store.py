"""Every page under streamlit.testing's AppTest: settings kept across pages, and a store
deleted, being deleted or unreadable under the app.
"""

from __future__ import annotations

import shutil

import pytest
import streamlit as st

from storage import Store
from tests.app.page_helpers import (
    assert_clean,
    open_page,
)
from tests.app.seed import seed_run


def test_settings_survive_a_visit_to_another_page(store, fake_worker, fake_scan):
    at = open_page("launch")
    at.number_input(key="launch_epochs").set_value(7)
    at.selectbox(key="launch_schedule").select("cosine").run()
    at.switch_page("views/design.py").run()
    assert_clean(at)
    at.switch_page("views/launch.py").run()
    assert_clean(at)
    assert at.number_input(key="launch_epochs").value == 7
    assert at.selectbox(key="launch_schedule").value == "cosine"


# ---------------------------------------------------------------------- the store itself
@pytest.mark.parametrize("page", ["design", "launch", "runs", "compare"])
def test_a_store_deleted_under_the_app_is_said_and_replaced_by_an_empty_one(
    store, fake_worker, fake_scan, page
):
    run_id = seed_run(store, "onecycle")
    at = open_page(page)
    assert_clean(at)
    shutil.rmtree(store.home)
    at.run()
    assert_clean(at)
    assert any(
        f"The store at `{store.home}` was deleted or replaced" in w.value for w in at.warning
    )
    assert Store(store.home).list_runs().empty and store.catalog_path.exists()
    if page == "runs":
        assert not [s for s in at.selectbox if s.key == "runs_pick"]  # nothing stale shown
        assert run_id not in str([m.value for m in at.markdown])
    at.run()
    assert not [w for w in at.warning if "was deleted" in w.value]  # said once


@pytest.mark.parametrize("page", ["design", "launch", "runs", "compare"])
def test_a_store_being_deleted_is_not_written_into(store, fake_worker, fake_scan, page):
    """Half-way through ``rm -r`` (catalog gone, a run file left): the page says so and
    creates nothing in the folder; once the folder is gone, an empty store takes its place."""
    run_id = seed_run(store, "onecycle")
    at = open_page(page)
    assert_clean(at)
    store.catalog_path.unlink()
    left = sorted(p.relative_to(store.home) for p in store.home.rglob("*"))
    at.run()
    assert_clean(at)
    assert any("is being deleted" in w.value for w in at.warning)
    assert sorted(p.relative_to(store.home) for p in store.home.rglob("*")) == left
    assert not store.catalog_path.exists()
    shutil.rmtree(store.home)
    at.run()
    assert_clean(at)
    assert any("was deleted or replaced" in w.value for w in at.warning)
    assert Store(store.home).list_runs().empty
    assert run_id not in str([m.value for m in at.markdown])


def test_reads_of_a_store_deleted_mid_page_create_nothing(store, monkeypatch):
    """A query that finds the store gone (deleted after the page's check) raises StoreGone
    instead of opening, and so creating, a file in the folder being removed."""
    from app import data

    run_id = seed_run(store, "onecycle")
    st.cache_data.clear()
    (store.home / "runs" / f"{run_id}.duckdb").unlink()
    store.catalog_path.unlink()
    for query in (data.runs, data.curves, data.store):
        with pytest.raises(data.StoreGone):
            query()
    for query in (data.steps, data.scans, data.fits, data.evaluations, data.guard_events):
        with pytest.raises(data.StoreGone):
            query(run_id)
    with pytest.raises(data.StoreGone):
        data.aligned((run_id,), "loss", "step")
    assert not store.catalog_path.exists()
    assert list((store.home / "runs").iterdir()) == []


def test_an_unreadable_store_file_is_explained_and_can_be_moved_aside(store, fake_worker):
    seed_run(store, "onecycle")
    store.catalog_path.unlink()
    store.catalog_path.write_bytes(b"written by another version" * 200)
    at = open_page("runs")
    assert_clean(at)
    (message,) = at.main.error  # on the page, not in the sidebar
    assert "The store cannot be read: the catalog file" in message.value
    assert "not a valid DuckDB database file" in message.value
    at.button(key="do_set_aside").click().run()
    assert_clean(at)
    assert any("catalog.duckdb.unreadable-" in s.value for s in at.success)
    at.run()
    assert_clean(at)
    assert any("No runs yet" in i.value for i in at.info)
