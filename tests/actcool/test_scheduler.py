"""ActCoolLR against docs/algorithm.md §4: the exact rate sequence, clamping, divergence and
resume."""

import io
import json
import math

import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler

from actcool import (
    ActCoolLR,
    DivergenceGuard,
    DrawnCurve,
    Granularity,
    Measurement,
    PowerCurve,
)
from actcool.calibration import START_FACTOR
from actcool.curves import PAPER_T_START

from .conftest import BNDropNet, train_step
from .test_controller import PHI_INV, _clip, expected_sequence


@pytest.fixture
def net():
    """A seeded BNDropNet and its SGD optimizer (rate 0.05, momentum 0.9)."""
    torch.manual_seed(0)
    model = BNDropNet()
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


class ScriptedMonitor:
    """Stands in for the real monitor: returns scripted mean temperatures."""

    def __init__(self, monitor, temps, k, b):
        self._m, self.temps, self.k, self.b, self.step_count = monitor, iter(temps), k, b, 0
        self.model = monitor.model
        self.measure_every = k

    def step(self, inputs=None):
        t = self.step_count
        self.step_count += 1
        if t % self.k:
            return None
        T = next(self.temps)
        counts = {"samples": (0,), "bits": (0,)}
        totals = {"samples": (self.b,), "bits": (self.b,)}
        return Measurement(t, ("s",), Granularity("sample"), counts, totals, self.b, (T,), T)

    def state_dict(self):
        return {}


def test_scheduler_applies_the_sequence_to_every_param_group():
    model = BNDropNet()
    opt = torch.optim.SGD(
        [
            {"params": list(model.conv.parameters()) + list(model.bn.parameters()), "lr": 0.1},
            {
                "params": list(model.fc1.parameters())
                + list(model.fc2.parameters())
                + list(model.head.parameters()),
                "lr": 0.02,
            },
        ],
        momentum=0.9,
    )
    curve = DrawnCurve([(0, 3.0), (0.5, 2.0), (1, 0.5)])
    k, n, b = 5, 30, 16
    sched = ActCoolLR(
        opt,
        model,
        curve,
        total_steps=n,
        sigma=0.9,
        measure_every=k,
        response="gaussian",
        smoothing=0.0,
        lr_max=10.0,
    )
    sched.controller.max_rise = None
    assert isinstance(sched, LRScheduler)
    temps = [1.0, 3.5, 2.0, 2.2, 0.7, 1.5]
    sched.monitor = ScriptedMonitor(sched.monitor, temps, k, b)
    got = [opt.param_groups[0]["lr"]]
    ratio = []
    for _ in range(n):
        opt.step()
        sched.step(torch.zeros(1))
        got.append(opt.param_groups[0]["lr"])
        ratio.append(opt.param_groups[1]["lr"] / opt.param_groups[0]["lr"])
    # the first step is cold (START_FACTOR × the optimizer's rate), the law takes over from there
    assert got[0] == pytest.approx(0.1 * START_FACTOR)
    expected = expected_sequence(0.1 * START_FACTOR, temps, 0.9, curve, n, k, b, n)
    assert got == pytest.approx(expected, rel=1e-9)
    assert sched.get_last_lr()[0] == got[-1]
    assert ratio == pytest.approx([0.2] * n)
    assert sched.mu is not None and sched.sigma == 0.9
    assert sched.target_temperature == pytest.approx(0.5)


def test_sigma_is_fitted_from_a_scan_at_the_first_step(net, image_batches):
    model, opt = net
    sched = ActCoolLR(
        opt,
        model,
        PowerCurve(PAPER_T_START),
        total_steps=50,
        response="gaussian",
        smoothing=0.0,
        granularity="sample",
        start_factor=1.0,  # the first step at the optimizer's rate: not saturated at 0
    )
    assert sched.sigma is None
    x, y = image_batches[0]
    train_step(model, opt, x, y, sched)
    m = sched.last_measurement
    assert m.step == 0 and m.scan is not None
    assert sched.sigma == m.fits.mean.sigma
    assert sched.mu == pytest.approx(
        math.log(0.05) - sched.sigma * PHI_INV(_clip(1 - 2**-m.mean_temperature, m.batch_size))
    )


