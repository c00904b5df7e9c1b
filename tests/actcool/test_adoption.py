"""Issue 11: ActCoolLR and TemperatureMonitor drop into any loop: ``step()`` with no argument
replays the training forward's own arguments, and every hook is owned and removable."""

import logging

import pytest
import torch
from torch import nn

from actcool import ActCoolLR, PowerCurve, TemperatureMonitor
from actcool.curves import PAPER_T_START

from .conftest import BNDropNet


class KwargsNet(nn.Module):
    """A forward with a positional and a keyword argument, both needed to replay it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 16), nn.Linear(6, 16)
        self.relu, self.head = nn.ReLU(), nn.Linear(16, 3)

    def forward(self, x, *, z, scale=1.0):
        return self.head(self.relu(self.a(x) + scale * self.b(z)))


def _train(model, opt, batches, stepper, steps, explicit):
    """``steps`` training steps; ``stepper.step()`` or ``stepper.step(x)``; the rates and the
    measurements seen."""
    lrs, found = [], []
    for t in range(steps):
        x, y = batches[t % len(batches)]
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out = stepper.step(x) if explicit else stepper.step()
        m = out if isinstance(stepper, TemperatureMonitor) else stepper.last_measurement
        if m is not None and m.step == t:
            found.append((m.step, m.counts["bits"], m.mean_temperature))
        lrs.append(opt.param_groups[0]["lr"])
    return lrs, found


def test_step_without_inputs_equals_step_with_them(image_batches):
    def run(explicit):
        torch.manual_seed(4)
        model = BNDropNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        with ActCoolLR(
            opt, model, PowerCurve(PAPER_T_START), total_steps=14, measure_every=3, scan_every=7
        ) as sched:
            return _train(model, opt, image_batches, sched, 14, explicit)

    lrs, found = run(explicit=False)
    assert [s for s, _, _ in found] == [0, 3, 6, 7, 9, 12]
    # the cold first step may flip nothing; the measurements after it do
    assert all(t >= 0 for _, _, t in found) and all(t > 0 for _, _, t in found[2:])
    assert len(set(lrs)) > 5
    assert (lrs, found) == run(explicit=True)  # bit for bit: the same batch, replayed


def test_monitor_replays_positional_and_keyword_arguments():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    batches = [
        (
            torch.randn(10, 6, generator=g),
            torch.randn(10, 6, generator=g),
            torch.randint(0, 3, (10,), generator=g),
        )
        for _ in range(4)
    ]

    def run(explicit):
        torch.manual_seed(1)
        model = KwargsNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        out = []
        with TemperatureMonitor(model, measure_every=1, optimizer=opt) as monitor:
            for x, z, y in batches:
                loss = nn.functional.cross_entropy(model(x, z=z, scale=0.5), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                m = monitor.step({"x": x, "z": z, "scale": 0.5} if explicit else None)
                out.append((m.counts["bits"], m.temperatures))
        return out

    implicit = run(False)
    assert implicit == run(True)
    assert any(sum(bits) > 0 for bits, _ in implicit)


def test_the_batch_is_referenced_on_measurement_steps_only(image_batches):
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = TemperatureMonitor(model, measure_every=2, optimizer=opt)
    probe = monitor._probe
    for t in range(5):
        x, y = image_batches[t]
        nn.functional.cross_entropy(model(x), y).backward()
        if t % 2 == 0:
            args, kwargs = probe.last_call
            assert args[0] is x and kwargs == {}  # the tensor itself, not a copy
        else:
            assert probe.last_call is None  # nothing kept between measurements
        opt.step()
        monitor.step()
        assert probe.last_call is None  # dropped as soon as the step is measured
    monitor.close()


def test_gradient_accumulation_measures_the_last_micro_batch(image_batches):
    """Two micro-batches per optimizer step: ``step()`` measures the second one."""

    def run(explicit):
        torch.manual_seed(2)
        model = BNDropNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        out = []
        with TemperatureMonitor(model, measure_every=1, optimizer=opt) as monitor:
            for t in range(3):
                opt.zero_grad()
                for x, y in image_batches[2 * t : 2 * t + 2]:
                    (nn.functional.cross_entropy(model(x), y) / 2).backward()
                opt.step()
                m = monitor.step(image_batches[2 * t + 1][0] if explicit else None)
                assert m.batch_size == 16
                out.append(m.counts)
        return out

    assert run(False) == run(True)


def test_a_ddp_wrapper_is_unwrapped():
    # a stand-in with DDP's class, without a process group: only `.module` is read
    from torch.nn.parallel import DistributedDataParallel

    inner = BNDropNet()
    wrapper = DistributedDataParallel.__new__(DistributedDataParallel)
    nn.Module.__init__(wrapper)
    wrapper.module = inner
    monitor = TemperatureMonitor(wrapper)
    assert monitor.model is inner and monitor.sites == []
    assert inner._forward_pre_hooks and not wrapper._forward_pre_hooks
    monitor.close()


def _hooks(model, opt):
    model_hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return model_hooks, len(opt._optimizer_step_pre_hooks) + len(opt._optimizer_step_post_hooks)


def test_close_and_with_remove_every_hook(image_batches):
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert _hooks(model, opt) == (0, 0)
    with ActCoolLR(opt, model, PowerCurve(PAPER_T_START), total_steps=10, measure_every=2) as sched:
        assert _hooks(model, opt) == (4, 2)  # 3 sites + the model's pre-hook; pre + post step
        x, y = image_batches[0]
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    assert sched.closed and sched.monitor.closed
    assert _hooks(model, opt) == (0, 0)
    sched.close()  # idempotent
    lr = sched.get_last_lr()
    state = sched.state_dict()  # still usable for a last checkpoint
    assert state["last_epoch"] == 1 and lr == [opt.param_groups[0]["lr"]]
    with pytest.raises(
        RuntimeError,
        match=r"^ActCoolLR is closed: its hooks were removed by "
        r"close\(\); create a new scheduler$",
    ):
        sched.step()


def test_a_closed_monitor_raises_and_remove_is_an_alias():
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = TemperatureMonitor(model, optimizer=opt)
    assert _hooks(model, opt) == (4, 2)
    monitor.remove()
    assert monitor.closed and _hooks(model, opt) == (0, 0)
    with pytest.raises(
        RuntimeError,
        match=r"TemperatureMonitor is closed: .*close\(\); "
        r"create a new monitor",
    ):
        monitor.step()
    with TemperatureMonitor(model, optimizer=opt) as m2:
        assert _hooks(model, opt) == (4, 2)
    assert m2.closed and _hooks(model, opt) == (0, 0)


def test_an_epoch_argument_is_refused():
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with (
        ActCoolLR(opt, model, PowerCurve(PAPER_T_START), total_steps=10) as sched,
        pytest.raises(TypeError, match=r"not an epoch \(3\)"),
    ):
        sched.step(3)


def test_a_skipped_optimizer_step_moves_the_measurement(image_batches, caplog):
    """No ``optimizer.step()`` on step 2: nothing moved, so step 2 is measured at step 3."""
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = TemperatureMonitor(model, measure_every=2, optimizer=opt)
    measured = []
    with caplog.at_level(logging.INFO, logger="actcool.monitor"):
        for t in range(7):
            x, y = image_batches[t % 6]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            if t != 2:
                opt.step()
            m = monitor.step()
            if m is not None:
                measured.append(m.step)
    assert measured == [0, 3, 4, 6]
    assert "step 2: optimizer.step() did not run" in caplog.text
    monitor.close()


def test_the_monitor_measures_beside_a_torch_scheduler(image_batches, recwarn):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=21)
    measured = []
    with TemperatureMonitor(model, measure_every=10, optimizer=opt) as monitor:
        for t in range(21):
            x, y = image_batches[t % 6]
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            m = monitor.step()
            scheduler.step()
            if m is not None:
                measured.append((m.step, m.mean_temperature))
    assert [s for s, _ in measured] == [0, 10, 20]
    assert all(temp > 0 for _, temp in measured[:2])  # (OneCycleLR ends near lr 0)
    assert not [w for w in recwarn if "step()" in str(w.message)]
