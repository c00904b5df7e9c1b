"""The loss probe (docs/algorithm.md §4.8, actcool/probe.py): its arithmetic in closed form, and
ActCoolLR under AdamW going back to the snapshot at the peak, resuming mid-probe exactly."""

import io
import logging
import math

import pytest
import torch
from torch import nn

from actcool import ActCoolLR
from actcool.probe import PATIENCE, PEAK_FACTOR, SMOOTHING, STEPS_PER_DECADE, RateProbe
from actcool.scale import peak_rate


def test_the_probe_grows_a_decade_every_twenty_steps():
    probe = RateProbe(start_step=1, start_lr=1e-4, end_step=1000)
    assert probe.lr_at(1) == 1e-4
    assert probe.lr_at(1 + STEPS_PER_DECADE) == pytest.approx(1e-3)
    assert probe.lr_at(1 + 2 * STEPS_PER_DECADE) == pytest.approx(1e-2)


def _bowl(lr: float, best: float = 1e-2) -> float:
    """A loss that is lowest at ``best`` and rises a unit per decade² away from it."""
    return 1.0 + math.log10(lr / best) ** 2


def _run(probe: RateProbe, losses, every: int = 10) -> int:
    """Give the probe one loss per step, checking it every ``every`` steps, until it ends."""
    step = probe.start_step
    while True:
        probe.add(step, losses(probe.lr_at(step)))
        if step % every == 0 and not probe.check(step):
            return step
        step += 1


def test_the_probe_ends_a_decade_past_the_lowest_average_and_peaks_at_its_factor():
    probe = RateProbe(start_step=1, start_lr=1e-4, end_step=10_000)
    end = _run(probe, _bowl)
    # the moving average, by hand: its lowest value lags the bowl's bottom by a few steps
    average, lowest, at = None, math.inf, None
    for step in range(1, end + 1):
        loss = _bowl(probe.lr_at(step))
        average = loss if average is None else SMOOTHING * average + (1 - SMOOTHING) * loss
        if average < lowest:
            lowest, at = average, probe.lr_at(step)
    assert probe.best_loss == pytest.approx(lowest) and probe.best_lr == pytest.approx(at)
    assert 1e-2 < probe.best_lr < 10**0.5 * 1e-2
    # ended at the first check (every 10 steps) a decade past it
    assert probe.lr_at(end) >= PATIENCE * probe.best_lr > probe.lr_at(end - 10)
    assert probe.peak == pytest.approx(PEAK_FACTOR * at) and "no lower loss" in probe.reason


@pytest.mark.parametrize(
    ("spike", "reason"), [(30.0, "rose to 3.6× its lowest"), (math.nan, "non-finite")]
)
def test_a_loss_that_blows_up_ends_the_probe_at_the_next_check(spike, reason):
    probe = RateProbe(start_step=1, start_lr=1e-4, end_step=10_000)
    for step in range(1, 21):
        probe.add(step, 1.0)
        assert probe.check(step) if step % 10 == 0 else True
    probe.add(21, spike)  # the average: 0.9 · 1 + 0.1 · 30 = 3.9 (once non-finite, always)
    probe.add(22, 1.0)  # 0.9 · 3.9 + 0.1 = 3.61
    assert not probe.check(30) and probe.ended_step == 30 and reason in probe.reason
    assert probe.best_loss == 1.0 and probe.best_lr == probe.lr_at(1)


def test_the_end_of_the_warm_up_ends_the_probe():
    probe = RateProbe(start_step=1, start_lr=1e-4, end_step=20)
    probe.add(1, 2.0)
    assert probe.check(10)
    assert not probe.check(20) and probe.reason == "the warm-up ended"


def test_snapshots_below_the_peak_are_dropped_but_the_last_one():
    probe = RateProbe(start_step=1, start_lr=1e-4, end_step=10_000)
    assert probe.keep(0, 0.0) == []
    probe.best_lr = 1e-3  # peak 1.7e-4
    assert probe.keep(10, 1e-4) == [0]  # 0.0 and 1e-4 are both below: the last one stays
    assert probe.snapshots == [(10, 1e-4, 0)] and probe.restore_index() == 0
    assert probe.keep(20, 1e-3) == []  # above the peak: kept, the restore point stays
    assert probe.restore_index() == 0
    probe.best_lr = 1e-2  # peak 1.7e-3
    assert probe.keep(30, 1e-2) == [0]  # 1e-3 is at or below the peak now: 1e-4 goes
    assert [s[0] for s in probe.snapshots] == [20, 30] and probe.restore_index() == 0
    # a caller whose peak may be lower (a typed rate it keeps) keeps more
    wide = RateProbe(start_step=1, start_lr=1e-4, end_step=10_000, margin=1.5)
    wide.keep(0, 0.0)
    wide.best_lr = 1e-2
    assert wide.keep(10, 1.5e-3) == [] and wide.restore_index(1.7e-3 / 1.5) == 0
    assert RateProbe.from_state(probe.state_dict()) == probe


