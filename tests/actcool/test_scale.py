"""The rate scale's factors per optimizer (docs/algorithm.md §4.8): closed forms for SGD's
momentum, Adam's family measured, no factor for anything else; the finder under AdamW."""

import logging
import math

import pytest
import torch
from torch import nn

from actcool import ActCoolLR, lr_scan
from actcool.calibration import warmup_lr
from actcool.finder import ADAM_HOLD_RATE, SETTLED, SGD_WAIT_RATE
from actcool.scale import (
    ADAM_FACTORS,
    ATTENTION_ADAM_FACTORS,
    ONECYCLE_FACTOR,
    PEAK_FACTOR,
    SCALE_SCAN_LRS,
    has_attention,
    peak_rate,
    rate_factors,
    rate_scale,
)
from tests.helpers import load_checkpoint, save_checkpoint


def _params():
    return nn.Linear(3, 2).parameters()


def test_sgd_at_the_measured_momentum_gets_the_measured_factors():
    f = rate_factors(torch.optim.SGD(_params(), lr=0.1, momentum=0.9))
    assert (f.peak, f.onecycle) == (PEAK_FACTOR, ONECYCLE_FACTOR) == (4.5, 13.0)
    assert f.basis == "SGD momentum 0.9"


@pytest.mark.parametrize(
    ("kwargs", "rescale"),
    [
        ({}, 10.0),  # no buffer: training's steps are the first step's size
        ({"momentum": 0.5}, 10.0 / 2.0),  # steady state 1/(1 - 0.5) = 2 gradients
        ({"momentum": 0.9, "dampening": 0.5}, 10.0 / 5.0),  # (1 - 0.5)/(1 - 0.9) = 5
        ({"momentum": 0.9, "nesterov": True}, 1.9),  # first step g + 0.9 g, steady 10 g
        ({"momentum": 0.99}, 0.1),
    ],
)
def test_sgd_factors_rescale_by_steady_steps_over_the_first(kwargs, rescale):
    f = rate_factors(torch.optim.SGD(_params(), lr=0.1, **kwargs))
    assert f.peak == pytest.approx(PEAK_FACTOR * rescale)
    assert f.onecycle == pytest.approx(ONECYCLE_FACTOR * rescale)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "NAdam", "RAdam", "Adamax"])
def test_adams_family_shares_the_measured_factors(name):
    assert rate_factors(getattr(torch.optim, name)(_params(), lr=1e-3)) is ADAM_FACTORS
    assert ADAM_FACTORS.peak > PEAK_FACTOR  # Adam's first step is its largest per unit rate


class _SelfAttention(nn.Module):  # a hand-written layer, named as timm's and HF's are
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        return nn.functional.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize(
    ("model", "attention"),
    [
        (nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), True),  # nn.MultiheadAttention
        (nn.Sequential(nn.Linear(8, 8), _SelfAttention()), True),
        (nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 2)), False),
        (nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()), False),
    ],
)
def test_adams_factors_on_a_network_with_attention_are_their_own(model, attention):
    assert has_attention(model) is attention
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3)
    assert rate_factors(adamw, model) is (ATTENTION_ADAM_FACTORS if attention else ADAM_FACTORS)
    assert rate_factors(adamw) is ADAM_FACTORS  # without the model nothing is known of it
    # SGD's λ0 followed the transformers as it follows the rest (tf-rows met at 4.5 × λ0)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    assert rate_factors(sgd, model) == rate_factors(sgd)
    # the attention factors sit below Adam's: the gates the scan reads are not what breaks first
    assert ATTENTION_ADAM_FACTORS.peak < ADAM_FACTORS.peak
    assert ATTENTION_ADAM_FACTORS.onecycle < ADAM_FACTORS.onecycle


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta"])
def test_other_optimizers_have_no_factors(name):
    assert rate_factors(getattr(torch.optim, name)(_params(), lr=1e-3)) is None


def test_the_scale_grid_is_the_monitors_grid_extended_four_decades_down():
    from actcool.monitor import DEFAULT_SCAN_LRS

    assert len(SCALE_SCAN_LRS) == 41 and SCALE_SCAN_LRS[0] == pytest.approx(1e-8)
    assert SCALE_SCAN_LRS[16:] == pytest.approx(DEFAULT_SCAN_LRS, rel=1e-12)


