"""The divergence guard (docs/algorithm.md §4.7): closed-form trips, the cut and the lowered
ceiling in the controller, the state a trip goes back to, and the guard inside ActCoolLR (loss
spike, dying units, resume)."""

import pytest
import torch
from torch import nn

from actcool import ActCoolLR, ConstantCurve, DivergenceGuard, GuardEvent, TemperatureController
from actcool.rewind import FROM_START, GuardRollback
from actcool.scale import PEAK_FACTOR, peak_rate, rate_scale
from tests.helpers import load_checkpoint, save_checkpoint


def test_a_loss_rise_trips_against_the_lowest_pair_of_windows():
    guard = DivergenceGuard()  # ratio 1.25, min_rise 5% of the first window
    # pairs: (2+1)/2 = 1.5, (1+.8)/2 = .9, (.8+.8)/2 = .8: the baseline is 0.8
    for step, loss in enumerate([2.0, 1.0, 0.8, 0.8, 0.99]):
        assert guard.check(step * 10, 0.1, 1.0, loss) is None  # 0.99 < 1.25 × 0.8
    event = guard.check(50, 0.4, 1.0, 1.01)
    assert event == GuardEvent(
        step=50,
        reason="loss_rise",
        detail="loss 1.01 is 1.26x its lowest (0.8)",
        lr_before=0.4,
        lr_after=0.2,
    )
    # the baseline restarts from the present: the same level does not trip again
    assert guard.loss_lowest == 1.01
    assert guard.check(60, 0.2, 1.0, 1.2) is None
    assert guard.check(70, 0.2, 1.0, 1.3) is not None  # 1.3 > 1.25 × 1.01


def test_a_single_easy_window_does_not_set_the_baseline():
    guard = DivergenceGuard()
    # against the single window 0.5, 0.9 would be a 1.8x rise; against the pair mean 0.75, 1.2x
    for loss in [1.0, 0.5, 0.9]:
        assert guard.check(0, 0.1, 1.0, loss) is None
    assert guard.loss_lowest == pytest.approx(0.7)  # pairs 0.75, 0.7


def test_a_rise_too_small_against_the_first_loss_does_not_trip():
    guard = DivergenceGuard()
    for loss in [2.0, 0.02, 0.02]:
        guard.check(0, 0.1, 1.0, loss)
    # 0.05 is 2.5× the baseline 0.02, but the rise 0.03 is under 5% of the first loss (0.1)
    assert guard.check(30, 0.1, 1.0, 0.05) is None
    assert guard.check(40, 0.1, 1.0, 0.2) is not None


def test_collapsing_temperature_per_unit_rate_trips_after_its_history():
    guard = DivergenceGuard(history=3)
    ratios = [(0.1, 2.0), (0.2, 3.8), (0.2, 4.2)]  # T̄/λ = 20, 19, 21
    for step, (lr, temp) in enumerate(ratios):
        assert guard.check(step, lr, temp) is None
    assert guard.check(3, 0.2, 0.5) is None  # 2.5 ≥ 0.1 × 20
    event = guard.check(4, 0.2, 0.1)  # 0.5 < 0.1 × median(19, 21, 2.5) = 1.9
    assert event is not None and event.reason == "temperature_collapse"
    assert (event.lr_before, event.lr_after) == (0.2, 0.1)
    assert guard.ratios == []  # the history restarts


def test_a_restart_forgets_the_history_and_takes_the_present_loss_as_the_baseline():
    guard = DivergenceGuard(history=3)
    for step, (lr, temp, loss) in enumerate([(0.1, 2.0, 2.0), (0.1, 2.0, 1.0), (0.1, 2.0, 1.0)]):
        assert guard.check(step, lr, temp, loss) is None
    assert guard.check(3, 0.1, 2.0, 1.2) is None  # 1.2 < 1.25 × 1.0
    assert guard.loss_lowest == 1.0 and len(guard.ratios) == 3
    guard.restart()
    assert guard.ratios == [] and guard.loss_lowest == 1.2
    # a tenfold fall of T̄/λ right after the restart is not compared with the old history
    assert guard.check(4, 1.0, 2.0, 1.2) is None


