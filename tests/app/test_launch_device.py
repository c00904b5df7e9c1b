"""The Launch page's queue shows where each running run trains (its GPU, and the machine
when it is not this one)."""

from __future__ import annotations

from tests.app.page_helpers import assert_clean, open_page


def test_queue_shows_the_device_of_each_running_run(store, fake_worker):
    here = store.create_run({"model": "convnet4"}, name="on a gpu")  # running, on this host
    store.update_run(here, device="cuda:3")
    away = store.create_run({"model": "convnet4"}, name="on a node")
    store.update_run(away, device="cuda:0", host="node-7")
    waiting = store.create_run({"model": "convnet4"}, name="waiting", status="queued")
    store.update_run(waiting, device="cuda:1")  # from an earlier attempt: not where it is now
    at = open_page("launch")
    assert_clean(at)
    captions = [c.value for c in at.caption]
    assert any(c.endswith("UTC · cuda:3") for c in captions), captions
    assert any(c.endswith("UTC · cuda:0 on node-7") for c in captions), captions
    assert not any("cuda:1" in c for c in captions), captions