class _Wide(nn.Module):
    """A 4096-input ReLU layer: Adam's sign-like first step flips its units below 1e-4."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4096, 64)
        self.relu = nn.ReLU()
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        return self.head(self.relu(self.fc(x)))


def _batch(seed=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, 4096, generator=g), torch.randint(0, 3, (64,), generator=g)


def test_under_adamw_the_default_grid_brackets_lambda0_from_below():
    torch.manual_seed(0)
    model = _Wide()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    result = lr_scan(model, opt, _batch(), nn.functional.cross_entropy)
    scale = rate_scale(result.scan)
    assert scale is not None and scale < 1e-4  # below the monitor's grid
    quiet = result.lrs < scale / 10
    assert quiet.sum() >= 8 and (result.mean_temperatures[quiet] < 0.05).all()
    assert result.onecycle_factor == ADAM_FACTORS.onecycle
    assert result.suggestion() == pytest.approx(ADAM_FACTORS.onecycle * scale)


def _train(model, opt, sched, batch, give_loss=True):
    x, y = batch
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step(loss=loss.detach() if give_loss else None)


@pytest.mark.parametrize("typed", [1e-5, 1e-2])
def test_the_finder_takes_adams_factor_under_adamw(typed):
    torch.manual_seed(0)
    model = _Wide()
    opt = torch.optim.AdamW(model.parameters(), lr=typed)
    sched = ActCoolLR(opt, model, total_steps=200, measure_every=2)
    assert sched.rate_factors is ADAM_FACTORS and not sched.peak_probe
    _train(model, opt, sched, _batch())  # step 0: the scan
    scale = rate_scale(sched.last_measurement.scan)
    assert sched.rate_scale == scale
    assert sched.found_lr == peak_rate(typed, scale, ADAM_FACTORS.peak)
    assert sched.found_lr == pytest.approx(ADAM_FACTORS.peak * scale)  # both typed rates are off
    assert sched.lr_ceiling == sched.found_lr
    sched.close()


class _WideAttention(_Wide):
    """The same with an attention layer over its hidden units (a token of one)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(64, 2, batch_first=True)

    def forward(self, x):
        h = self.relu(self.fc(x)).unsqueeze(1)
        return self.head(self.attn(h, h, h, need_weights=False)[0].squeeze(1))


def test_the_finder_takes_the_attention_factor_on_a_network_with_attention():
    torch.manual_seed(0)
    model = _WideAttention()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    sched = ActCoolLR(opt, model, total_steps=200, measure_every=2)
    assert sched.rate_factors is ATTENTION_ADAM_FACTORS
    _train(model, opt, sched, _batch())
    scale = rate_scale(sched.last_measurement.scan)
    assert sched.found_lr == pytest.approx(ATTENTION_ADAM_FACTORS.peak * scale)
    assert sched.lr_ceiling == sched.found_lr
    sched.close()


def test_an_optimizer_without_factors_keeps_its_rate_and_says_so(caplog):
    model = _Wide()
    opt = torch.optim.RMSprop(model.parameters(), lr=3e-4)
    with caplog.at_level(logging.WARNING, logger="actcool"):
        sched = ActCoolLR(opt, model, total_steps=50, measure_every=2)
    assert "not of RMSprop" in caplog.text and "find_lr=False" in caplog.text
    assert not sched.find_lr and sched.rate_factors is None
    _train(model, opt, sched, _batch())
    assert sched.found_lr is None and sched.lr_ceiling == 3e-4
    sched.close()


# -- a step whose gradient does not reach the network ---------------------------------------------
def _weibull_scan(lambda0: float, lrs=(0.01, 0.1, 1.0, 10.0)):
    """A scan whose unit:64 mean temperature is exactly Weibull, T = (λ/λ0)/ln 2."""
    import math

    import numpy as np

    from actcool.granularity import Granularity
    from actcool.measurement import LRScan

    lrs = np.array(lrs)
    total = 64 * 10**9
    q = 1.0 - 2.0 ** (-(lrs / lambda0) / math.log(2) / 64)
    bits = np.round(q * total).astype(np.int64)[None, :]
    return LRScan(
        lrs=lrs,
        sites=("relu",),
        batch_size=10,
        granularity=Granularity.parse("unit:64"),
        counts={"bits": bits, "samples": np.full((1, len(lrs)), 10)},
        totals={"bits": np.array([total]), "samples": np.array([10])},
    )


def test_the_rate_scale_is_read_inside_the_scanned_rates_only():
    assert rate_scale(_weibull_scan(0.5)) == pytest.approx(0.5, rel=1e-3)
    # the same law read off rates that all lie above (or below) its λ0 is an extrapolation
    assert rate_scale(_weibull_scan(0.5, lrs=(1.0, 2.0, 5.0, 10.0))) is None
    assert rate_scale(_weibull_scan(0.5, lrs=(1e-3, 1e-2, 0.03, 0.1))) is None


