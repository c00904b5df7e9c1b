"""actcool.lr_scan: loss and temperature along one update (docs/algorithm.md §3), no trace."""

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from actcool import LRScan, RangeTest, ScanFits, WeibullFit, lr_scan
from actcool.granularity import Granularity
from actcool.scale import ONECYCLE_FACTOR

from .conftest import BNDropNet

LRS = np.logspace(-3, 1, 9)


def linear_problem(seed=0, n=32, d=5, k=3):
    """A bias-free linear layer under MSE: the loss along any ray is a quadratic in λ."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(d, k, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(k, d, generator=g, dtype=torch.float64))
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, k, generator=g, dtype=torch.float64)
    return model, x, y


def mse_gradient(w, x, y):
    """∇_W mean((x Wᵀ − y)²) = 2/(n·k) · (x Wᵀ − y)ᵀ x."""
    r = x @ w.T - y
    return 2.0 / r.numel() * r.T @ x


def ray_losses(w, delta, x, y, lrs):
    """mean((R + λ·A)²) = mean(R²) + 2λ·mean(R∘A) + λ²·mean(A²), R = x Wᵀ − y, A = x Δᵀ."""
    r, a = x @ w.T - y, x @ delta.T
    c0, c1, c2 = (r * r).mean().item(), (r * a).mean().item(), (a * a).mean().item()
    return np.array([c0 + 2 * lr * c1 + lr * lr * c2 for lr in lrs]), c0


# -- values against closed forms -----------------------------------------------------------------
@pytest.mark.parametrize("lr_t", [0.3, 0.0])
def test_losses_follow_the_quadratic_of_plain_sgd(lr_t):
    model, x, y = linear_problem()
    w = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=lr_t)  # Δ = −g, also at λ_t = 0
    result = lr_scan(model, opt, (x, y), nn.functional.mse_loss, LRS, sites=[model])
    expected, loss_start = ray_losses(w, -mse_gradient(w, x, y), x, y, LRS)
    np.testing.assert_allclose(result.losses, expected, rtol=1e-5)
    assert result.loss_start == pytest.approx(loss_start, rel=1e-12)
    assert result.lr_used == lr_t
    np.testing.assert_array_equal(result.lrs, LRS)


def test_flipped_bits_are_the_sign_changes_of_the_outputs():
    model, x, y = linear_problem(seed=3)
    w = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_scan(model, opt, (x, y), nn.functional.mse_loss, LRS, sites=[model])
    w_lr = [w - lr * mse_gradient(w, x, y) for lr in LRS]
    flips = [int(((x @ wl.T > 0) != (x @ w.T > 0)).sum()) for wl in w_lr]
    assert result.scan.counts["bits"][0].tolist() == flips
    assert result.scan.totals["bits"][0] == x.shape[0] * w.shape[0]


def test_delta_of_warm_sgd_momentum_includes_the_buffer_and_weight_decay():
    model, x, y = linear_problem(seed=1)
    beta, wd = 0.9, 0.01
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=beta, weight_decay=wd)
    for seed in range(3):  # warm the momentum buffer on other batches
        _, xs, ys = linear_problem(seed=10 + seed)
        opt.zero_grad()
        nn.functional.mse_loss(model(xs), ys).backward()
        opt.step()
    w = model.weight.detach().clone()
    buf = opt.state[model.weight]["momentum_buffer"].clone()
    # torch's SGD (dampening 0): buf ← β·buf + (g + wd·θ); θ ← θ − λ·buf, so Δ = −buf.
    delta = -(beta * buf + mse_gradient(w, x, y) + wd * w)
    result = lr_scan(model, opt, (x, y), nn.functional.mse_loss, LRS, sites=[model])
    expected, _ = ray_losses(w, delta, x, y, LRS)
    np.testing.assert_allclose(result.losses, expected, rtol=1e-5)
    assert torch.equal(opt.state[model.weight]["momentum_buffer"], buf)


# -- no trace ------------------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4),
    "adamw": lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.05),
}


def tensors_of(model, opt):
    """Every tensor lr_scan must leave as it was, by name."""
    out = {f"state:{k}": v for k, v in model.state_dict().items()}
    for i, (pid, s) in enumerate(opt.state_dict()["state"].items()):
        out.update({f"opt:{i}:{pid}:{k}": v for k, v in s.items() if isinstance(v, torch.Tensor)})
    out.update({f"grad:{n}": p.grad for n, p in model.named_parameters()})
    out["rng"] = torch.get_rng_state()
    return {k: (v.detach().clone() if v is not None else None) for k, v in out.items()}


def assert_same(before, after):
    assert before.keys() == after.keys()
    for key, value in before.items():
        if value is None:
            assert after[key] is None, key
        else:
            assert torch.equal(value, after[key]), key


def no_hooks(model, opt):
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, type(m).__name__
        assert not m._backward_hooks
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_everything_is_restored_bit_for_bit(opt_name, image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = OPTIMIZERS[opt_name](model.parameters())
    for x, y in image_batches[:2]:  # non-empty optimizer state, moved BN statistics
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    x, y = image_batches[2]
    nn.functional.cross_entropy(model(x), y).backward()  # a pending .grad ...
    model.head.bias.grad = None  # ... and one that is None
    grad_object = model.fc1.weight.grad
    twin_model, twin_opt = copy.deepcopy((model, opt))
    for p, q in zip(model.parameters(), twin_model.parameters(), strict=True):
        q.grad = None if p.grad is None else p.grad.clone()  # deepcopy drops .grad
    before = tensors_of(model, opt)
    flags = [m.training for m in model.modules()]

    result = lr_scan(model, opt, image_batches[3], nn.functional.cross_entropy, LRS)

    assert_same(before, tensors_of(model, opt))
    assert model.fc1.weight.grad is grad_object
    assert [m.training for m in model.modules()] == flags
    no_hooks(model, opt)
    assert np.isfinite(result.losses[:4]).all() and result.mean_temperatures[0] >= 0
    # the optimizer keeps working exactly as its twin that never saw the scan
    for m, o in ((model, opt), (twin_model, twin_opt)):
        o.step()
        o.zero_grad()
        torch.manual_seed(7)  # the same dropout masks for both
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()
    for (name, p), q in zip(model.named_parameters(), twin_model.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_a_fresh_optimizer_stays_fresh_and_the_rng_is_untouched(image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = torch.get_rng_state()
    lr_scan(model, opt, image_batches[0], nn.functional.cross_entropy, LRS)
    assert len(opt.state) == 0 and all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_eval_mode_stays_eval_mode_and_the_scan_runs_in_it(image_batches):
    torch.manual_seed(0)
    model = BNDropNet().eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = image_batches[0]
    with torch.no_grad():
        loss_eval = nn.functional.cross_entropy(model(x), y).item()
    result = lr_scan(model, opt, (x, y), nn.functional.cross_entropy, LRS)
    assert not any(m.training for m in model.modules())
    assert result.loss_start == pytest.approx(loss_eval, rel=1e-6)  # BN running stats, no dropout


def test_inputs_as_keyword_arguments(image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = image_batches[0]
    by_kw = lr_scan(model, opt, ({"x": x}, y), nn.functional.cross_entropy, LRS)
    by_pos = lr_scan(model, opt, ((x,), y), nn.functional.cross_entropy, LRS)
    np.testing.assert_array_equal(by_kw.losses, by_pos.losses)


def test_overflow_is_recorded_not_raised(image_batches):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = tensors_of(model, opt)
    result = lr_scan(model, opt, image_batches[0], nn.functional.cross_entropy, [1e-2, 1.0, 1e37])
    assert not np.isfinite(result.losses[-1]) or result.losses[-1] > 1e6
    assert np.isfinite(result.losses[0])
    assert_same(before, tensors_of(model, opt))


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lrs, match",
    [
        ([0.1, 0.01, 1.0], "sorted ascending"),
        ([0.1, 0.1, 1.0], "sorted ascending"),
        ([0.0, 0.1, 1.0], "finite and > 0"),
        ([-1.0, 0.1, 1.0], "finite and > 0"),
        ([0.1, float("nan"), 1.0], "finite and > 0"),
        ([0.1, 1.0], "at least 3"),
    ],
)
def test_bad_lrs_are_named(lrs, match, vector_batches):
    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=match):
        lr_scan(model, opt, vector_batches[0], nn.functional.cross_entropy, lrs)


def test_bad_batch_and_loss_are_named_and_leave_no_trace(vector_batches):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = vector_batches[0]
    ce = nn.functional.cross_entropy
    with pytest.raises(TypeError, match=r"batch must be a pair \(inputs, targets\), got Tensor"):
        lr_scan(model, opt, x, ce)
    with pytest.raises(TypeError, match="got a tuple of length 3"):
        lr_scan(model, opt, (x, y, y), ce)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        lr_scan(model, opt, (x, y), "cross_entropy")
    before = tensors_of(model, opt)
    per_sample = lambda out, t: nn.functional.cross_entropy(out, t, reduction="none")  # noqa: E731
    with pytest.raises(ValueError, match=r"scalar tensor, got shape \(24,\)"):
        lr_scan(model, opt, (x, y), per_sample)
    with pytest.raises(TypeError, match="scalar tensor, got float"):
        lr_scan(model, opt, (x, y), lambda out, t: 1.0)
    assert_same(before, tensors_of(model, opt))
    assert len(opt.state) == 0
    no_hooks(model, opt)


# -- the suggestion and the loss edge ------------------------------------------------------------
def synthetic(losses=(1.9, 1.5, 1.8, 3.0), loss_start=2.0, lambda0=0.02, granularity="unit:64"):
    """A RangeTest whose unit:64 mean temperature is exactly Weibull, T = (λ/λ0)/ln 2."""
    lrs = np.array([0.01, 0.1, 1.0, 10.0])
    total = 64 * 10**9
    q = 1.0 - 2.0 ** (-(lrs / lambda0) / math.log(2) / 64)
    bits = np.round(q * total).astype(np.int64)[None, :]
    scan = LRScan(
        lrs=lrs,
        sites=("relu",),
        batch_size=10,
        granularity=Granularity.parse(granularity),
        counts={"bits": bits, "samples": np.full((1, 4), 10)},
        totals={"bits": np.array([total]), "samples": np.array([10])},
    )
    fits = ScanFits(
        sites=("relu",),
        per_site=(None,),
        mean=None,
        weibull_per_site=(None,),
        weibull_mean=WeibullFit(lambda0=lambda0, k=1.0, rmse=0.0, n_informative=4),
    )
    return RangeTest(np.asarray(lrs), np.asarray(losses, float), loss_start, 0.1, scan, fits)


def test_suggestion_is_the_factor_times_lambda0():
    assert ONECYCLE_FACTOR == 13.0
    assert synthetic(lambda0=2.0).suggestion() == pytest.approx(13.0 * 2.0, rel=1e-4)


def test_suggestion_refits_lambda0_at_unit_64_for_another_granularity():
    # the scan's own fits are of "sample" temperatures; λ0 = 2 comes from the flipped bits
    result = synthetic(lambda0=2.0, granularity="sample")
    wrong = WeibullFit(lambda0=99.0, k=1.0, rmse=0.0, n_informative=4)  # of the sample counts
    result = replace(result, fits=replace(result.fits, weibull_mean=wrong))
    assert result.suggestion() == pytest.approx(13.0 * 2.0, rel=1e-4)


def test_no_weibull_fit_means_no_suggestion():
    result = synthetic(lambda0=1e15)  # nothing flips at any rate of the grid: no signal
    assert not result.scan.counts["bits"].any()
    assert result.suggestion() is None


def test_loss_edge_interpolates_the_crossing_in_log_lr():
    # last rate at or below the start is 1.0 (1.8), next 10 (3.0): 2.0 is 1/6 of the way
    assert synthetic().loss_edge() == pytest.approx(10 ** (1 / 6), rel=1e-12)
    assert synthetic(losses=(1.9, 1.5, 1.8, math.inf)).loss_edge() == 1.0
    assert synthetic(losses=(2.1, 2.5, 3.0, 9.0)).loss_edge() is None  # never below the start
    assert synthetic(losses=(1.9, 1.5, 1.2, 1.0)).loss_edge() is None  # never back up


# -- figure and dict -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_result():
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    return lr_scan(model, opt, (x, y), nn.functional.cross_entropy)


def test_figure_draws_loss_temperature_fits_and_the_suggestion(real_result):
    fig = real_result.figure()
    names = [t.name for t in fig.data]
    assert names[:3] == ["loss", "loss at θ_t", "mean temperature"]
    assert any(n.startswith("Gaussian-CDF fit") for n in names)
    assert any(n.startswith("Weibull fit") for n in names)
    assert fig.layout.xaxis.type == "log"
    assert [t.yaxis for t in fig.data[2:]] == ["y2"] * (len(names) - 2)
    lr = real_result.suggestion()
    assert lr is not None
    assert fig.layout.shapes[0].x0 == lr == fig.layout.shapes[0].x1
    assert fig.layout.annotations[0].x == pytest.approx(math.log10(lr))
    assert f"{lr:.3g}" in fig.layout.annotations[0].text


def test_default_grid_and_to_dict_of_plain_numbers(real_result):
    assert real_result.lrs.shape == (41,) and real_result.lrs[0] == pytest.approx(1e-8)
    d = json.loads(json.dumps(real_result.to_dict()))
    assert d["lrs"] == pytest.approx(list(real_result.lrs))
    assert d["mean_temperatures"] == pytest.approx(list(real_result.mean_temperatures))
    assert d["suggestion"] == pytest.approx(real_result.suggestion())
    assert d["weibull_fit"]["lambda0"] == pytest.approx(real_result.fits.weibull_mean.lambda0)
    assert d["granularity"] == "unit:64" and len(d["temperatures"]) == len(d["sites"]) == 3
