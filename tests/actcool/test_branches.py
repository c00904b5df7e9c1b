"""The branch search (docs/algorithm.md §4.9, actcool/branches.py): its arithmetic in closed
form, a search that leaves no trace and whose losses a hand-written replay reproduces, and
ActCoolLR with a BranchFinder choosing its peak mid-warm-up and resuming exactly."""

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

import actcool.finder
from actcool import ActCoolLR, BranchFinder, BranchSearch, branch_search
from actcool.branches import average_searches, best_rate, branch_lr
from actcool.scale import peak_rate

from .test_probe import _Net as _Wide  # wide enough for the step-0 scan to fit λ0 under Adam

LRS = [1e-3 * 2**k for k in range(7)]


def _bowl(best: float) -> list[float]:
    return [(math.log(lr) - math.log(best)) ** 2 for lr in LRS]


@pytest.mark.parametrize("best", [1.3e-3, 3.1e-3, 2e-2, 5e-2])
def test_best_rate_is_the_vertex_of_a_parabola_in_log_rate(best):
    assert best_rate(LRS, _bowl(best)) == pytest.approx(best, rel=1e-9)
    assert best_rate(LRS, [v + 7.0 for v in _bowl(best)], width=1) == pytest.approx(best, rel=1e-9)


def test_best_rate_stays_between_the_lowest_points_neighbours():
    # lowest at the grid's top: the vertex lies beyond it, the answer is the top rate
    rising = [-float(i) for i in range(7)]
    assert best_rate(LRS, rising) == LRS[-1]
    # a vertex that the fit puts two candidates away is held at the neighbour
    losses = _bowl(LRS[3])
    losses[1] = -1.0  # an outlier: now the lowest point, its fit's vertex lies right of it
    assert LRS[0] <= best_rate(LRS, losses) <= LRS[2]


def test_best_rate_without_a_convex_fit_or_finite_losses():
    assert best_rate(LRS, [0.5] * 7) == LRS[0]  # flat: no vertex
    assert best_rate(LRS, [0.1, 0.5, 0.7, 0.75, 0.7, 0.5, 0.2]) == LRS[0]  # concave
    assert best_rate(LRS, [math.nan] * 7) is None
    # the diverged candidates are left out; two finite points are too few to fit
    assert best_rate(LRS, [math.inf, math.nan, 0.3, 0.2, math.inf, math.nan, math.inf]) == LRS[3]
    with pytest.raises(ValueError, match="7 rates but 2 losses"):
        best_rate(LRS, [1.0, 2.0])


def test_a_branch_rises_to_its_peak_over_the_first_half_and_falls_over_the_second():
    rates = [branch_lr(s, 10, 1.0, 6.0) for s in range(10)]
    assert rates[:5] == pytest.approx([2.0, 3.0, 4.0, 5.0, 6.0])
    assert rates[5:] == pytest.approx([6.0, 4.8, 3.6, 2.4, 1.2])
    assert branch_lr(2, 5, 0.0, 1.0) == pytest.approx(1.0)  # odd: the shorter half rises


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3)
        )

    def forward(self, x):
        return self.body(x)


def _batches(n, seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(size, 8, generator=g), torch.randint(0, 3, (size,), generator=g))
        for _ in range(n)
    ]


def _trained(seed=0):
    torch.manual_seed(seed)
    net = _Net()
    opt = torch.optim.AdamW(
        [
            {"params": net.body[0].parameters()},
            {"params": net.body[4].parameters(), "lr": 2e-3},
        ],
        lr=1e-3,
    )
    for x, y in _batches(3, seed=9):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net, opt


def _everything(net, opt):
    return (
        copy.deepcopy(net.state_dict()),
        copy.deepcopy(opt.state_dict()),
        [None if p.grad is None else p.grad.clone() for p in net.parameters()],
        torch.get_rng_state(),
        [m.training for m in net.modules()],
    )


