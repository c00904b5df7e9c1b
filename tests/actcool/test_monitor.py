"""TemperatureMonitor against docs/algorithm.md §1: exact zeros, no trace, and a slow reference."""

import pytest
import torch
from torch import nn

from actcool import Measurement, TemperatureMonitor
from actcool.reference import (
    reference_changed_counts,
    reference_counts,
    reference_granularity_temperatures,
    reference_temperatures,
)

from .conftest import BNDropNet, GELUNet, MixedNet, ReuseNet, SiLUNet, TransformerNet, train_step


@pytest.mark.parametrize(
    "model_cls, batches", [(BNDropNet, "image_batches"), (ReuseNet, "vector_batches")]
)
def test_learning_rate_zero_measures_exactly_zero(model_cls, batches, request):
    torch.manual_seed(0)
    model = model_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, weight_decay=1e-3)
    monitor = TemperatureMonitor(model, measure_every=1)
    for x, y in request.getfixturevalue(batches):
        m = train_step(model, opt, x, y, monitor)
        assert isinstance(m, Measurement)
        assert m.changed == (0,) * len(m.sites)
        assert m.temperatures == (0.0,) * len(m.sites)
        assert m.mean_temperature == 0.0


def _train(model, batches, monitor=None, steps=12):
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    for i in range(steps):
        x, y = batches[i % len(batches)]
        train_step(model, opt, x, y, monitor)
    return model


def test_measurement_leaves_no_trace(image_batches):
    torch.manual_seed(3)
    plain = _train(BNDropNet(), image_batches)
    rng_plain = torch.get_rng_state()
    torch.manual_seed(3)
    measured_model = BNDropNet()
    monitor = TemperatureMonitor(measured_model, measure_every=1)
    measured = _train(measured_model, image_batches, monitor)
    assert monitor.step_count == 12
    assert monitor.last_measurement.mean_temperature > 0  # it did measure something
    a, b = plain.state_dict(), measured.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit-identical, including BN buffers
    assert a["bn.num_batches_tracked"].item() == 12
    assert torch.equal(torch.get_rng_state(), rng_plain)


def _reference_step(model_cls, model, x, rng_before):
    """Patterns at θ_{t+1} from a hook-free copy of the model, same RNG as the training pass."""
    ref = model_cls()
    ref.load_state_dict(model.state_dict())
    ref.train(model.training)
    after: list = []
    loop_rng = torch.get_rng_state()
    torch.set_rng_state(rng_before)
    with torch.no_grad():
        ref(x, collect=after)
    torch.set_rng_state(loop_rng)
    return after


GRANULARITIES = ["sample", "position", "unit:64", "unit:3"]


