"""No read of a tensor into Python on a step that does not measure (issue "A GPU trainer",
item 1): on a GPU each such read stalls the host until the device catches up. Counted on the
CPU by patching the reads (tests/host_syncs.py); a measurement step may read, once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actcool import ActCoolLR, TemperatureMonitor
from tests.host_syncs import host_reads

STEPS = 45  # 5 measurement steps at K = 10, the step-0 scan and the ramp warm-up among them


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 32),
        nn.GELU(),
        nn.Linear(32, 10),
    )


def _batches():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(256, 1, 8, 8, generator=g), torch.randint(0, 10, (256,), generator=g)
    for t in range(STEPS):
        i = (t * 32) % 256
        yield t, x[i : i + 32], y[i : i + 32]


def _train(net, opt, step_schedule, is_measure_step) -> list[str]:
    """Train ``STEPS`` steps; the reads made on steps that do not measure."""
    off_measurement: list[str] = []
    with host_reads() as reads:
        for t, xb, yb in _batches():
            before = len(reads.calls)
            loss = nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step_schedule(xb, loss)
            if not is_measure_step(t):
                off_measurement += [f"step {t}: {w}" for w in reads.where()[before:]]
    return off_measurement


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_actcoollr_reads_nothing_off_measurement_steps(optimizer):
    net = _net()
    opt = (
        torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.AdamW(net.parameters(), lr=1e-3)
    )
    sched = ActCoolLR(opt, net, total_steps=STEPS)
    measured: list[int] = []

    def step(xb, loss):
        sched.step(loss=loss)
        if sched.last_measurement is not None and sched.last_measurement.step not in measured:
            measured.append(sched.last_measurement.step)

    reads = _train(net, opt, step, sched.monitor.is_measure_step)
    sched.close()
    assert measured == [0, 10, 20, 30, 40]  # the loop measured: the test is not vacuous
    assert reads == []


def test_monitor_reads_nothing_off_measurement_steps():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    monitor = TemperatureMonitor(net, measure_every=10, scan_every=20, optimizer=opt)
    measured: list[int] = []

    def step(xb, loss):
        m = monitor.step()
        if m is not None:
            measured.append(m.step)

    reads = _train(net, opt, step, monitor.is_measure_step)
    monitor.close()
    assert measured == [0, 10, 20, 30, 40]
    assert reads == []


def test_the_counter_sees_a_read_in_our_code():
    """The patch counts what it should: a read inside actcool is seen, torch's own are not."""
    from actcool.monitor import first_group_lr  # noqa: F401  (actcool imported: frames are ours)
    from actcool.temperature import temperatures_from_counts

    with host_reads() as reads:
        torch.tensor([1.0, 2.0]).sum().item()  # this test's own read: not ours, not counted
        temperatures_from_counts(torch.tensor([1, 2]), 32)  # reads inside actcool
    assert reads.calls, "a read in actcool/ was not counted"
    assert all(at.startswith("actcool/") for _, at in reads.calls)