def test_k_is_fitted_from_a_scan_at_the_first_step(net, image_batches):
    model, opt = net
    sched = ActCoolLR(opt, model, PowerCurve(2.0), total_steps=50, measure_every=5, lr_max=1.0)
    assert sched.k is None and sched.controller.response == "weibull"
    x, y = image_batches[0]
    train_step(model, opt, x, y, sched)
    m = sched.last_measurement
    assert m.fits.weibull_mean is not None
    assert sched.k == m.fits.weibull_mean.k
    # first measurement, on the cold first step (λ_t = START_FACTOR × 0.05): nothing to smooth
    # yet, so λ* = λ_t·(C/T̄)^(1/k) exactly, at most 2·λ_t (max_rise)
    lr_t = 0.05 * START_FACTOR
    want = lr_t * (PowerCurve(2.0)(5 / 50) / m.mean_temperature) ** (1 / sched.k)
    assert sched.controller.segment_to == pytest.approx(min(want, 2 * lr_t), rel=1e-12)


def test_the_first_step_is_cold_and_warms_up_by_the_rise_limit(net, image_batches):
    model, opt = net
    sched = ActCoolLR(
        opt, model, PowerCurve(2.0), total_steps=50, measure_every=2, k=1.0, find_lr=False
    )
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05 * START_FACTOR)
    lrs = []
    for t in range(12):
        x, y = image_batches[t % len(image_batches)]
        lrs.append(opt.param_groups[0]["lr"])
        train_step(model, opt, x, y, sched)
    # every measured rate is at most twice the one before, and the rate climbs from the floor
    measured = lrs[::2]
    assert all(b <= 2 * a * (1 + 1e-12) for a, b in zip(measured, measured[1:], strict=False))
    assert max(lrs) > 2 * lrs[0]
    with pytest.raises(ValueError, match=r"start_factor must lie in \(0, 1\]"):
        ActCoolLR(opt, model, PowerCurve(2.0), total_steps=50, k=1.0, start_factor=0.0)
    paper = ActCoolLR(opt, model, PowerCurve(2.0), total_steps=50, k=1.0, start_factor=1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # as the paper: the first step hot
    paper.close()
    sched.close()


def test_non_finite_loss_marks_divergence_and_holds_the_rate(net, image_batches):
    model, opt = net
    sched = ActCoolLR(
        opt, model, PowerCurve(PAPER_T_START), total_steps=50, sigma=1.0, measure_every=2
    )
    x, y = image_batches[0]
    train_step(model, opt, x, y)
    sched.step(x, loss=float("nan"))
    assert sched.diverged
    held = opt.param_groups[0]["lr"]
    assert math.isfinite(held) and held > 0
    for _ in range(4):
        train_step(model, opt, x, y)
        sched.step(x)
        assert opt.param_groups[0]["lr"] == held
    assert sched.diverged


def test_state_dict_is_plain_data(net):
    model, opt = net
    sched = ActCoolLR(opt, model, PowerCurve(PAPER_T_START, 2.0), total_steps=50)
    state = sched.state_dict()
    # the one exception at the start: the guard's copy of the state the run started with,
    # held through the warm-up (docs/algorithm.md §4.7)
    held = state.pop("guard_rollback")
    assert set(held["start"]) == {"model", "optimizer"} and held["snapshot"] is None
    json.dumps(state)  # numbers, strings, lists and dicts only
    assert state["target"] == {"kind": "power", "t_start": PAPER_T_START, "gamma": 2.0}
    sched.close()
    off = ActCoolLR(opt, model, total_steps=50, guard=DivergenceGuard(rollback=False))
    json.dumps(off.state_dict())
    off.close()


def _run(steps, batches, save_at=None, checkpoint=None, total=20):
    """Train up to step `steps` of a `total`-step ActCoolLR run; save at `save_at` or start from `checkpoint`."""
    torch.manual_seed(11)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = ActCoolLR(
        opt, model, PowerCurve(PAPER_T_START), total_steps=total, measure_every=3, scan_every=7
    )
    start = 0
    if checkpoint is not None:
        state = torch.load(io.BytesIO(checkpoint), weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
    lrs, saved = [], None
    for t in range(start, steps):
        x, y = batches[t % len(batches)]
        train_step(model, opt, x, y, sched)
        lrs.append(opt.param_groups[0]["lr"])
        if t + 1 == save_at:
            buf = io.BytesIO()
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "step": t + 1,
                },
                buf,
            )
            saved = buf.getvalue()
    return lrs, saved


