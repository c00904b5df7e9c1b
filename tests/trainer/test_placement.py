"""GPU placement without a GPU: the pure choice, the child's command line and environment,
the worker's decisions with an injected GPU list, and the device the run records."""

from __future__ import annotations

import sys

import pytest

from trainer import worker
from trainer.config import RunConfig
from trainer.gpus import Gpu, device_label, parse_nvidia_smi, run_location, visible_indices
from trainer.placement import GpuRequest, child_process, gpu_request, place, ray_resources

FOUR = [
    Gpu(0, utilization=90, memory_used=30_000),
    Gpu(1, utilization=0, memory_used=500),
    Gpu(2, utilization=0, memory_used=100),
    Gpu(3, utilization=40, memory_used=0),
]


# ---------------------------------------------------------------- the pure choice
def test_place_picks_the_least_busy_free_gpus():
    assert place(FOUR, set(), GpuRequest(1, 1)) == (2,)  # idle, least memory in use
    assert place(FOUR, {2}, GpuRequest(1, 1)) == (1,)
    assert place(FOUR, {1, 2}, GpuRequest(1, 1)) == (3,)  # 40 % busy beats 90 %
    assert place(FOUR, set(), GpuRequest(2, 2)) == (1, 2)
    assert place(FOUR, {2}, GpuRequest(3, 3)) == (0, 1, 3)


def test_place_waits_while_too_few_are_free():
    assert place(FOUR, {0, 1, 2, 3}, GpuRequest(1, 1)) is None
    assert place(FOUR, {1, 2, 3}, GpuRequest(2, 2)) is None
    assert place(FOUR, {0, 1, 2, 3}, GpuRequest(0, 1)) == ()  # a CPU run needs none


def test_place_honours_a_pinned_gpu_by_the_workers_numbering():
    visible = [Gpu(5), Gpu(7)]  # a worker started with CUDA_VISIBLE_DEVICES=5,7
    assert place(visible, set(), GpuRequest(1, 1, pinned=1)) == (7,)
    assert place(visible, {7}, GpuRequest(1, 1, pinned=1)) is None


@pytest.mark.parametrize(
    ("device", "nproc", "gpus", "expected"),
    [
        ("auto", 1, FOUR, GpuRequest(1, 1)),
        ("auto", 3, FOUR, GpuRequest(3, 3)),
        ("auto", 2, [], GpuRequest(0, 2)),  # CPU ranks under torchrun
        ("cpu", 1, FOUR, GpuRequest(0, 1)),
        ("cuda", 2, FOUR, GpuRequest(2, 2)),
        ("cuda:3", 1, FOUR, GpuRequest(1, 1, pinned=3)),
    ],
)
def test_gpu_request_from_the_config(device, nproc, gpus, expected):
    assert gpu_request(RunConfig(device=device, nproc=nproc), gpus) == expected


@pytest.mark.parametrize(
    ("device", "nproc", "gpus", "message"),
    [
        ("cuda", 1, [], r"device 'cuda' asks for a GPU, but this worker has none"),
        ("cuda:4", 1, FOUR, r"device 'cuda:4' does not exist; this worker has 4 GPU\(s\)"),
        ("auto", 5, FOUR, r"nproc 5 asks for 5 GPUs, but this worker has 4"),
    ],
)
def test_gpu_request_that_can_never_be_met_names_why(device, nproc, gpus, message):
    with pytest.raises(ValueError, match=message):
        gpu_request(RunConfig(device=device, nproc=nproc), gpus)


def test_config_refuses_several_processes_on_one_named_gpu():
    with pytest.raises(ValueError, match=r"nproc 2 needs one GPU per process; device 'cuda:1'"):
        RunConfig(device="cuda:1", nproc=2)
    with pytest.raises(ValueError, match=r"nproc must be >= 1, got 0"):
        RunConfig(nproc=0)


# ---------------------------------------------------------------- the child process
def test_one_process_sees_only_its_gpu():
    argv, env = child_process("ab12cd34", GpuRequest(1, 1), (3,), {"PATH": "/bin"}, python="py")
    assert argv == ["py", "-m", "trainer", "_execute", "ab12cd34"]
    assert env == {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "3"}


