"""The typed-rate report (benchmarks/rates_report.py) against hand-computed verdicts."""

import math

from benchmarks.rates import Plan
from benchmarks.rates_report import write_report

from .conftest import rate_row as row


def test_the_report_compares_every_typed_rate_with_the_best_1cycle(tmp_path):
    rows = [
        row("convnet4", "onecycle", 0.1, 0, 10.0),
        row("convnet4", "onecycle", 0.1, 1, 10.4),  # best 1-cycle: mean 10.2 at 0.1
        row("convnet4", "onecycle", 1.0, 0, math.nan),  # diverged: counts as chance
        row("convnet4", "onecycle", 1.0, 1, 90.0),
        row("convnet4", "actcool", 0.1, 0, 10.3),
        row("convnet4", "actcool", 0.1, 1, 10.5),  # +0.2: met
        row("convnet4", "actcool", 1.0, 0, 10.6, events=[{"step": 80}]),
        row("convnet4", "actcool", 1.0, 1, 10.6),  # +0.4: missed
    ]
    text = (write_report(rows, tmp_path)).read_text()
    assert "Best tuned 1-cycle: 10.20% at 0.1." in text
    assert "| 0.1 | +0.20 | no | ✅ |" in text
    assert "| 1 | +0.40 | no | ❌ |" in text
    assert "❌ goal missed" in text
    assert "| 1-cycle peaking at the typed rate | 10.20 | 90.00 (1 diverged) |" in text
    assert "0.03/0.03, 1 cut" in text
    assert (tmp_path / "rates.png").stat().st_size > 1000


def test_dying_where_another_schedule_trains_fails_the_goal(tmp_path):
    rows = [
        row("resnet20", "onecycle", 0.5, 0, 40.0),
        row("resnet20", "actcool", 0.5, 0, 90.0),
    ]
    text = write_report(rows, tmp_path).read_text()
    assert "| 0.5 | +50.00 | yes | ❌ |" in text


def test_plan_keys_name_every_setting():
    assert Plan("convnet4", "actcool", 0.3, 1).key == "convnet4/actcool/lr0.3/seed1/ep1"


def test_the_held_out_networks_build_and_every_activation_is_a_site():
    import torch

    from actcool.scale import has_attention
    from actcool.sites import find_sites
    from benchmarks.rates import HELD_OUT, _build

    expected = {
        "mlp-gelu": (torch.nn.GELU, 2, 1, 28),
        "cnn-lrelu": (torch.nn.LeakyReLU, 3, 1, 28),
        "vgg-bn": (torch.nn.ReLU, 5, 3, 32),
        "tf-rows": (torch.nn.Linear, 2, 1, 28),  # the linear1 of two GELU encoder layers
        "mbnet-hs": (torch.nn.Hardswish, 7, 1, 28),
        "vit-timm": (torch.nn.GELU, 4, 1, 28),  # timm's VisionTransformer (the [timm] extra)
        "mixer-timm": (torch.nn.GELU, 8, 1, 28),  # timm's MlpMixer: token and channel MLPs
        "mlp-gelu-zh": (torch.nn.GELU, 2, 1, 28),  # the same two with a zeroed head
        "cnn-lrelu-zh": (torch.nn.LeakyReLU, 3, 1, 28),
        "resnet20-zi": (torch.nn.ReLU, 19, 3, 32),  # every block's last BatchNorm zeroed
        "mlp-zh": (torch.nn.ReLU, 2, 1, 28),  # the MLP and the CNN without BatchNorm, head
        "cnn-plain-zh": (torch.nn.ReLU, 3, 1, 28),  # zeroed
    }
    assert set(HELD_OUT) == set(expected)
    for model, (kind, count, channels, size) in expected.items():
        net = _build(model)
        assert net(torch.zeros(2, channels, size, size)).shape == (2, 10)
        sites = find_sites(net)
        assert len(sites) == count
        assert all(isinstance(module, kind) for _, module in sites)
        # the transformers take Adam's attention factors (docs/algorithm.md §4.8)
        assert has_attention(net) is model.startswith(("tf-", "vit-"))
        head = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
        zeroed = model.endswith("-zh") or model == "mixer-timm"  # timm zeroes the Mixer's
        assert bool((head.weight == 0).all()) is zeroed
        last_bn = [m.bn2.weight for m in net.modules() if hasattr(m, "bn2")]
        zero_gamma = bool(last_bn) and all(bool((w == 0).all()) for w in last_bn)
        assert zero_gamma is (model == "resnet20-zi")


def test_the_figure_puts_each_optimizer_on_its_own_row(tmp_path):
    rows = [
        row("convnet4", "onecycle", 0.1, 0, 10.0),
        row("convnet4", "actcool", 0.1, 0, 10.1),
        row("mlp", "onecycle", 0.1, 0, 13.0),
        {**row("convnet4", "onecycle", 1e-3, 0, 10.0), "optimizer": "adamw"},
    ]
    write_report(rows, tmp_path)
    from PIL import Image

    width, height = Image.open(tmp_path / "rates.png").size
    assert height > width / 2  # two rows of panels, two columns wide