class _ZeroHead(_Wide):
    """The same with its head initialised to zero (as timm's MlpMixer's): at step 0 only the
    head has a gradient."""

    def __init__(self):
        super().__init__()
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)


def test_the_scan_counts_the_parameters_its_step_reached():
    torch.manual_seed(0)
    x, y = torch.randn(256, 4096), torch.randint(0, 3, (256,))
    for model, reach in [
        (_Wide(), 1.0),
        (_ZeroHead(), (64 * 3 + 3) / (4096 * 64 + 64 + 64 * 3 + 3)),
    ]:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        result = lr_scan(model, opt, (x, y), nn.functional.cross_entropy, lrs=[1e-3, 1e-2, 0.1])
        assert result.scan.gradient_reach == pytest.approx(reach)


class _Tokens(nn.Module):
    """A large embedding table (a batch touches a few of its rows) before a ReLU layer."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10_000, 16)
        self.fc = nn.Linear(16, 8)
        self.relu = nn.ReLU()
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):
        return self.head(self.relu(self.fc(self.embed(tokens).mean(1))))


def test_the_reach_leaves_embedding_tables_out():
    torch.manual_seed(0)
    model = _Tokens()
    tokens, y = torch.randint(0, 10_000, (64, 5)), torch.randint(0, 3, (64,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    result = lr_scan(model, opt, (tokens, y), nn.functional.cross_entropy, lrs=[1e-4, 1e-3, 1e-2])
    assert result.scan.gradient_reach == pytest.approx(1.0)  # not 320 rows of 10,000


def test_under_adam_a_step_the_gradient_did_not_reach_is_scanned_again(caplog):
    torch.manual_seed(0)
    model = _ZeroHead()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = ActCoolLR(opt, model, total_steps=200, measure_every=2)  # warm-up: 50 steps
    with caplog.at_level(logging.WARNING, logger="actcool"):
        _train(model, opt, sched, _batch())
    assert (
        "reached 0.074% of the parameters" in caplog.text
        and "scanning again at step 2" in caplog.text
    )
    assert sched.found_lr is None and not sched.shape_fitted  # the shape waits for the next scan
    # step 0 trained at 4% of the typed rate; then the warm-up holds at a rate of its own,
    # whatever was typed, until the scale is known
    held = ADAM_HOLD_RATE
    assert sched.get_last_lr() == [pytest.approx(held)]
    _train(model, opt, sched, _batch())
    assert sched.get_last_lr() == [pytest.approx(held)]
    _train(model, opt, sched, _batch())  # step 2: the head has moved, the gradient reaches
    scan = sched.last_measurement.scan
    assert scan.gradient_reach == pytest.approx(1.0) and sched.shape_fitted
    assert sched.found_lr == pytest.approx(ADAM_FACTORS.peak * rate_scale(scan))
    # the warm-up rises to the peak at its end (step 50), from the rate held or, where that is
    # higher, from the rate of a warm-up to that peak from step 0
    start = min(held, warmup_lr(2, 50, sched.found_lr, 0.04))
    step = (sched.found_lr - start) / (50 - 2)
    assert sched.get_last_lr() == [pytest.approx(start + step)]
    sched.close()


def test_under_adam_the_hold_does_not_follow_the_typed_rate():
    """The held rate is Adam's own, not 4% of the typed one; the peak found then moves with
    the typed rate only by what step 0 did at 4% of it."""
    found = []
    for typed in (1e-3, 1e-2):
        torch.manual_seed(0)
        model = _ZeroHead()
        opt = torch.optim.AdamW(model.parameters(), lr=typed)
        sched = ActCoolLR(opt, model, total_steps=200, measure_every=2)
        lrs = []
        for t in range(3):
            _train(model, opt, sched, _step_batch(t))
            lrs.append(sched.get_last_lr()[0])
        assert lrs[:2] == [pytest.approx(ADAM_HOLD_RATE)] * 2
        found.append(sched.found_lr)
        sched.close()
    assert found[0] == pytest.approx(found[1], rel=0.1)


def _sgd_zero_head(lr=0.1, **kwargs):
    torch.manual_seed(0)
    model = _ZeroHead()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, opt, ActCoolLR(opt, model, **{"total_steps": 200, "measure_every": 2, **kwargs})


def _step_batch(t):
    g = torch.Generator().manual_seed(t)
    return torch.randn(64, 4096, generator=g), torch.randint(0, 3, (64,), generator=g)


def _wait(typed, steps=30, **kwargs):
    """Train the zero-head toy under SGD until the finder has a peak; the rates set after
    each step and the λ0 of the scans after step 0."""
    model, opt, sched = _sgd_zero_head(lr=typed, **kwargs)
    scales, lrs = [], []
    for t in range(steps):
        _train(model, opt, sched, _step_batch(t))
        lrs.append(sched.get_last_lr()[0])
        scan = sched.last_measurement.scan if t % 2 == 0 else None
        if t > 0 and scan is not None:
            scales.append(rate_scale(scan))
        yield t, sched, scales, lrs
        if sched.found_lr is not None:
            break
    sched.close()


@pytest.mark.parametrize("typed", [0.1, 1.0])
def test_under_sgd_the_finder_scans_until_lambda0_stops_falling(caplog, typed):
    factor = rate_factors(torch.optim.SGD([torch.zeros(1)], lr=typed, momentum=0.9)).peak
    wait = SGD_WAIT_RATE  # at momentum 0.9
    with caplog.at_level(logging.INFO, logger="actcool"):
        for t, sched, scales, lrs in _wait(typed):
            if sched.found_lr is not None:
                continue
            # while it waits, the warm-up heads for the lower of the wait's rate (not the typed
            # one) and the multiple of the least λ0 so far (an upper bound of the peak to come)
            bound = factor * min(scales, default=math.inf)
            assert sched.controller.lr_initial == pytest.approx(min(wait, bound))
            if bound < wait:  # no rate above the warm-up from step 0 to the bound
                assert lrs[-1] <= warmup_lr(t + 1, 50, bound, 0.04) * (1 + 1e-9)
    assert factor * min(scales) < wait  # the bound bound
    assert "scanning again every 2 steps until λ0 stops falling" in caplog.text
    # every scan's λ0 is kept; all but the last fell by more than SETTLED, the last did not
    assert sched.settle_scales == pytest.approx(scales) and len(scales) >= 3
    ratios = [b / a for a, b in zip(scales, scales[1:], strict=False)]
    assert all(r < SETTLED for r in ratios[:-1]) and ratios[-1] >= SETTLED
    assert sched.found_lr == pytest.approx(factor * min(scales))
    # step 0 trained at 4% of the typed rate; from step 1 the warm-up is the wait rate's
    assert lrs[0] == pytest.approx(warmup_lr(1, 50, wait, 0.04))
    assert lrs[1] > lrs[0]


def test_under_sgd_the_wait_does_not_follow_the_typed_rate():
    """From step 1 the warm-up, the λ0 read and the peak found are those of the wait rate
    whatever was typed, up to what step 0 did at 4% of the typed rate (the typed rates here lie
    more than 1.5× from the peak, so the hint is not kept)."""
    runs = [list(_wait(typed))[-1] for typed in (0.003, 0.1, 1.0)]
    lrs, found = [run[3] for run in runs], [run[1].found_lr for run in runs]
    common = min(map(len, lrs))  # a λ0 ratio near SETTLED may take one scan more
    for other in (0, 1):
        assert lrs[other][:common] == pytest.approx(lrs[2][:common], rel=0.1)
        assert found[other] == pytest.approx(found[2], rel=0.05)
    assert max(lrs[0]) > 10 * 0.003  # the wait trained far above the rate typed


def test_under_sgd_the_wait_rate_follows_momentum_and_lr_max():
    # without momentum SGD's steps are a tenth as long: the rate is rescaled as the factors are
    model, opt, sched = _sgd_zero_head(lr=0.1)
    opt.param_groups[0]["momentum"] = 0.0
    plain = ActCoolLR(opt, model, total_steps=200, measure_every=2)
    sched.close()
    _train(model, opt, plain, _step_batch(0))
    assert plain.settle_scales == []
    assert plain.controller.lr_initial == pytest.approx(10 * SGD_WAIT_RATE)
    assert plain.lr_ceiling == pytest.approx(10 * SGD_WAIT_RATE)
    plain.close()
    # a given lr_max caps it and stays the ceiling
    model, opt, capped = _sgd_zero_head(lr=0.1, lr_max=0.2)
    _train(model, opt, capped, _step_batch(0))
    assert capped.controller.lr_initial == pytest.approx(0.2) and capped.lr_ceiling == 0.2
    capped.close()


def test_under_sgd_no_room_to_scan_again_leaves_the_typed_rate(caplog):
    # a 40-step run warms up over 10 steps: the next measurement would come after it
    model, opt, sched = _sgd_zero_head(total_steps=40, measure_every=10)
    with caplog.at_level(logging.WARNING, logger="actcool"):
        _train(model, opt, sched, _batch())
    assert "the optimizer's rate 0.1 stays the peak" in caplog.text
    assert not sched.find_lr and sched.found_lr is None and sched.lr_ceiling == 0.1
    sched.close()


def test_under_sgd_rescans_without_a_fit_leave_the_typed_rate(caplog):
    model, opt, sched = _sgd_zero_head(scan_lrs=[1e-12, 1e-11, 1e-10, 1e-9])
    with caplog.at_level(logging.WARNING, logger="actcool"):
        for t in range(3):
            _train(model, opt, sched, _step_batch(t))
    assert "no rate scale from the LR range scan" in caplog.text
    assert not sched.find_lr and sched.found_lr is None and sched.lr_ceiling == 0.1
    sched.close()


@pytest.mark.parametrize("save_at", [1, 4, 5, 9])
def test_a_run_resumed_while_lambda0_settles_continues_identically(save_at):
    def run(steps, save_at=None, checkpoint=None):
        model, opt, sched = _sgd_zero_head()
        parts = {"model": model, "optimizer": opt, "scheduler": sched}
        start = 0 if checkpoint is None else load_checkpoint(checkpoint, **parts)
        lrs, saved = [], None
        for t in range(start, steps):
            _train(model, opt, sched, _step_batch(t))
            lrs.append(opt.param_groups[0]["lr"])
            if t + 1 == save_at:
                saved = save_checkpoint(t + 1, **parts)
        found, settle = sched.found_lr, sched.settle_scales
        sched.close()
        return lrs, (found, settle), saved

    full, found, _ = run(16)
    assert found[0] is not None and len(found[1]) >= 3
    head, _, checkpoint = run(save_at, save_at=save_at)
    assert head == full[:save_at]
    tail, resumed, _ = run(16, checkpoint=checkpoint)
    assert tail == full[save_at:] and resumed == found


@pytest.mark.parametrize("save_at", [1, 2, 3, 6])
def test_a_run_resumed_around_the_rescan_continues_identically(save_at):
    """Saved after the held step 0 (1), at the rescan (2, 3) or past it (6)."""

    def run(steps, save_at=None, checkpoint=None):
        torch.manual_seed(0)
        model = _ZeroHead()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        sched = ActCoolLR(opt, model, total_steps=200, measure_every=2)
        parts = {"model": model, "optimizer": opt, "scheduler": sched}
        start = 0 if checkpoint is None else load_checkpoint(checkpoint, **parts)
        lrs, saved = [], None
        for t in range(start, steps):
            g = torch.Generator().manual_seed(t)
            x, y = torch.randn(64, 4096, generator=g), torch.randint(0, 3, (64,), generator=g)
            _train(model, opt, sched, (x, y))
            lrs.append(opt.param_groups[0]["lr"])
            if t + 1 == save_at:
                saved = save_checkpoint(t + 1, **parts)
        found = sched.found_lr
        sched.close()
        return lrs, found, saved

    full, found, _ = run(10)
    assert found is not None and full[0] == full[1] == pytest.approx(ADAM_HOLD_RATE)
    head, _, checkpoint = run(save_at, save_at=save_at)
    assert head == full[:save_at]
    tail, resumed_found, _ = run(10, checkpoint=checkpoint)
    assert tail == full[save_at:] and resumed_found == found


def test_a_rescan_without_a_fit_gives_the_typed_rate_back(caplog):
    # step 0 does not reach; step 2 reaches but, on a grid so low nothing flips, has no fit
    torch.manual_seed(0)
    model = _ZeroHead()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = ActCoolLR(
        opt, model, total_steps=200, measure_every=2, scan_lrs=[1e-12, 1e-11, 1e-10, 1e-9]
    )
    with caplog.at_level(logging.WARNING, logger="actcool"):
        for _ in range(3):
            _train(model, opt, sched, _batch())
    assert "scanning again at step 2" in caplog.text
    assert "no rate scale from the LR range scan" in caplog.text
    assert "the optimizer's rate 0.01 stays the peak" in caplog.text
    assert not sched.find_lr and sched.found_lr is None and sched.lr_ceiling == 1e-2
    # the warm-up rises from the rate held to the typed rate at its end (step 50)
    held = ADAM_HOLD_RATE
    assert sched.get_last_lr() == [pytest.approx(held + (1e-2 - held) / (50 - 2))]
    sched.close()