def test_several_processes_start_through_torchrun_one_gpu_each():
    argv, env = child_process("ab12cd34", GpuRequest(2, 2), (1, 3), {}, port=29612, python="py")
    assert argv == [
        "py",
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        "--master_port=29612",
        "-m",
        "trainer",
        "_execute",
        "ab12cd34",
    ]
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"


def test_cpu_and_pinned_runs_keep_the_workers_view():
    _, env = child_process("r", GpuRequest(0, 1), (), {"CUDA_VISIBLE_DEVICES": "5,7"})
    assert env["CUDA_VISIBLE_DEVICES"] == "5,7"
    _, env = child_process("r", GpuRequest(1, 1, pinned=1), (7,), {"CUDA_VISIBLE_DEVICES": "5,7"})
    assert env["CUDA_VISIBLE_DEVICES"] == "5,7"  # its config's cuda:1 is GPU 7 there
    with pytest.raises(ValueError, match=r"needs a rendezvous port"):
        child_process("r", GpuRequest(0, 2), (), {})
    with pytest.raises(ValueError, match=r"asks for 2 GPU\(s\), got \[1\]"):
        child_process("r", GpuRequest(2, 2), (1,), {}, port=1)


# ---------------------------------------------------------------- devices
def test_nvidia_smi_output_and_visible_devices():
    gpus = parse_nvidia_smi("0, GPU-aa, 12, 1024, 81920\n1, GPU-bb, [N/A], 0, 81920\n")
    assert gpus == [Gpu(0, 12.0, 1024, 81920, "GPU-aa"), Gpu(1, 0.0, 0, 81920, "GPU-bb")]
    assert [g.index for g in visible_indices(gpus, {})] == [0, 1]
    assert [g.index for g in visible_indices(gpus, {"CUDA_VISIBLE_DEVICES": "1"})] == [1]
    assert [g.index for g in visible_indices(gpus, {"CUDA_VISIBLE_DEVICES": "GPU-bb,0"})] == [1, 0]
    assert visible_indices(gpus, {"CUDA_VISIBLE_DEVICES": ""}) == []
    with pytest.raises(ValueError, match="unexpected nvidia-smi line"):
        parse_nvidia_smi("No devices were found")


def test_device_label_names_the_physical_gpu():
    assert device_label("cuda:0", 1, {"CUDA_VISIBLE_DEVICES": "3"}) == "cuda:3"
    assert device_label("cuda:0", 2, {"CUDA_VISIBLE_DEVICES": "2,5"}) == "cuda:2,5"
    assert device_label("cuda:1", 1, {}) == "cuda:1"
    assert device_label("cpu", 1, {}) == "cpu"
    assert device_label("cpu", 2, {}) == "cpu x2"


def test_ray_resources():
    assert ray_resources(RunConfig(), cluster_gpus=4) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert ray_resources(RunConfig(), cluster_gpus=0, cpus_per_run=2) == {
        "num_cpus": 2.0,
        "num_gpus": 0.0,
    }
    assert ray_resources(RunConfig(device="cpu"), cluster_gpus=4)["num_gpus"] == 0.0
    with pytest.raises(ValueError, match=r"nproc 2: a Ray task trains in one process"):
        ray_resources(RunConfig(nproc=2), cluster_gpus=4)
    with pytest.raises(
        ValueError, match=r"device 'cuda:1': on Ray the task's GPU is chosen by Ray"
    ):
        ray_resources(RunConfig(device="cuda:1"), cluster_gpus=4)
    with pytest.raises(ValueError, match=r"the Ray cluster has none"):
        ray_resources(RunConfig(device="cuda"), cluster_gpus=0)


# ---------------------------------------------------------------- the worker, GPUs injected
class _FakeChild:
    """A child process that 'exits' after a few polls, recording how it was started."""

    started: list[_FakeChild] = []
    polls_to_exit = 3

    def __init__(self, argv, env, **kwargs):
        self.argv, self.env, self.polls, self.pid = argv, env, 0, 10_000 + len(self.started)
        self.run_id = argv[-1]
        self.running_alongside = [c.run_id for c in self.started if c.returncode is None]
        self.returncode = None
        _FakeChild.started.append(self)

    def poll(self):
        self.polls += 1
        if self.polls >= self.polls_to_exit:
            self.returncode = 0
        return self.returncode

    def send_signal(self, sig):
        self.returncode = 0

    def wait(self, timeout=None):
        self.returncode = 0
        return 0