class _Net(nn.Module):
    """Wide enough for the step-0 scan to fit λ0 under Adam (test_scale.py's network)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4096, 64), nn.ReLU(), nn.Linear(64, 3))

    def forward(self, x):
        return self.body(x)


def _setup(seed=0):
    torch.manual_seed(seed)
    net = _Net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = ActCoolLR(opt, net, total_steps=400, measure_every=5, find_lr="probe")
    return net, opt, sched


def _step(net, opt, sched, t, losses=_bowl):
    g = torch.Generator().manual_seed(t)
    x, y = torch.randn(64, 4096, generator=g), torch.randint(0, 3, (64,), generator=g)
    loss = nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    lr = opt.param_groups[0]["lr"]
    # the loss the probe reads is a closed form of the rate: its lowest value is at 1e-2
    sched.step(loss=None if losses is None else losses(lr) if t > 0 else 2.0)
    return lr


def test_under_adamw_the_probe_sets_the_peak_and_goes_back_to_the_weights_at_it():
    net, opt, sched = _setup()
    params, lrs = [], []
    for t in range(200):
        lrs.append(_step(net, opt, sched, t))
        params.append([p.detach().clone() for p in net.parameters()])
        if sched.probe is not None and not sched.probe.running:
            break
    probe = sched.probe
    assert probe is not None and probe.ended_step == t and "no lower loss" in probe.reason
    # the probe's rates, exactly
    assert lrs[1:t] == pytest.approx([probe.lr_at(s) for s in range(1, t)], rel=1e-12)
    assert 1e-2 < probe.best_lr < 10**0.5 * 1e-2  # the average lags the bowl's bottom
    assert sched.found_lr == peak_rate(1e-3, probe.best_lr, PEAK_FACTOR)
    assert sched.lr_ceiling == sched.found_lr
    # back to the weights after the last step whose rate was at or below the peak
    back = max(s for s in range(1, t) if probe.lr_at(s) <= sched.found_lr and s % 5 == 0)
    for now, then in zip(net.parameters(), params[back], strict=True):
        torch.testing.assert_close(now, then, rtol=0, atol=0)
    # and the warm-up goes on from there to the peak, then the cool-down follows
    rest = [_step(net, opt, sched, s) for s in range(t + 1, 400)]
    assert max(rest) <= sched.found_lr * (1 + 1e-9) and not sched.diverged
    assert sched.calibrated_start is not None and sched.calibrated_start > 0


def test_a_non_finite_loss_in_the_probe_goes_back_without_marking_the_run_diverged():
    net, opt, sched = _setup()

    def explodes(lr):
        return math.nan if lr > 3e-2 else _bowl(lr, best=1.0)  # still falling when it blows up

    for t in range(200):
        _step(net, opt, sched, t, explodes)
        if sched.probe is not None and not sched.probe.running:
            break
    assert "non-finite" in sched.probe.reason and not sched.diverged
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert sched.found_lr == pytest.approx(PEAK_FACTOR * sched.probe.best_lr, rel=0.5)


def test_a_checkpoint_in_the_middle_of_the_probe_resumes_the_identical_run():
    net, opt, sched = _setup()
    for t in range(23):  # the probe runs from step 1 to about 60
        _step(net, opt, sched, t)
    assert sched.probe.running
    buf = io.BytesIO()
    torch.save(
        {"model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf
    )
    straight = [_step(net, opt, sched, t) for t in range(23, 150)]
    final = [p.detach().clone() for p in net.parameters()]
    sched.close()

    net2, opt2, sched2 = _setup(seed=1)  # other weights: all of them come from the checkpoint
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    net2.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    resumed = [_step(net2, opt2, sched2, t) for t in range(23, 150)]
    assert resumed == straight
    assert not sched2.probe.running and sched2.found_lr == sched.found_lr
    for a, b in zip(net2.parameters(), final, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    sched2.close()


def test_the_probe_is_asked_for_and_refused_where_it_was_not_measured():
    net = _Net()
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"Adam's family only, not SGD.*find_lr=True"):
        ActCoolLR(sgd, net, total_steps=400, find_lr="probe")
    adam = torch.optim.AdamW(net.parameters(), lr=1e-3)
    with pytest.raises(
        ValueError, match=r"find_lr must be True, False, 'probe' or a BranchFinder, got 'yes'"
    ):
        ActCoolLR(adam, net, total_steps=400, find_lr="yes")


def test_without_the_loss_the_probe_says_so_and_the_scan_sets_the_peak(caplog):
    net, opt, sched = _setup()
    with caplog.at_level(logging.WARNING, logger="actcool"):
        _step(net, opt, sched, 0, losses=None)
    assert "no loss probe (pass step(loss=loss)" in caplog.text
    assert sched.probe is None and sched.found_lr == pytest.approx(37 * sched.rate_scale)