def test_branch_search_leaves_no_trace_and_its_losses_are_a_replays():
    net, opt = _trained()
    before = _everything(net, opt)
    train, held = _batches(4, seed=1), _batches(2, seed=2)
    lrs = [1e-3, 1e-2, 1e-1]
    result = branch_search(net, opt, train, held, nn.functional.cross_entropy, lrs, steps=6)
    after = _everything(net, opt)
    torch.testing.assert_close(after[0], before[0], rtol=0, atol=0)
    torch.testing.assert_close(after[1], before[1], rtol=0, atol=0)
    torch.testing.assert_close(after[2], before[2], rtol=0, atol=0)
    assert torch.equal(after[3], before[3]) and after[4] == before[4]
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 2e-3]
    assert isinstance(result, BranchSearch) and result.lr_from == 1e-3 and result.steps == 6
    assert result.best_lr == best_rate(lrs, result.losses)
    # the middle branch, by hand on copies: the same rates (group ratios kept), batches cycled,
    # the same dropout masks (the generator as the search found it), then eval-mode losses
    rng = torch.get_rng_state()
    twin, twin_opt = copy.deepcopy(net), None
    twin_opt = torch.optim.AdamW(
        [
            {"params": twin.body[0].parameters()},
            {"params": twin.body[4].parameters(), "lr": 2e-3},
        ],
        lr=1e-3,
    )
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    for s in range(6):
        lr = branch_lr(s, 6, 1e-3, 1e-2)
        twin_opt.param_groups[0]["lr"], twin_opt.param_groups[1]["lr"] = lr, 2 * lr
        x, y = train[s % 4]
        twin_opt.zero_grad()
        nn.functional.cross_entropy(twin(x), y).backward()
        twin_opt.step()
    twin.eval()
    with torch.no_grad():
        expected = sum(float(nn.functional.cross_entropy(twin(x), y).double()) for x, y in held) / 2
    torch.set_rng_state(rng)
    assert result.losses[1] == pytest.approx(expected, rel=1e-6)
    # and it is reproducible
    again = branch_search(net, opt, train, held, nn.functional.cross_entropy, lrs, steps=6)
    assert again.losses == result.losses


def test_branch_search_names_bad_input():
    net, opt = _trained()
    data = _batches(2)
    with pytest.raises(ValueError, match="at least 3"):
        branch_search(net, opt, data, data, nn.functional.cross_entropy, [1e-3, 1e-2])
    with pytest.raises(ValueError, match="ascending"):
        branch_search(net, opt, data, data, nn.functional.cross_entropy, [1e-2, 1e-3, 1e-1])
    with pytest.raises(TypeError, match=r"each of batches must be a pair \(inputs, targets\)"):
        branch_search(net, opt, [data[0][0]], data, nn.functional.cross_entropy, LRS)
    with pytest.raises(ValueError, match=r"scalar tensor, got shape \(32,\)"):

        def per_example(outputs, targets):
            return nn.functional.cross_entropy(outputs, targets, reduction="none")

        branch_search(net, opt, data, data, per_example, LRS, steps=2)
    with pytest.raises(TypeError, match="iterable of"):
        BranchFinder(torch.zeros(3), nn.functional.cross_entropy)
    with pytest.raises(ValueError, match="multiples"):
        BranchFinder(data, nn.functional.cross_entropy, multiples=[1.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="at must lie"):
        BranchFinder(data, nn.functional.cross_entropy, at=1.0)
    with pytest.raises(ValueError, match="yielded no batch"):
        BranchFinder(iter([]), nn.functional.cross_entropy).draw()
    with pytest.raises(ValueError, match="ramp calibration"):
        ActCoolLR(
            opt,
            net,
            total_steps=100,
            calibration="fixed",
            find_lr=BranchFinder(data, nn.functional.cross_entropy),
        )


def test_a_finder_draws_its_batches_and_repeats_a_short_loader():
    finder = BranchFinder(_batches(3), nn.functional.cross_entropy, steps=4, eval_batches=2)
    ((train, held),) = finder.draw()
    assert len(train) == 4 and len(held) == 2
    assert train[3] is train[0] and held[0] is train[1]


def test_each_draw_takes_the_next_batches_of_one_pass():
    data = _batches(20)
    finder = BranchFinder(data, nn.functional.cross_entropy, steps=4, eval_batches=2, draws=3)
    pairs = finder.draw()
    assert [(len(t), len(h)) for t, h in pairs] == [(4, 2)] * 3
    flat = [b for train, held in pairs for b in (*train, *held)]
    assert all(a is b for a, b in zip(flat, data[:18], strict=True))
    assert "draws=3" in repr(finder)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="draws must be an integer >= 1"):
            BranchFinder(data, nn.functional.cross_entropy, draws=bad)