@pytest.mark.parametrize("save_at", [1, 4, 6, 7, 8])
def test_resume_from_any_step_continues_the_identical_sequence(save_at, image_batches):
    steps = 20
    full, _ = _run(steps, image_batches)
    head, ckpt = _run(save_at, image_batches, save_at=save_at)
    assert head == full[:save_at]
    tail, _ = _run(steps, image_batches, checkpoint=ckpt)
    assert tail == full[save_at:]  # exactly, not approximately
    assert len(set(full)) > 5


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
    ],
    ids=["sgd-nesterov", "adamw"],
)
def test_works_with_common_optimizers(make_opt, image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = make_opt(model.parameters())
    sched = ActCoolLR(opt, model, PowerCurve(PAPER_T_START), total_steps=30, measure_every=5)
    for t in range(30):
        x, y = image_batches[t % 6]
        train_step(model, opt, x, y, sched)
        assert math.isfinite(opt.param_groups[0]["lr"]) and opt.param_groups[0]["lr"] > 0
    assert sched.k is not None and sched.controller.log_gain is not None


def test_bad_arguments(net):
    model, opt = net
    with pytest.raises(ValueError, match="total_steps"):
        ActCoolLR(opt, model, PowerCurve(), total_steps=0)
    with pytest.raises(TypeError, match="TargetCurve"):
        ActCoolLR(opt, model, lambda f: 1.0, total_steps=10)
    with pytest.raises(ValueError, match="unknown curve kind"):
        ActCoolLR(opt, model, {"kind": "zigzag"}, total_steps=10)
    with pytest.raises(ValueError, match="sigma"):
        ActCoolLR(opt, model, PowerCurve(), total_steps=10, sigma=-1.0)


def test_load_state_dict_restores_state_and_keeps_the_constructors_settings(image_batches):
    torch.manual_seed(3)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = ActCoolLR(opt, model, PowerCurve(1.0), total_steps=20, measure_every=2, k=1.0)
    for x, y in image_batches[:5]:
        train_step(model, opt, x, y, sched)
    state = sched.state_dict()
    sched.close()
    other_opt = torch.optim.SGD(BNDropNet().parameters(), lr=0.05, momentum=0.9)
    other = ActCoolLR(
        other_opt,
        BNDropNet(),
        PowerCurve(1.0),
        total_steps=40,
        measure_every=4,
        lr_min=1e-5,
        smoothing=0.2,
        max_rise=3.0,
        response="gaussian",
        scan_every=8,
        refit_shape=True,
        guard=DivergenceGuard(cut=0.25),
    )
    other.load_state_dict(state)
    c = other.controller
    # the settings are the constructor's ...
    assert (c.total_steps, c.measure_every, c.lr_min, c.smoothing, c.max_rise, c.response) == (
        40,
        4,
        1e-5,
        0.2,
        3.0,
        "gaussian",
    )
    assert other.monitor.measure_every == 4 and other.monitor.scan_every == 8
    assert other.refit_shape and other.guard.cut == 0.25
    # ... the state is the saved one
    saved = state["controller"]
    assert other.last_epoch == state["last_epoch"] == 5 and other.monitor.step_count == 5
    assert (c.k, c.log_gain, c.segment_start, c.segment_from, c.segment_to, c.lr_max) == (
        saved["k"],
        saved["log_gain"],
        saved["segment_start"],
        saved["segment_from"],
        saved["segment_to"],
        saved["lr_max"],
    )
    assert other.guard.loss_lowest == state["guard"]["loss_lowest"]
    other.close()


def test_max_rise_is_a_setting(image_batches):
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with ActCoolLR(opt, model, PowerCurve(1.0), total_steps=10, k=1.0, max_rise=None) as s:
        assert s.controller.max_rise is None
    with ActCoolLR(opt, model, PowerCurve(1.0), total_steps=10, k=1.0) as s:
        assert s.controller.max_rise == 2.0
    with pytest.raises(ValueError, match="max_rise must be a finite number >= 1"):
        ActCoolLR(opt, model, PowerCurve(1.0), total_steps=10, k=1.0, max_rise=0.5)
