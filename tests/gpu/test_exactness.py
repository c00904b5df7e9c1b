"""docs/algorithm.md §1 on CUDA: a step at learning rate 0 measures exactly 0 bits (float32
and bf16 autocast, with BatchNorm and with dropout), and a measurement or an LR range scan
leaves parameters, buffers, optimizer state and both RNGs exactly as they were.

Every test skips without CUDA; ``python -m benchmarks.gpu_check`` runs them on a GPU machine.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from actcool import TemperatureMonitor
from trainer.models import build_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (python -m benchmarks.gpu_check runs these on a GPU machine)",
    ),
]


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 3, 32, 32, generator=g)
    return x.cuda(), torch.randint(0, 10, (128,), generator=g).cuda()


def _network(name: str) -> nn.Module:
    """ResNet-20 (BatchNorm), or an MLP with dropout (a random mask every forward)."""
    torch.manual_seed(0)
    if name == "resnet20":
        return build_model("resnet20", 3, 10, 32).cuda()
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(3 * 32 * 32, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    ).cuda()


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x, y, bf16: bool = False) -> None:
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", ["resnet20", "dropout-mlp"])
def test_a_step_at_learning_rate_zero_measures_zero_bits(name, precision):
    model, (x, y) = _network(name), _batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    temps = []
    with TemperatureMonitor(model, measure_every=1) as monitor:
        for _ in range(3):
            _step(model, optimizer, x, y, bf16=precision == "bf16")
            temps.append(monitor.step(x).mean_temperature)
    assert temps == [0.0, 0.0, 0.0]


def _same(a: Any, b: Any) -> bool:
    """Equal to the bit, through nested dicts, lists and tuples of tensors."""
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("optimizer_name", ["sgd", "adamw"])
def test_measurements_and_scans_leave_no_trace(optimizer_name):
    model, (x, y) = _network("resnet20"), _batch()
    optimizer = (
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        if optimizer_name == "sgd"
        else torch.optim.AdamW(model.parameters(), lr=1e-3)
    )
    scanned = []
    with TemperatureMonitor(model, measure_every=1, scan_every=2, optimizer=optimizer) as monitor:
        for _ in range(4):
            _step(model, optimizer, x, y)
            state, opt_state = (
                copy.deepcopy(model.state_dict()),
                copy.deepcopy(optimizer.state_dict()),
            )
            cuda_rng, cpu_rng = torch.cuda.get_rng_state(), torch.get_rng_state()
            m = monitor.step(x)
            scanned.append(m.scan is not None)
            assert _same(state, model.state_dict())
            assert _same(opt_state, optimizer.state_dict())
            assert torch.equal(cuda_rng, torch.cuda.get_rng_state())
            assert torch.equal(cpu_rng, torch.get_rng_state())
            assert m.mean_temperature > 0
    assert scanned == [True, False, True, False]