def test_a_collapse_the_flip_counts_cannot_show_does_not_trip():
    # 3 flips per 0.1 of rate: at 0.1 the history predicts 3 flips, and none is no evidence
    guard = DivergenceGuard(history=3)  # min_flips 10
    for step in range(3):
        assert guard.check(step, 0.1, 1.0, flips=3) is None
    assert guard.check(3, 0.1, 0.0, flips=0) is None
    # 30 per 0.1: none at all is a collapse
    guard = DivergenceGuard(history=3)
    for step in range(3):
        assert guard.check(step, 0.1, 1.0, flips=30) is None
    event = guard.check(3, 0.1, 0.0, flips=0)
    assert event is not None and event.reason == "temperature_collapse"
    # at a tenth of the rate the same history predicts 3: no trip
    guard = DivergenceGuard(history=3)
    for step in range(3):
        assert guard.check(step, 0.1, 1.0, flips=30) is None
    assert guard.check(3, 0.01, 0.0, flips=0) is None
    # without counts the temperature alone decides, as before
    guard = DivergenceGuard(history=3)
    for step in range(3):
        assert guard.check(step, 0.1, 1.0) is None
    assert guard.check(3, 0.1, 0.0) is not None


def test_a_rate_that_falls_with_the_temperature_is_not_a_collapse():
    guard = DivergenceGuard(history=2)
    for step, lr in enumerate([0.1, 0.05, 0.01, 0.001]):
        assert guard.check(step, lr, 20 * lr) is None  # T̄ ∝ λ: a cool-down, not dead units


