"""LR range scan (docs/algorithm.md §3): Δ = (θ_{t+1} − θ_t)/λ_t, no trace, overflow is
'changed'."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from actcool import TemperatureMonitor

from .conftest import BNDropNet, train_step

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
    "sgd-momentum-wd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-3),
    "sgd-nesterov": lambda p: torch.optim.SGD(
        p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3
    ),
    "adamw": lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.05),
}


class OneLayer(nn.Module):
    """A single linear layer + ReLU: patterns at θ_t + λΔ have a closed form."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 10)
        self.relu = nn.ReLU()
        self.head = nn.Linear(10, 2)

    def forward(self, x):
        return self.head(self.relu(self.fc(x)))


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_scan_evaluates_theta_plus_lambda_delta(opt_name):
    torch.manual_seed(0)
    model = OneLayer().double()
    opt = OPTIMIZERS[opt_name](model.parameters())
    lrs = np.logspace(-3, 3, 13)
    monitor = TemperatureMonitor(
        model,
        measure_every=1,
        scan_every=2,
        scan_lrs=lrs,
        optimizer=opt,
        granularity="sample",
        compare_with=("position",),
    )
    g = torch.Generator().manual_seed(1)
    for step in range(4):  # scans at steps 0 and 2, after optimizer state has built up
        x = torch.randn(64, 6, generator=g, dtype=torch.float64)
        y = torch.randint(0, 2, (64,), generator=g)
        w_t, b_t = model.fc.weight.detach().clone(), model.fc.bias.detach().clone()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        w_t1, b_t1 = model.fc.weight.detach().clone(), model.fc.bias.detach().clone()
        m = monitor.step(x)
        if step % 2:
            assert m.scan is None
            continue
        lr_t = opt.param_groups[0]["lr"]
        dw, db = (w_t1 - w_t) / lr_t, (b_t1 - b_t) / lr_t
        base = (x @ w_t.T + b_t) > 0
        flips = [((x @ (w_t + lr * dw).T + (b_t + lr * db)) > 0).ne(base) for lr in lrs]
        expected = [int(f.any(1).sum()) for f in flips]
        assert m.scan.sites == ("relu",)
        assert m.scan.changed[0].tolist() == expected
        # a (B, F) output has one position per sample; flipped bits are counted one by one
        assert m.scan.counts["positions"][0].tolist() == expected
        assert m.scan.counts["bits"][0].tolist() == [int(f.sum()) for f in flips]
        assert m.scan.totals["bits"].tolist() == [640]
        np.testing.assert_allclose(
            m.scan.temperatures_at("unit:64")[0],
            -64
            * np.log2(1 - np.minimum(np.array([int(f.sum()) for f in flips]) / 640, 1 - 1 / 1280)),
        )
        assert expected[0] < expected[-1]  # the grid spans a real transition
        np.testing.assert_allclose(
            m.scan.probabilities[0], np.minimum(np.array(expected) / 64, 1 - 1 / 128)
        )


def _optimizer_state_copy(opt):
    return copy.deepcopy(opt.state_dict())


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_scan_leaves_no_trace(opt_name, image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = OPTIMIZERS[opt_name](model.parameters())
    monitor = TemperatureMonitor(model, measure_every=5, scan_every=3, optimizer=opt)
    for step in range(7):
        x, y = image_batches[step % 6]
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = copy.deepcopy(model.state_dict())
        opt_state = _optimizer_state_copy(opt)
        rng = torch.get_rng_state()
        training = model.training
        m = monitor.step(x)
        assert (m is not None and m.scan is not None) == (step % 3 == 0)
        _assert_same(state, model.state_dict())
        _assert_same(opt_state, opt.state_dict())
        assert torch.equal(rng, torch.get_rng_state())
        assert model.training == training


def test_scan_results_are_consistent(image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    monitor = TemperatureMonitor(model, measure_every=1, scan_every=1, optimizer=opt)
    m = train_step(model, opt, *image_batches[0], monitor)
    scan = m.scan
    assert scan.changed.shape == (3, 25)
    assert scan.lrs[0] == pytest.approx(1e-4) and scan.lrs[-1] == pytest.approx(1e2)
    assert np.all(np.diff(scan.mean_temperatures) >= -0.5)  # roughly monotone in λ
    assert scan.mean_temperatures[0] < 1.0 and scan.mean_temperatures[-1] > 4.0
    np.testing.assert_allclose(scan.mean_temperatures, scan.temperatures.mean(axis=0))
    assert m.fits.mean is not None
    assert 1e-4 < m.fits.mean.critical_lr < 1e2
    assert m.fits["relu1"] is m.fits.per_site[0]
    with pytest.raises(KeyError, match="relu9"):
        m.fits["relu9"]


def test_overflowing_rates_count_as_changed(image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    lrs = [1e-3, 1e10, 1e30, 1e38, 1e300]
    monitor = TemperatureMonitor(
        model, scan_every=1, scan_lrs=lrs, optimizer=opt, granularity="sample"
    )
    x, y = image_batches[0]
    m = train_step(model, opt, x, y, monitor)
    # at 1e300 every weight is inf/NaN: every pattern changed, temperature at its maximum
    assert m.scan.changed[:, -1].tolist() == [16, 16, 16]
    assert m.scan.mean_temperatures[-1] == pytest.approx(np.log2(32))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_zero_learning_rate_scans_along_the_negative_gradient(image_batches):
    torch.manual_seed(0)
    model = OneLayer()
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    lrs = [0.01, 1.0, 100.0]
    monitor = TemperatureMonitor(
        model, scan_every=1, scan_lrs=lrs, optimizer=opt, granularity="sample"
    )
    x = torch.randn(32, 6)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    w, b = model.fc.weight.detach().clone(), model.fc.bias.detach().clone()
    gw, gb = model.fc.weight.grad.clone(), model.fc.bias.grad.clone()
    opt.step()
    m = monitor.step(x)
    base = (x @ w.T + b) > 0
    expected = [
        int(((x @ (w - lr * gw).T + (b - lr * gb)) > 0).ne(base).any(1).sum()) for lr in lrs
    ]
    assert m.scan.changed[0].tolist() == expected
    assert m.changed == (0,)