def test_average_searches_chooses_from_the_mean_loss_of_each_candidate():
    lrs = (0.01, 0.02, 0.04, 0.08, 0.16)
    one = BranchSearch(
        lrs,
        (1.0, 0.6, 0.5, 0.9, math.inf),
        best_rate(lrs, [1.0, 0.6, 0.5, 0.9, math.inf]),
        8,
        0.001,
    )
    two = BranchSearch(lrs, (1.0, 0.4, 0.7, 0.7, 2.0), 0.02, 8, 0.001)
    both = average_searches([one, two])
    assert both.losses == (1.0, 0.5, 0.6, 0.8, math.inf)  # diverged once: diverged
    assert both.best_lr == best_rate(lrs, [1.0, 0.5, 0.6, 0.8, math.inf])
    assert both.best_lr != one.best_lr
    assert (both.lrs, both.steps, both.lr_from) == (lrs, 8, 0.001)
    assert average_searches([one]) == one
    with pytest.raises(ValueError, match="same candidate rates"):
        average_searches([one, dataclasses.replace(two, lrs=(1, 2, 3, 4, 5))])
    with pytest.raises(ValueError, match="at least one search"):
        average_searches([])


def test_actcool_with_two_draws_averages_two_searches_from_the_same_state(monkeypatch):
    searches = []

    def spy(*args, **kwargs):
        searches.append((args[2][0], branch_search(*args, **kwargs)))
        return searches[-1][1]

    monkeypatch.setattr(actcool.finder, "branch_search", spy)
    finder = _finder(warmup_to_lowest=False)
    finder.draws = 2
    net, opt, sched = _setup(finder)
    for t in range(30):
        _step(net, opt, sched, t)
    (first_batch, a), (second_batch, b) = searches
    assert first_batch is finder.data[0] and second_batch is finder.data[10]  # 8 + 2 batches
    assert a.lr_from == b.lr_from and a.lrs == b.lrs and a.losses != b.losses
    result = sched.branch_result
    assert result.losses == pytest.approx(
        [(x + y) / 2 for x, y in zip(a.losses, b.losses, strict=True)], rel=1e-15
    )
    assert result.best_lr == best_rate(result.lrs, result.losses)
    assert sched.found_lr == peak_rate(1e-3, result.best_lr, 1.0)


def _data(t):
    g = torch.Generator().manual_seed(t)
    return torch.randn(64, 4096, generator=g), torch.randint(0, 3, (64,), generator=g)


def _scheduler(net, opt, find_lr):
    return ActCoolLR(opt, net, total_steps=200, measure_every=5, find_lr=find_lr)


def _finder(warmup_to_lowest=True):
    return BranchFinder(
        [_data(1000 + i) for i in range(12)],
        nn.functional.cross_entropy,
        steps=8,
        eval_batches=2,
        warmup_to_lowest=warmup_to_lowest,
    )


def _setup(find_lr):
    torch.manual_seed(0)
    net = _Wide()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    return net, opt, _scheduler(net, opt, find_lr)


def _step(net, opt, sched, t):
    x, y = _data(t)
    loss = nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    lr = opt.param_groups[0]["lr"]  # the rate step t trained at
    sched.step(loss=loss)
    return lr


