"""The Ray backend end to end on a local Ray instance (2 CPUs): queued digits runs train as
Ray tasks at once, their rows reach the store through the writer actor and the dashboard's
data layer reads them live, a stop request is honoured, and a killed task reads as lost and
resumes with the identical learning-rate sequence."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs ray: pip install -e '.[ray]'")

from storage import Store  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from trainer.checkpoint import checkpoint_exists  # noqa: E402
from trainer.config import RunConfig  # noqa: E402
from trainer.ray_backend import STOP_GRACE, run_ray_worker  # noqa: E402
from trainer.worker import submit  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")  # a busy machine starts slowly
    env = {"PYTHONPATH": str(REPO)}  # the tasks import this checkout
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env}
    )
    yield
    ray.shutdown()


@contextmanager
def ray_worker(store: Store, **kwargs) -> Iterator[None]:
    """``run_ray_worker`` in a thread of this process (which holds the Ray connection)."""
    stop, errors = threading.Event(), []

    def serve() -> None:
        try:
            run_ray_worker(store, stop=stop, **kwargs)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(STOP_GRACE + 60)
    assert not errors, errors
    assert not thread.is_alive()


def test_two_runs_train_at_once_live_in_the_dashboard_and_a_stop_is_honoured(
    cluster, tmp_path, monkeypatch
):
    from app import data  # the dashboard's data layer, reading $ACTCOOL_HOME

    monkeypatch.setenv("ACTCOOL_HOME", str(tmp_path))
    store = Store(tmp_path)
    light = {"schedule": "onecycle", "batch_size": 64, "measure_every": 5}
    long = submit(RunConfig(name="long", epochs=40, **light), store)
    short = submit(RunConfig(name="short", epochs=3, **light), store)

    def rows(run_id: str) -> int:
        return len(data.steps(run_id, max_points=None))

    def status(run_id: str) -> str:
        return data.get_run(run_id)["status"]

    with ray_worker(store, parallel=2):
        first = wait_for(
            lambda: status(long) == "running" and rows(long), 300, "rows of the long run"
        )
        wait_for(
            lambda: status(long) == "running" and rows(long) > first,
            300,
            "the long run's rows to grow while it runs",
        )
        wait_for(lambda: status(short) == "finished", 300, "the short run to finish")
        assert status(long) == "running"
        assert store.request_stop(long)
        wait_for(lambda: store.get_run(long)["status"] == "stopped", 300, "the long run to stop")

    runs = {run_id: store.get_run(run_id) for run_id in (long, short)}
    a, b = store.steps(long), store.steps(short)
    # both trained at the same time: their rows' wall times overlap
    assert (
        a["wall_time"].min() < b["wall_time"].max() and b["wall_time"].min() < a["wall_time"].max()
    )
    assert b["step"].tolist() == list(range(runs[short]["summary"]["total_steps"]))
    stopped_at = runs[long]["summary"]["steps"]
    assert 0 < stopped_at < runs[long]["summary"]["total_steps"]
    assert a["step"].tolist() == list(range(stopped_at))  # everything up to the stop arrived
    for run in runs.values():
        assert run["device"] == "cpu" and run["host"] == socket.gethostname()
        assert run["worker"].endswith(":ray") and run["pid"] != os.getpid()


def test_a_killed_task_reads_as_lost_and_resumes_with_the_identical_rates(cluster, tmp_path):
    store = Store(tmp_path)
    # ActCoolLR: the rates follow the measurements, so only an exact resume repeats them
    config = RunConfig(epochs=5, batch_size=64, measure_every=3)
    reference = submit(config.replace(name="reference"), store)
    victim = submit(config.replace(name="victim"), store)
    with ray_worker(store, parallel=2):
        per_epoch = wait_for(
            lambda: store.get_run(victim)["summary"].get("steps_per_epoch"),
            300,
            "the victim to start",
        )
        wait_for(lambda: len(store.steps(victim)) > per_epoch + 1, 300, "the victim's second epoch")
        run = store.get_run(victim)
        assert run["status"] == "running" and checkpoint_exists(run["summary"]["checkpoint"])
        os.kill(run["pid"], signal.SIGKILL)  # the task's process dies mid-run
        killed_at = time.time()
        wait_for(
            lambda: store.get_run(victim)["status"] == "lost", 300, "the victim to read as lost"
        )
        wait_for(
            lambda: "Ray task died" in (store.get_run(victim)["error"] or ""),
            300,
            "the worker to record why",
        )
        store.requeue(victim)  # what `python -m trainer resume` and the dashboard do
        wait_for(lambda: store.get_run(victim)["status"] == "finished", 600, "the resumed victim")
        wait_for(lambda: store.get_run(reference)["status"] == "finished", 600, "the reference")
    full, resumed = store.steps(reference), store.steps(victim)
    total = store.get_run(victim)["summary"]["total_steps"]
    assert resumed["step"].tolist() == list(range(total))  # no gap, no duplicate
    assert resumed["lr"].tolist() == full["lr"].tolist()  # exactly
    assert len(set(full["lr"].tolist())) > 10  # the controller moved the rate
    # continued from the checkpoint, not started over: the rows before it are the first attempt's
    resumed_from = resumed[resumed["wall_time"] > killed_at]["step"].min()
    assert resumed_from % per_epoch == 0 and per_epoch <= resumed_from < total
    assert (resumed[resumed["step"] < resumed_from]["wall_time"] < killed_at).all()


def test_the_cli_worker_joins_a_running_cluster(cluster, tmp_path):
    from tests.trainer.conftest import cli

    store = Store(tmp_path)
    run_id = submit(RunConfig(epochs=1, max_steps=5, batch_size=64, schedule="constant"), store)
    address = ray.get_runtime_context().gcs_address
    r = cli(
        "worker",
        "--ray",
        address,
        "--checkpoints",
        f"file://{tmp_path}/ckpt",
        "--idle-exit",
        "1",
        home=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"worker: run {run_id} finished" in r.stdout
    run = store.get_run(run_id)
    assert run["status"] == "finished" and len(store.steps(run_id)) == 5
    assert run["summary"]["checkpoint"] == f"file://{tmp_path}/ckpt/{run_id}/last.pt"
    assert checkpoint_exists(run["summary"]["checkpoint"])


def test_a_run_whose_checkpoint_cannot_be_read_fails_rather_than_starting_over(cluster, tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run(RunConfig().to_dict(), name="elsewhere", status="queued")
    with store.writer(run_id) as w:
        for step in range(5):
            w.log_step(step, 0.0, 0.05, 2.0)
    gone = f"file://{tmp_path}/not-mounted-here/{run_id}/last.pt"
    store.update_run(run_id, summary={"checkpoint": gone})
    with ray_worker(store):
        wait_for(lambda: store.get_run(run_id)["status"] == "failed", 300, "the run to fail")
    run = store.get_run(run_id)
    assert run["error"].startswith(
        f"FileNotFoundError: run {run_id} has trained before but its checkpoint {gone} cannot be read"
    )
    assert store.steps(run_id)["step"].tolist() == [0, 1, 2, 3, 4]  # nothing truncated
