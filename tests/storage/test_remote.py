"""A trainer elsewhere writes through the store's service: the same rows, heartbeats, stop
flag and retry-on-failure as a local RunWriter, with a plain call as the transport."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from storage import Store
from storage.remote import RemoteStore, RemoteWriter, StoreService
from tests.helpers import wait_for


class _Transport:
    """Calls the service in this process; ``fail`` makes the next N writes raise."""

    def __init__(self, service: StoreService):
        self.service, self.fail, self.calls = service, 0, []
        self.lock = threading.Lock()

    def __call__(self, method, *args, **kwargs):
        with self.lock:
            self.calls.append(method)
            if method == "write" and self.fail:
                self.fail -= 1
                raise ConnectionError("the link is down")
        return getattr(self.service, method)(*args, **kwargs)


@pytest.fixture
def remote(tmp_path):
    service = StoreService(tmp_path / "home")
    transport = _Transport(service)
    return service.store, RemoteStore(transport, home=tmp_path / "home"), transport


def test_remote_writer_rows_arrive_as_a_local_writer_would_write_them(remote):
    store, client, transport = remote
    run_id = store.create_run({"model": "m"}, name="remote")
    with client.writer(run_id) as w:
        assert isinstance(w, RemoteWriter)
        for step in range(250):
            w.log_step(step, step / 100, 0.1 / (step + 1), 2.0 - step / 250)
        w.log_sites(10, ["a", "b"], [3, 4], 8, [1.5, 2.0], total=[8, 8])
        w.log_eval(249, 2.5, train_loss=0.5, test_error=12.0)
    steps = store.steps(run_id)
    assert steps["step"].tolist() == list(range(250))
    assert steps["lr"].tolist() == pytest.approx([0.1 / (s + 1) for s in range(250)])
    sites = store.site_counts(run_id)
    assert sites["site_name"].tolist() == ["a", "b"] and sites["total"].tolist() == [8, 8]
    assert store.evaluations(run_id)["test_error"].tolist() == [12.0]
    assert "write" in transport.calls and "ping" in transport.calls


def test_failed_sends_keep_the_rows_for_the_next_flush(remote):
    store, client, transport = remote
    run_id = store.create_run({}, name="flaky")
    w = client.writer(run_id, flush_interval=2.0)
    w.log_step(0, 0.0, 0.1, 1.0)
    transport.fail = 1
    with pytest.raises(ConnectionError, match="the link is down"):
        w.flush()
    w.log_step(1, 0.0, 0.1, 0.9)
    assert w.flush() == 2  # both rows, in order
    w.close()
    assert store.steps(run_id)["step"].tolist() == [0, 1]


def test_stop_requests_and_status_travel_both_ways(remote):
    store, client, _ = remote
    run_id = store.create_run({"lr": 0.1}, name="stop me")
    client.update_run(run_id, status="running", device="cuda:3", host="node-7")
    assert client.get_run(run_id)["device"] == "cuda:3"
    with client.writer(run_id, heartbeat_interval=0.05) as w:
        assert not w.stop_requested
        store.request_stop(run_id)
        wait_for(lambda: w.stop_requested, 30, "the stop request to reach the writer")
    assert client.ping(run_id) is True
    w2 = client.writer(run_id)
    w2.log_step(0, 0, 0.1, 1.0)
    w2.log_step(1, 0, 0.1, 1.0)
    w2.close()
    assert client.truncate_run(run_id, after_step=0) == 1
    assert store.steps(run_id)["step"].tolist() == [0]
    with pytest.raises(KeyError, match="unknown run id 'ffffffff'"):
        client.get_run("ffffffff")


def test_service_refuses_what_is_not_a_run_table(remote):
    store, _, _ = remote
    service = StoreService(store.home)
    run_id = store.create_run({}, name="x")
    with pytest.raises(ValueError, match=r"unknown run table\(s\) \['bogus'\]"):
        service.write(run_id, {"bogus": pa.table({"step": [0]})})
    with pytest.raises(TypeError, match="rows of steps must be a pyarrow Table, got dict"):
        service.write(run_id, {"steps": {"step": [0]}})
    with pytest.raises(KeyError, match="unknown run id"):
        service.write("ffffffff", {})
    assert Store(store.home).steps(run_id).empty