@pytest.mark.parametrize("low", [False, True], ids=["warm-up to the centre", "to the lowest"])
def test_actcool_searches_half_way_through_its_warm_up_and_rises_to_the_peak_found(low):
    net, opt, sched = _setup(_finder(warmup_to_lowest=low))
    plain_net, plain_opt, plain = _setup(True)
    opening = sched.controller.opening_steps  # 50: a quarter of training
    lowest = _finder().multiples[0]  # 1/8
    lrs = []
    for t in range(opening + 5):
        lrs.append(_step(net, opt, sched, t))
        plain_lr = _step(plain_net, plain_opt, plain, t)
        if sched.branch_result is None:
            if not low or t == 0:  # step 0 trains before the scan that finds the peak
                assert lrs[-1] == plain_lr  # the same run until the search
            else:  # the plain run's warm-up, scaled to end at the lowest candidate
                assert lrs[-1] == pytest.approx(plain_lr * lowest, rel=1e-12)
                assert sched.branch_centre == plain.found_lr
        elif sched.branch_result.step == t and not low:
            # the search leaves the run as it was: the weights are the plain run's
            for a, b in zip(net.parameters(), plain_net.parameters(), strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
            assert sched.guard.ratios  # the guard's history goes on
        elif sched.branch_result.step == t:
            # the climb from the lowest candidate is steep: the guard starts a new history
            assert sched.guard.ratios == [] and sched.guard.loss_lowest == sched.guard.loss_last
    result = sched.branch_result
    assert result is not None and result.step == 25  # the first measurement past the middle
    assert result.lrs == pytest.approx([plain.found_lr * m for m in _finder().multiples])
    assert result.lr_from == lrs[25] and result.best_lr is not None
    assert sched.found_lr == peak_rate(1e-3, result.best_lr, 1.0) == sched.lr_ceiling
    # from the search on the warm-up rises linearly from the rate of step 25 to the peak
    expected = [
        lrs[25] + (sched.found_lr - lrs[25]) * (t - 25) / (opening - 25)
        for t in range(26, opening + 1)
    ]
    assert lrs[26 : opening + 1] == pytest.approx(expected, rel=1e-12)
    assert not sched.diverged


@pytest.mark.parametrize("low", [False, True], ids=["warm-up to the centre", "to the lowest"])
def test_a_run_resumed_before_or_after_the_search_continues_identically(low):
    net, opt, sched = _setup(_finder(warmup_to_lowest=low))
    saved, lrs = {}, []
    for t in range(60):
        lrs.append(_step(net, opt, sched, t))
        if t in (20, 30):
            saved[t] = (
                copy.deepcopy(net.state_dict()),
                copy.deepcopy(opt.state_dict()),
                copy.deepcopy(sched.state_dict()),
            )
    assert sched.branch_result is not None and sched.branch_result.step == 25
    for t, (model_state, opt_state, sched_state) in saved.items():
        torch.manual_seed(123)  # a fresh process: other weights, loaded over
        net2 = _Wide()
        opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-3)
        sched2 = _scheduler(net2, opt2, _finder(warmup_to_lowest=low))
        net2.load_state_dict(model_state)
        opt2.load_state_dict(opt_state)
        sched2.load_state_dict(sched_state)
        rest = [_step(net2, opt2, sched2, s) for s in range(t + 1, 60)]
        assert rest == lrs[t + 1 :], f"resumed after step {t}"
        assert sched2.branch_result == sched.branch_result


def test_the_monitor_ignores_what_runs_while_paused():
    net, opt, sched = _setup(True)
    for t in range(5):
        _step(net, opt, sched, t)
    monitor = sched.monitor
    assert monitor.is_measure_step(monitor.step_count)  # armed to record step 5
    with monitor.paused():
        x, y = _data(7)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        assert not monitor._stepped and not monitor._probe.recorded
    _step(net, opt, sched, 5)  # the real step 5 is measured as ever
    assert sched.last_measurement is not None and sched.last_measurement.step == 5


def test_a_search_that_cannot_run_gives_the_warm_up_back_its_centre(caplog):
    """Measuring only every 50 steps, the first measurement past the middle of the 50-step
    warm-up is its end: no search, and the peak is the scan's again, not the lowest candidate."""
    torch.manual_seed(0)
    net = _Wide()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    finder = _finder(warmup_to_lowest=True)
    sched = ActCoolLR(opt, net, total_steps=200, measure_every=50, find_lr=finder)
    lrs = [_step(net, opt, sched, t) for t in range(49)]
    centre = sched.branch_centre
    assert centre == sched.found_lr and sched.controller.lr_peak == centre / 8
    assert lrs[48] < centre / 8  # still rising to the lowest candidate
    with caplog.at_level("WARNING", logger="actcool.finder"):
        for t in range(49, 52):
            _step(net, opt, sched, t)
    assert sched.branch_result is None and sched.branches is None
    assert "no branch search (the warm-up (50 steps) ended" in caplog.text
    assert sched.controller.lr_peak == centre
