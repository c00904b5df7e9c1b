"""The trainer and ActCoolLR on a CUDA GPU: a run placed on the device, DDP over NCCL in one
process, bf16, compile, and stop/resume continuing exactly.

Every test skips without CUDA; ``python -m benchmarks.gpu_check`` runs them on a GPU machine.
convnet4 on scikit-learn's digits (no data folder): 25 steps an epoch at batch 64.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist
from torch import nn

from actcool import ActCoolLR, PowerCurve
from actcool.curves import PAPER_T_START
from storage import Store
from tests.helpers import free_port
from trainer.build import build_run, epoch_batches
from trainer.checkpoint import load_checkpoint, run_checkpoint
from trainer.config import RunConfig
from trainer.run import RunResult, train_run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (python -m benchmarks.gpu_check runs these on a GPU machine)",
    ),
]


def _config(**overrides: object) -> RunConfig:
    """convnet4 on digits on the GPU: 12 steps of one epoch, measured every other step."""
    values: dict = dict(
        dataset="digits", epochs=1, max_steps=12, batch_size=64, measure_every=2, device="cuda"
    )
    return RunConfig(**{**values, **overrides})


def _train(store: Store, config: RunConfig) -> tuple[RunResult, list[float]]:
    """Train ``config`` to its end; the result and the mean temperatures it recorded, checked
    to be finished, measured, finite and not all zero."""
    result = train_run(config, store, progress=False)
    assert result.status == "finished", result.message
    temps = store.steps(result.run_id)["mean_temperature"].dropna().tolist()
    assert temps and all(math.isfinite(t) for t in temps) and max(temps) > 0, temps
    return result, temps


def _losses(store: Store, result: RunResult) -> list[float]:
    return store.steps(result.run_id)["loss"].tolist()


def test_a_run_trains_on_the_gpu_with_its_data_there(store):
    config = _config()
    parts = build_run(config, torch.device("cuda"))
    try:
        assert all(p.is_cuda for p in parts.model.parameters())
        assert parts.bundle.train.images.is_cuda  # in memory on the device, as uint8
        x, y = next(iter(epoch_batches(config, parts.bundle, 0)))
        assert x.is_cuda and y.is_cuda and x.dtype == torch.float32
    finally:
        parts.schedule.close()
    result, _ = _train(store, config)
    assert store.get_run(result.run_id)["device"].startswith("cuda:")


@pytest.mark.parametrize("dataset", ["digits", "synthetic:3x32x32"])
def test_batches_on_the_device_are_the_cpus_bit_for_bit(dataset):
    """The same epoch drawn on the GPU (uint8 there, cropped, flipped and normalised there)
    and on the CPU: identical batches (the synthetic set's uint8 images augmented, digits'
    float images not)."""
    from trainer.data import epoch_generator, load_dataset

    cpu = load_dataset(dataset, ".", val_fraction=0.1, seed=0)
    gpu = cpu.to("cuda")
    assert gpu.train.images.is_cuda and gpu.train.images.dtype == cpu.train.images.dtype
    augment = dataset.startswith("synthetic")  # uint8 images, cropped and flipped
    pairs = zip(
        cpu.batches("train", 32, shuffle=True, generator=epoch_generator(0, 0), augment=augment),
        gpu.batches("train", 32, shuffle=True, generator=epoch_generator(0, 0), augment=augment),
        strict=True,
    )
    for (xc, yc), (xg, yg) in pairs:
        assert xg.is_cuda and torch.equal(xc, xg.cpu()) and torch.equal(yc, yg.cpu())


def _mlp_rates(ddp: bool) -> tuple[list[float], list[float]]:
    """20 steps of ActCoolLR (K=2) on a small MLP, given its DDP wrapper or the plain model:
    the rates and the temperatures."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
    ).cuda()
    trained = nn.parallel.DistributedDataParallel(model, device_ids=[0]) if ddp else model
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 10, generator=g).cuda(), torch.randint(0, 4, (64,), generator=g).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    lrs, temps = [], []
    with ActCoolLR(
        optimizer, trained, PowerCurve(PAPER_T_START), total_steps=20, measure_every=2
    ) as scheduler:
        for _ in range(20):
            loss = nn.functional.cross_entropy(trained(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            lrs.append(optimizer.param_groups[0]["lr"])
            temps.append(scheduler.last_measurement.mean_temperature)
    return lrs, temps


@pytest.mark.skipif(not dist.is_nccl_available(), reason="this torch build has no NCCL")
def test_ddp_over_nccl_in_one_process_follows_the_plain_models_rates():
    torch.cuda.set_device(0)
    dist.init_process_group(
        "nccl", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        assert dist.get_backend() == "nccl"
        ddp_lrs, ddp_temps = _mlp_rates(ddp=True)
        plain_lrs, _ = _mlp_rates(ddp=False)
    finally:
        dist.destroy_process_group()
    assert len(set(ddp_lrs)) > 2 and max(ddp_temps) > 0  # the scheduler measured and moved
    # one rank: DDP's averaged gradients are the plain ones
    assert ddp_lrs == pytest.approx(plain_lrs, rel=1e-6)


def test_a_bf16_run_trains_measures_and_differs_from_float32(store):
    bf16, _ = _train(store, _config(precision="bf16"))
    fp32, _ = _train(store, _config())
    # the same weights and batch at step 0: close losses, but not float32's to the bit
    assert _losses(store, bf16)[0] == pytest.approx(_losses(store, fp32)[0], rel=0.05)
    assert _losses(store, bf16) != _losses(store, fp32)


def test_a_compiled_run_trains_measures_and_matches_eager(store):
    compiled, _ = _train(store, _config(compile=True))
    eager, _ = _train(store, _config())
    # step 0: the same weights and batch through the compiled and the eager forward
    assert _losses(store, compiled)[0] == pytest.approx(_losses(store, eager)[0], rel=1e-3)


@pytest.fixture
def deterministic_cudnn() -> Iterator[None]:
    """cuDNN's deterministic algorithms for the test (a resumed run is compared bit for bit)."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def _weights(store: Store, run_id: str) -> dict[str, torch.Tensor]:
    return {k: v.cpu() for k, v in load_checkpoint(run_checkpoint(store, run_id))["model"].items()}


def test_stop_and_resume_on_the_gpu_continue_exactly(store, deterministic_cudnn):
    config = _config(epochs=2, max_steps=None, measure_every=3)  # 50 steps
    full = train_run(config, store, progress=False)
    stopped = train_run(config, store, progress=False, should_stop=lambda steps: steps == 30)
    assert stopped.status == "stopped" and stopped.steps == 30  # mid-way through epoch 2
    resumed = train_run(config, store, run_id=stopped.run_id, resume=True, progress=False)
    assert full.status == resumed.status == "finished"
    a, b = store.steps(full.run_id), store.steps(stopped.run_id)
    assert b["lr"].tolist() == a["lr"].tolist()
    assert b["mean_temperature"].fillna(-1).tolist() == a["mean_temperature"].fillna(-1).tolist()
    assert resumed.test_error == full.test_error
    wa, wb = _weights(store, full.run_id), _weights(store, stopped.run_id)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