@pytest.mark.parametrize(
    "model_cls, batches",
    [
        (BNDropNet, "image_batches"),
        (ReuseNet, "vector_batches"),
        (MixedNet, "image_batches"),
        (GELUNet, "image_batches"),
        (SiLUNet, "image_batches"),
        (TransformerNet, "image_batches"),
    ],
)
@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_every_granularity_matches_the_slow_reference(model_cls, batches, granularity, request):
    """Counts and temperatures of each granularity equal the loop-based definitions, on models
    with conv and linear sites, BatchNorm, dropout and a reused ReLU, over 12 steps."""
    torch.manual_seed(5)
    model = model_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    others = [g for g in ("sample", "position") if g != granularity]
    monitor = TemperatureMonitor(
        model, measure_every=1, granularity=granularity, compare_with=others
    )
    kind, _, length = granularity.partition(":")
    data = request.getfixturevalue(batches)
    seen_positive = False
    for step in range(12):
        x, y = data[step % len(data)]
        rng_before = torch.get_rng_state()
        before: list = []
        loss = nn.functional.cross_entropy(model(x, collect=before), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        after = _reference_step(model_cls, model, x, rng_before)
        m = monitor.step(x)
        for ref_kind, counter in (
            ("sample", "samples"),
            ("position", "positions"),
            ("unit", "bits"),
        ):
            changed, totals = reference_counts(before, after, ref_kind)
            assert list(m.counts[counter]) == changed, (step, counter)
            assert list(m.totals[counter]) == totals, (step, counter)
        changed, totals = reference_counts(before, after, kind)
        expected = reference_granularity_temperatures(changed, totals, int(length or 1))
        assert list(m.temperatures) == pytest.approx(expected), step
        assert m.mean_temperature == pytest.approx(sum(expected) / len(expected))
        seen_positive |= 0 < sum(changed) < sum(totals)
    assert seen_positive
    if model_cls is MixedNet:
        assert m.sites == ("act", "relu2", "act#1")
        assert m.totals["positions"] == (16 * 64, 16 * 16, 16)  # B·H·W, and B for (B, F)


@pytest.mark.parametrize(
    "model_cls, batches",
    [
        (BNDropNet, "image_batches"),
        (ReuseNet, "vector_batches"),
        (GELUNet, "image_batches"),
        (SiLUNet, "image_batches"),
        (TransformerNet, "image_batches"),
    ],
)
def test_hooks_match_the_slow_reference(model_cls, batches, request):
    torch.manual_seed(5)
    model = model_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    monitor = TemperatureMonitor(model, measure_every=1, granularity="sample")
    data = request.getfixturevalue(batches)
    g = torch.Generator().manual_seed(9)
    seen_positive = False
    for step in range(20):
        x, y = data[step % len(data)]
        rng_before = torch.get_rng_state()
        before: list = []
        loss = nn.functional.cross_entropy(model(x, collect=before), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        # no_grad / inference_mode passes in between must be ignored (docs/algorithm.md §1)
        model.eval()
        with torch.no_grad():
            model(torch.randn(x.shape, generator=g))
        with torch.inference_mode():
            model(torch.randn(x.shape, generator=g))
        model.train()
        after = _reference_step(model_cls, model, x, rng_before)
        m = monitor.step(x)
        counts = reference_changed_counts(before, after)
        assert list(m.changed) == counts, f"step {step}"
        assert list(m.temperatures) == pytest.approx(reference_temperatures(counts, x.shape[0]))
        assert list(m.active) == [int((out > 0).sum()) for out in before]  # units on at θ_t
        seen_positive |= m.mean_temperature > 0
    assert seen_positive


def test_reused_relu_is_two_sites_in_call_order(vector_batches):
    model = ReuseNet()
    monitor = TemperatureMonitor(model, measure_every=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    m = train_step(model, opt, *vector_batches[0], monitor)
    assert m.sites == ("act", "act#1")
    model2 = BNDropNet()
    m2 = train_step(
        model2,
        torch.optim.SGD(model2.parameters(), lr=0.1),
        torch.randn(4, 1, 8, 8),
        torch.tensor([0, 1, 2, 0]),
        TemperatureMonitor(model2),
    )
    assert m2.sites == ("relu1", "relu2", "relu3")
    assert m2.batch_size == 4


def test_measures_every_kth_step_and_keeps_nothing_between(image_batches):
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = TemperatureMonitor(model, measure_every=3)
    measured = []
    for step in range(10):
        x, y = image_batches[step % 6]
        m = train_step(model, opt, x, y, monitor)
        if m is not None:
            measured.append(m.step)
        assert not monitor._probe._patterns  # nothing kept after step()
    assert measured == [0, 3, 6, 9]


def test_tuple_and_dict_inputs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.relu = nn.Linear(4, 8), nn.Linear(4, 8), nn.ReLU()

        def forward(self, x, z):
            return self.relu(self.a(x) + self.b(z)).sum(1)

    model = TwoInputs()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    monitor = TemperatureMonitor(model, measure_every=1)
    x, z = torch.randn(5, 4), torch.randn(5, 4)
    for inputs in [(x, z), {"x": x, "z": z}]:
        out = model(*inputs) if isinstance(inputs, tuple) else model(**inputs)
        opt.zero_grad()
        out.sum().backward()
        opt.step()
        assert monitor.step(inputs).changed == (0,)


def test_explicit_sites_for_functional_relu():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    torch.manual_seed(0)
    model = Functional()
    with pytest.raises(ValueError, match=r"has no activation module.*sites="):
        TemperatureMonitor(model)
    monitor = TemperatureMonitor(model, sites=[model.fc1], measure_every=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.randn(3, 4)
    model(x).sum().backward()
    opt.step()
    m = monitor.step(x)  # rate 0: fc1's output signs (3 samples x 8 units) cannot change
    assert m.sites == ("fc1",) and m.totals["bits"] == (3 * 8,) and m.counts["bits"] == (0,)
    opt.param_groups[0]["lr"] = 1.0
    with torch.no_grad():
        before = model.fc1(x) > 0
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    with torch.no_grad():
        flipped = int(((model.fc1(x) > 0) != before).sum())
    assert flipped > 0  # the check below compares something
    assert monitor.step().counts["bits"] == (flipped,)  # the sign flips of fc1's output
    with pytest.raises(ValueError, match="no module at path 'fc9'"):
        TemperatureMonitor(model, sites=["fc9"])
    with pytest.raises(ValueError, match="not a submodule"):
        TemperatureMonitor(model, sites=[nn.Linear(2, 2)])


def test_context_manager_removes_every_hook():
    model = BNDropNet()
    with TemperatureMonitor(model) as monitor:
        assert monitor is not None
        assert any(m._forward_hooks for m in model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_usage_errors_say_what_to_do():
    model = BNDropNet()
    monitor = TemperatureMonitor(model, measure_every=1)
    with pytest.raises(RuntimeError, match="right after optimizer.step"):
        monitor.step(torch.randn(2, 1, 8, 8))
    with pytest.raises(RuntimeError, match="right after optimizer.step"):
        monitor.step()
    # the ReLU sites ran, but not inside a call of the module given to the monitor
    holder = nn.ModuleDict({"net": BNDropNet()})
    with TemperatureMonitor(holder, measure_every=1) as held:
        holder["net"](torch.randn(2, 1, 8, 8)).sum().backward()
        with pytest.raises(RuntimeError, match=r"pass the module the training step calls"):
            held.step()
    with pytest.raises(ValueError, match="measure_every"):
        TemperatureMonitor(model, measure_every=0)
    with pytest.raises(ValueError, match="optimizer"):
        TemperatureMonitor(model, scan_every=5)
    with pytest.raises(TypeError, match="nn.Module"):
        TemperatureMonitor("model")


def test_state_dict_round_trip(image_batches):
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = TemperatureMonitor(model, measure_every=4, scan_every=8, optimizer=opt)
    for step in range(5):
        train_step(model, opt, *image_batches[step % 6], monitor)
    monitor.request_scan(6)
    state = monitor.state_dict()
    assert state == {
        "step": 5,
        "measure_every": 4,
        "scan_every": 8,
        "scan_lrs": list(monitor.scan_lrs),
        "requested_scans": [6],
        "pending_measurement": False,
        "granularity": "unit:64",
    }
    other = TemperatureMonitor(model, optimizer=opt)
    other.load_state_dict(state)
    assert other.state_dict() == state
    assert [other.is_measure_step(t) for t in range(5, 10)] == [False, True, False, True, False]
    assert other.is_scan_step(6) and other.is_scan_step(8) and not other.is_scan_step(4 + 1)
    monitor.remove()
    other.remove()