def test_missing_and_non_finite_values_are_ignored():
    guard = DivergenceGuard(history=1)
    assert guard.check(0, 0.1, 1.0, None) is None
    assert guard.check(1, 0.1, float("nan"), float("inf")) is None
    assert guard.loss_first is None and guard.ratios == [10.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss_ratio": 1.0},
        {"min_rise": -0.1},
        {"collapse": 0.0},
        {"collapse": 1.0},
        {"history": 0},
        {"cut": 1.0},
        {"min_flips": -1.0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DivergenceGuard(**kwargs)
    with pytest.raises(TypeError, match="rollback must be True or False"):
        DivergenceGuard(rollback="yes")


def test_guard_state_round_trips():
    guard = DivergenceGuard(history=2)
    for step, loss in enumerate([2.0, 1.0, 0.9]):
        guard.check(step, 0.1, 1.0 + step, loss)
    other = DivergenceGuard(history=2)
    other.load_state_dict(guard.state_dict())
    assert other == guard
    with pytest.raises(KeyError, match="nope"):
        other.load_state_dict({"nope": 1})


# -- the controller's side: the cut and the ceiling ------------------------------------------


def _controller(**kw):
    return TemperatureController(
        lr_initial=0.4, total_steps=100, measure_every=4, k=1.0, smoothing=0.0, **kw
    )


def test_lower_ceiling_cuts_at_once_and_caps_every_later_rate():
    c = _controller(max_rise=None)
    curve = ConstantCurve(2.0)
    c.observe(0, 0.4, 1.0, 1000, curve)  # λ* = 0.4 · 2/1 = 0.8, clamped to lr_max 10
    assert c.lr_at(4) == 0.8
    c.observe(4, 0.8, 1.0, 1000, curve)  # λ* = 1.6
    c.lower_ceiling(4, 0.3)
    assert c.lr_max == 0.3
    assert [c.lr_at(t) for t in (5, 6, 8, 50)] == [0.3, 0.3, 0.3, 0.3]
    c.observe(8, 0.3, 4.0, 1000, curve)  # λ* = 0.3 · 2/4 = 0.15: falls are not capped
    assert [c.lr_at(t) for t in (9, 10, 12)] == pytest.approx([0.2625, 0.225, 0.15])
    c.lower_ceiling(9, 100.0)  # never raised again
    assert c.lr_max == 0.3


def test_lower_ceiling_between_measurements_restarts_the_segment_where_the_rate_is():
    c = _controller(max_rise=None)
    c.observe(0, 0.4, 1.0, 1000, ConstantCurve(1.0))  # λ* = 0.4
    c.observe(4, 0.4, 2.0, 1000, ConstantCurve(1.0))  # λ* = 0.2: 0.35, 0.3, 0.25, 0.2
    c.lower_ceiling(5, 0.1)
    assert [c.lr_at(t) for t in (5, 6, 9)] == [0.1, 0.1, 0.1]


def test_lower_ceiling_caps_the_opening_and_never_goes_under_lr_min():
    c = _controller(opening_steps=10, opening_floor=0.1)
    assert c.lr_at(10) == 0.4
    c.lower_ceiling(3, 0.2)
    assert c.lr_peak == 0.2
    assert c.lr_at(2) == pytest.approx(0.2 * (0.1 + 0.9 * 2 / 10))
    assert c.lr_at(10) == 0.2
    c.lower_ceiling(4, 0.0)
    assert c.lr_max == c.lr_min


# -- inside ActCoolLR ------------------------------------------------------------------------


class Gate(nn.Module):
    """x → ReLU(W x + b): ``kill()`` sets b so low that no unit is ever positive again (the
    layer goes dark), ``kill(on=True)`` so high that every unit stays positive (nothing flips,
    but the layer is lit)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 32)
        self.relu = nn.ReLU()
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.relu(self.fc(x)))

    def kill(self, on=False):
        with torch.no_grad():
            if on:  # every unit at 1 for every input: the loss stays finite
                self.fc.weight.zero_()
            self.fc.bias.fill_(1.0 if on else -1e6)


def _batches(n=6, size=32):
    g = torch.Generator().manual_seed(3)
    return [
        (torch.randn(size, 8, generator=g), torch.randint(0, 3, (size,), generator=g))
        for _ in range(n)
    ]


def _scheduler(model, lr=0.1, **kw):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = ActCoolLR(opt, model, ConstantCurve(1.0), total_steps=200, measure_every=2, k=1.0, **kw)
    return opt, sched


def _train(model, opt, sched, x, y, loss=None):
    out = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    out.backward()
    opt.step()
    sched.step(loss=out.detach() if loss is None else loss)


def test_a_synthetic_loss_spike_cuts_the_rate_for_the_rest_of_the_run():
    torch.manual_seed(0)
    model = Gate()
    opt, sched = _scheduler(model)
    batches = _batches()
    # the measurement at step t (t even) reads the mean of the losses of steps t-1 and t: 1.0
    # up to step 8, then (1.0 + 5.0)/2 = 3.0 at step 10, over 1.25 × the baseline 1.0
    for t in range(10):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y, torch.tensor(1.0))
    assert sched.guard_events == ()
    x, y = batches[0]
    _train(model, opt, sched, x, y, torch.tensor(5.0))
    (event,) = sched.guard_events
    assert event.step == 10 and event.reason == "loss_rise"
    assert event.lr_after == pytest.approx(0.5 * event.lr_before)
    assert sched.lr_ceiling == event.lr_after
    assert opt.param_groups[0]["lr"] <= event.lr_after
    for t in range(11, 40):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y, torch.tensor(0.8))
        assert opt.param_groups[0]["lr"] <= event.lr_after + 1e-15
    sched.close()


@pytest.mark.parametrize("rollback", [True, False])
@pytest.mark.parametrize("dark", [True, False])
def test_a_network_whose_units_die_is_cut_by_the_temperature_or_its_dark_layer(dark, rollback):
    torch.manual_seed(0)
    model = Gate()
    opt, sched = _scheduler(model, guard=DivergenceGuard(history=3, rollback=rollback))
    batches = _batches(size=256)  # 8192 bits a measurement: 15-60 flips before the kill
    for t in range(12):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y)
    assert sched.guard_events == ()
    assert sum(sched.last_measurement.counts["bits"]) >= 15
    bias = model.fc.bias.detach().clone()  # after step 11; the state kept is step 10's
    model.kill(on=not dark)  # every unit negative (or positive) from now on: nothing flips
    for t in range(12, 16):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y)
    (event,) = sched.guard_events
    assert event.step == 12
    assert event.reason == ("site_dark" if dark else "temperature_collapse")
    assert ("every unit of 'relu' is off" in event.detail) == dark
    # the target is given: no warm-up, no start kept; the measurement before is put back
    assert sched.lr_ceiling == pytest.approx(0.5 * event.lr_before)
    if rollback:  # the state of step 10 came back: the units live and flip again
        assert event.detail.endswith("; back to the weights after step 10")
        assert model.fc.bias.abs().max() < 10 and (model.fc.bias - bias).abs().max() < 1
        assert sched.last_measurement.mean_temperature > 0
    else:
        assert "back to" not in event.detail
        assert sched.last_measurement.mean_temperature == 0.0
    sched.close()


def _state(model, opt):
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "momentum": [opt.state[p]["momentum_buffer"].clone() for p in model.parameters()],
    }


def _assert_state(model, opt, state):
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["model"][k]), k
    for p, buf in zip(model.parameters(), state["momentum"], strict=True):
        assert torch.equal(opt.state[p]["momentum_buffer"], buf)


def _gate_with_one_batch():
    """A seeded Gate, its SGD optimizer, and a function that trains one step on one batch."""
    torch.manual_seed(0)
    model = Gate()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _batches(1)[0]

    def train():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return model, opt, train


def test_the_rollback_keeps_the_state_only_at_the_highest_rate_and_puts_back_a_recent_one():
    model, opt, train = _gate_with_one_batch()
    rollback = GuardRollback()
    train()
    rollback.passed(2, 0.1, model, opt)
    assert rollback.step == 2 and rollback.top_lr == 0.1
    train()
    rollback.passed(4, 0.05, model, opt)  # below the highest rate: nothing kept
    assert rollback.step is None and rollback.snapshot is None
    train()
    rollback.passed(6, 0.1, model, opt)  # level with it: kept
    kept = _state(model, opt)
    train()
    assert not torch.equal(model.fc.weight, kept["model"]["fc.weight"])
    assert rollback.tripped(8, 2, model, opt) == "the weights after step 6"
    _assert_state(model, opt, kept)
    assert rollback.top_lr == 0.0 and rollback.snapshot is None
    assert rollback.tripped(10, 2, model, opt) is None  # nothing kept since
    rollback.passed(10, 0.01, model, opt)  # the highest since the trip
    assert rollback.step == 10
    train()
    now = _state(model, opt)
    assert rollback.tripped(14, 2, model, opt) is None  # kept two measurements ago: stale
    _assert_state(model, opt, now)


def test_a_site_that_goes_dark_trips_once_and_one_dark_from_the_start_never():
    guard = DivergenceGuard()
    assert guard.check(0, 0.1, 1.0, active={"a": 0, "b": 5}) is None  # 'a' dark from the start
    assert guard.check(2, 0.1, 1.0, active={"a": 0, "b": 3}) is None
    event = guard.check(4, 0.1, 1.0, active={"a": 0, "b": 0})
    assert event is not None and event.reason == "site_dark" and event.step == 4
    assert "'b'" in event.detail and "'a'" not in event.detail
    assert event.lr_after == pytest.approx(0.05) and guard.calls_for_rollback(event)
    assert guard.check(6, 0.05, 1.0, active={"a": 0, "b": 0}) is None  # the same darkness
    assert guard.check(8, 0.05, 1.0, active={"a": 1, "b": 2}) is None  # lit again: armed
    again = guard.check(10, 0.05, 1.0, active={"a": 0, "b": 2})
    assert again is not None and "'a'" in again.detail
    # a site missing from a measurement is not dark; one not counted at all is never checked
    assert guard.check(12, 0.05, 1.0, active={"a": 3}) is None
    assert guard.check(14, 0.05, 1.0) is None and guard.check(16, 0.05, 1.0, active={}) is None


def test_a_dark_site_is_named_before_a_loss_rise_of_the_same_measurement():
    guard = DivergenceGuard()
    for step, loss in enumerate([2.0, 1.0, 0.8, 0.8]):
        assert guard.check(step, 0.1, 1.0, loss, active={"s": 10}) is None
    event = guard.check(4, 0.1, 1.0, 1.5, active={"s": 0})
    assert event is not None and event.reason == "site_dark"
    assert guard.lit == [] and guard.loss_lowest == 1.5  # the baselines restarted


def test_forgetting_the_loss_keeps_only_the_first_window():
    guard = DivergenceGuard()
    for step, loss in enumerate([2.0, 1.0, 0.8]):
        guard.check(step, 0.1, 1.0, loss)
    guard.forget_loss()
    assert (guard.loss_first, guard.loss_last, guard.loss_lowest) == (2.0, None, None)
    assert guard.check(3, 0.1, 1.0, 2.0) is None  # the start's loss again: no trip
    assert guard.check(4, 0.1, 1.0, 1.9) is None and guard.loss_lowest == pytest.approx(1.95)


def test_the_rollback_holds_the_start_for_a_dark_layer_and_drops_it_when_told():
    model, opt, train = _gate_with_one_batch()
    rollback = GuardRollback()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    rollback.keep_start(model, opt)
    for step in (2, 4):
        train()
        rollback.passed(step, 0.1 * step, model, opt)
    train()
    back = rollback.tripped(6, 2, model, opt, to_start=True)
    assert back == FROM_START == "the weights it started with"
    for k, v in model.state_dict().items():
        assert torch.equal(v, start[k]), k
    assert opt.state == {}  # the optimizer as it started: no momentum yet
    assert rollback.snapshot is None and rollback.start is not None  # kept for another trip
    train()
    rollback.passed(8, 0.05, model, opt)
    train()
    assert rollback.tripped(10, 2, model, opt, to_start=False) == "the weights after step 8"
    rollback.drop_start()
    rollback.passed(12, 0.05, model, opt)
    assert rollback.tripped(14, 2, model, opt, to_start=True) == "the weights after step 12"
    assert rollback.tripped(16, 2, model, opt, put_back=False, to_start=True) is None


def test_only_damage_a_cut_cannot_undo_calls_for_the_rollback():
    guard = DivergenceGuard()
    for step, loss in enumerate([2.0, 1.0, 0.8, 0.8]):
        assert guard.check(step, 0.1, 1.0, loss) is None
    moderate = guard.check(4, 0.1, 1.0, 1.5)  # 1.9x its lowest, under the first window's 2.0
    assert moderate is not None and not guard.calls_for_rollback(moderate)
    guard = DivergenceGuard()
    for step, loss in enumerate([2.0, 1.0, 0.8, 0.8]):
        assert guard.check(step, 0.1, 1.0, loss) is None
    unlearned = guard.check(4, 0.1, 1.0, 2.0)  # back at the first window's loss
    assert unlearned is not None and guard.calls_for_rollback(unlearned)
    collapse = GuardEvent(5, "temperature_collapse", "", 0.1, 0.05)
    assert DivergenceGuard().calls_for_rollback(collapse)


@pytest.mark.parametrize("spike, back", [(5.0, True), (2.0, False)])
def test_a_trip_in_the_warm_up_goes_back_to_the_state_of_the_measurement_before(spike, back):
    torch.manual_seed(0)
    model = Gate()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    # the ramp warm-up rises over 50 steps: every measurement trains at the highest rate so far
    sched = ActCoolLR(opt, model, total_steps=200, measure_every=2, k=1.0, find_lr=False)
    batches = _batches()
    kept = None
    # the losses given: 1.0 from step 1 (2.0 at step 0, the first window), then the spike at
    # step 10: the window (1 + 5)/2 = 3 is past the first window's loss, (1 + 2)/2 = 1.5 not
    for t in range(11):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y, torch.tensor(2.0 if t == 0 else 1.0 if t < 10 else spike))
        if t == 8:
            kept = _state(model, opt)
        elif t == 10:
            trained = _state(model, opt)
    (event,) = sched.guard_events
    assert event.step == 10 and event.lr_after == pytest.approx(0.5 * event.lr_before)
    if back:
        assert event.detail.endswith("; back to the weights after step 8")
        _assert_state(model, opt, kept)
    else:  # the network recovers at the cut rate from where it is
        assert "back to" not in event.detail
        _assert_state(model, opt, trained)
    assert opt.param_groups[0]["lr"] <= event.lr_after
    sched.close()


def test_the_guard_can_be_turned_off_and_refuses_other_values():
    torch.manual_seed(0)
    model = Gate()
    opt, sched = _scheduler(model, guard=False)
    assert sched.guard is None
    batches = _batches()
    for t, loss in enumerate([2.0, 2.0, 1.0, 1.0, 0.8, 0.8, 50.0, 50.0, 50.0]):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y, loss)
    assert sched.guard_events == ()
    sched.close()
    with pytest.raises(TypeError, match="guard must be"):
        _scheduler(Gate(), guard="on")


def _resumable_run(make, loss_at, steps, save_at=None, checkpoint=None, close=True):
    """Train a seeded Gate under ``make(model)`` (→ optimizer, scheduler) up to ``steps``,
    saving at ``save_at`` or starting from ``checkpoint``; the rates and the scheduler (closed
    unless ``close`` is false)."""
    torch.manual_seed(5)
    model = Gate()
    opt, sched = make(model)
    parts = {"model": model, "optimizer": opt, "scheduler": sched}
    batches = _batches()
    start = 0 if checkpoint is None else load_checkpoint(checkpoint, **parts)
    lrs, saved = [], None
    for t in range(start, steps):
        x, y = batches[t % len(batches)]
        _train(model, opt, sched, x, y, loss_at(t))
        lrs.append(opt.param_groups[0]["lr"])
        if t + 1 == save_at:
            saved = save_checkpoint(t + 1, **parts)
    if close:
        sched.close()
    return lrs, sched, saved


def _guarded_run(steps, save_at=None, checkpoint=None):
    def spike(t):  # the measurement at step 14 trips
        return torch.tensor(0.5 if t < 13 else 3.0)

    lrs, sched, saved = _resumable_run(_scheduler, spike, steps, save_at, checkpoint)
    return lrs, sched.guard_events, saved


@pytest.mark.parametrize("save_at", [5, 13, 14, 15, 20])
def test_resume_through_a_guard_event_continues_the_identical_sequence(save_at):
    # saved at 13, the checkpoint holds the state of step 12 that the trip at 14 puts back
    full, events, _ = _guarded_run(30)
    assert [e.step for e in events] == [14]
    assert events[0].detail.endswith("; back to the weights after step 12")
    head, _, ckpt = _guarded_run(save_at, save_at=save_at)
    assert head == full[:save_at]
    tail, resumed_events, _ = _guarded_run(30, checkpoint=ckpt)
    assert tail == full[save_at:]  # exactly
    assert resumed_events == events


# -- the finder of the peak rate (§4.8) ------------------------------------------------------


def _found(lr, **kw):
    torch.manual_seed(0)
    model = Gate()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = ActCoolLR(opt, model, total_steps=100, measure_every=2, k=1.0, **kw)
    x, y = _batches(1)[0]
    _train(model, opt, sched, x, y)  # step 0: the scan
    scan = sched.last_measurement.scan
    return sched, opt, None if scan is None else rate_scale(scan)


def test_the_finder_sets_the_peak_from_the_step0_scan_and_the_hint_only_where_it_agrees():
    sched, opt, scale = _found(100.0)
    assert scale is not None and sched.rate_scale == scale
    assert sched.found_lr == pytest.approx(PEAK_FACTOR * scale)  # 100 is far off: replaced
    assert sched.lr_ceiling == sched.found_lr
    # the ramp warm-up now rises towards the found peak: step 1 of 25 from 4% of it
    assert opt.param_groups[0]["lr"] == pytest.approx(sched.found_lr * (0.04 + 0.96 / 25))
    sched.close()
    near = 1.2 * PEAK_FACTOR * scale  # within 1.5x: the typed rate is kept
    kept, _, same_scale = _found(near)
    assert same_scale == pytest.approx(scale, rel=1e-6) and kept.found_lr == near
    kept.close()
    capped, _, _ = _found(100.0, lr_max=1e-3)  # a given lr_max caps the finder
    assert capped.found_lr == 1e-3 and capped.lr_ceiling == 1e-3
    capped.close()
    off, opt, _ = _found(100.0, find_lr=False)
    assert off.found_lr is None and off.lr_ceiling == 100.0
    off.close()


def test_without_a_fit_the_finder_keeps_the_optimizers_rate_and_says_so(caplog):
    # a grid so low that nothing flips: no Weibull fit, no scale
    sched, opt, scale = _found(0.2, scan_lrs=[1e-12, 1e-11, 1e-10, 1e-9])
    assert scale is None and sched.found_lr is None and not sched.find_lr
    assert sched.lr_ceiling == 0.2
    assert "no rate scale from the LR range scan" in caplog.text
    sched.close()


def test_peak_rate_in_closed_form():
    assert peak_rate(0.01, 0.01) == PEAK_FACTOR * 0.01  # 0.01 < 0.045 / 1.5
    assert peak_rate(0.04, 0.01) == 0.04
    assert peak_rate(0.0675, 0.01) == 0.0675  # exactly 1.5x: kept
    assert peak_rate(0.07, 0.01) == pytest.approx(0.045)


@pytest.mark.parametrize("save_at", [1, 3, 8])
def test_resume_through_the_finder_continues_the_identical_sequence(save_at):
    def make(model):
        opt = torch.optim.SGD(model.parameters(), lr=3.0, momentum=0.9)
        return opt, ActCoolLR(opt, model, total_steps=40, measure_every=2)

    def run(steps, save_at=None, checkpoint=None):
        lrs, sched, saved = _resumable_run(make, lambda t: None, steps, save_at, checkpoint)
        return lrs, sched.found_lr, saved

    full, found, _ = run(20)
    assert found is not None and found != 3.0
    head, _, ckpt = run(save_at, save_at=save_at)
    assert head == full[:save_at]
    tail, resumed_found, _ = run(20, checkpoint=ckpt)
    assert tail == full[save_at:] and resumed_found == found


# -- a layer gone dark in the warm-up: the run starts again from its first weights ------------


def _warming(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    # the ramp warm-up rises over the first quarter: the state the run started with is held
    return opt, ActCoolLR(opt, model, total_steps=200, measure_every=2, k=1.0, find_lr=False)


def _darkened_run(steps, kill_at=9, save_at=None, checkpoint=None):
    """A seeded Gate warmed up under ActCoolLR whose layer is killed before step ``kill_at``'s
    forward (its measurement, at the next even step, reads it dark); the rates, the scheduler,
    the first weights, the model and optimizer, a checkpoint at ``save_at``."""
    run = {}

    def make(model):
        run["first"] = {k: v.clone() for k, v in model.state_dict().items()}
        run["model"] = model
        run["opt"], sched = _warming(model)
        return run["opt"], sched

    def kill_before(t):  # called before step t's forward; None: the step's own loss
        if t == kill_at:
            run["model"].kill()

    lrs, sched, saved = _resumable_run(make, kill_before, steps, save_at, checkpoint, close=False)
    return lrs, sched, run["first"], run["model"], run["opt"], saved


def test_a_layer_dark_in_the_warm_up_starts_the_run_again_from_its_first_weights():
    lrs, sched, first, model, opt, _ = _darkened_run(11)
    (event,) = sched.guard_events
    assert event.step == 10 and event.reason == "site_dark"
    assert event.detail.endswith("; back to the weights it started with")
    peak = sched.lr_ceiling
    assert peak == pytest.approx(0.5 * event.lr_before)
    # the warm-up climbs again: from its first rate at the new peak to the peak at its end
    c = sched.controller
    low = c.opening_floor * peak
    assert lrs[-1] == pytest.approx(low + (peak - low) / (c.opening_steps - 10))
    assert lrs[-1] < 0.2 * event.lr_before
    for k, v in model.state_dict().items():
        assert torch.equal(v, first[k]), k
    assert opt.state == {}  # no momentum: the optimizer as it started
    assert sched.guard.loss_last is None and sched.guard.loss_first is not None
    batches = _batches()
    for t in range(11, 15):  # the network lives again, with no second trip
        _train(model, opt, sched, *batches[t % len(batches)])
    assert sched.guard_events == (event,) and sched.last_measurement.active[0] > 0  # lit
    assert sched.state_dict()["guard_rollback"]["start"] is not None  # still in the warm-up
    sched.close()


def test_the_start_is_dropped_when_the_warm_up_ends():
    torch.manual_seed(0)
    model = Gate()
    opt, sched = _warming(model)
    opening = sched.controller.opening_steps
    assert 0 < opening < 100
    batches = _batches()
    for t in range(opening + 2):
        _train(model, opt, sched, *batches[t % len(batches)])
        held = sched.state_dict()["guard_rollback"]["start"] is not None
        assert held == (t < opening or t % 2 == 1 and t - 1 < opening), t
    sched.close()
    # without the rollback nothing is kept at all
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    off = ActCoolLR(opt, model, total_steps=200, guard=DivergenceGuard(rollback=False))
    assert off.state_dict()["guard_rollback"] is None
    off.close()


@pytest.mark.parametrize("save_at", [9, 10, 11, 14])
def test_resume_through_a_dark_layer_continues_the_identical_sequence(save_at):
    full, sched, *_ = _darkened_run(24)
    events = sched.guard_events
    assert [e.reason for e in events] == ["site_dark"]
    sched.close()
    head, sched, *_, ckpt = _darkened_run(save_at, save_at=save_at)
    assert head == full[:save_at]
    sched.close()
    tail, sched, *_ = _darkened_run(24, checkpoint=ckpt)
    assert tail == full[save_at:]  # exactly
    assert sched.guard_events == events
    sched.close()