def test_worker_gives_each_run_its_gpus_and_queues_what_does_not_fit(store, monkeypatch):
    monkeypatch.setattr(worker, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(worker.subprocess, "Popen", _FakeChild)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    _FakeChild.started = []
    gpus = [Gpu(0, utilization=70), Gpu(1, utilization=10)]
    ids = {
        name: worker.submit(RunConfig(name=name, nproc=n, device=d), store)
        for name, n, d in [("one", 1, "auto"), ("two", 2, "auto"), ("cpu", 1, "cpu")]
    }
    worker.run_worker(store, idle_exit=0.3, gpus=lambda: gpus)  # parallel: one per GPU
    by_run = {c.run_id: c for c in _FakeChild.started}
    name = {v: k for k, v in ids.items()}
    one, two, cpu = (by_run[ids[n]] for n in ("one", "two", "cpu"))
    assert one.env["CUDA_VISIBLE_DEVICES"] == "1"  # the less busy GPU
    assert one.argv == [sys.executable, "-m", "trainer", "_execute", ids["one"]]
    # 'two' needs both GPUs: it waited in the queue until 'one' had exited
    assert [name[r] for r in two.running_alongside] == []
    assert two.env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert two.argv[1:5] == ["-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2"]
    assert two.argv[-3:] == ["trainer", "_execute", ids["two"]]
    assert "CUDA_VISIBLE_DEVICES" not in cpu.env
    assert [name[c.run_id] for c in _FakeChild.started] == ["one", "two", "cpu"]
    assert all(c.env["ACTCOOL_HOME"] == str(store.home) for c in _FakeChild.started)
    # the device is recorded with the run as soon as it starts
    assert store.get_run(ids["one"])["device"] == "cuda:1"
    assert store.get_run(ids["two"])["device"] == "cuda:0,1"


def test_worker_fails_a_run_no_gpu_of_this_machine_can_take(store, monkeypatch):
    monkeypatch.setattr(worker, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(worker.subprocess, "Popen", _FakeChild)
    _FakeChild.started = []
    big = worker.submit(RunConfig(nproc=3), store)
    small = worker.submit(RunConfig(), store)
    worker.run_worker(store, idle_exit=0.3, gpus=lambda: [Gpu(0), Gpu(1)])
    run = store.get_run(big)
    assert run["status"] == "failed"
    assert run["error"] == "not started: nproc 3 asks for 3 GPUs, but this worker has 2"
    assert [c.run_id for c in _FakeChild.started] == [small]


def test_worker_without_gpus_runs_one_at_a_time_by_default(store, monkeypatch):
    monkeypatch.setattr(worker, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(worker.subprocess, "Popen", _FakeChild)
    _FakeChild.started = []
    ids = [worker.submit(RunConfig(), store) for _ in range(2)]
    worker.run_worker(store, idle_exit=0.3, gpus=lambda: [])
    assert [c.run_id for c in _FakeChild.started] == ids
    assert _FakeChild.started[1].running_alongside == []


def test_run_location_names_another_machine():
    assert run_location("cuda:3", "gpu-box", here="gpu-box") == "cuda:3"
    assert run_location("cuda:0", "node-7", here="gpu-box") == "cuda:0 on node-7"
    assert run_location(None, None, here="gpu-box") == ""


def test_trainer_list_shows_each_runs_device(tmp_path):
    from storage import Store
    from tests.trainer.conftest import cli

    store = Store(tmp_path)
    run_id = store.create_run({}, name="placed", status="queued")
    store.update_run(run_id, device="cuda:2,5")
    r = cli("list", home=tmp_path)
    assert r.returncode == 0, r.stderr
    header, line = r.stdout.splitlines()[:2]
    assert header.endswith("device") and line.startswith(run_id) and line.endswith("cuda:2,5")
