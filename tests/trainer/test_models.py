"""Contract tests for trainer.models: every model builds, trains a step, and exposes its
activation sites (ReLU modules; GELU in the transformer)."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import trainer.models
from actcool import find_sites
from trainer.models import MODEL_NAMES, build_model

# Activation calls per forward pass: every call of a site module (actcool.find_sites: nn.ReLU,
# nn.GELU, ...) is one activation site.
RELU_SITES = {
    "convnet4": 3,  # conv1, conv2, fc1
    "resnet20": 1 + 2 * 9,  # stem + 2 per basic block
    "resnet32": 1 + 2 * 15,
    "resnet56": 1 + 2 * 27,
    "resnet32-plain": 1 + 2 * 15,
    "fixup-resnet32": 1 + 2 * 15,
    "pyramidnet": 9 + 1,  # 1 per block (depth 20: 3 stages x 3 blocks) + final BN-ReLU
    "vgg16": 13,  # one per convolution
    "resnet50": 1 + 3 * 16,  # torchvision reuses self.relu three times per Bottleneck
    "vit-tiny": 4,  # one GELU per block
}
# (in_channels, image_size) each model is trained on in the paper's setups.
TRAIN_SHAPES = {name: [(3, 32)] for name in MODEL_NAMES} | {"convnet4": [(1, 8), (1, 28)]}


pytestmark = pytest.mark.usefixtures("one_thread")


def count_relu_calls(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    calls = []
    handles = [
        m.register_forward_hook(lambda mod, inp, out: calls.append(out.shape))
        for _, m in find_sites(model)
    ]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, len(calls)


def test_model_names_cover_the_paper_models():
    assert set(MODEL_NAMES) == set(RELU_SITES)


@pytest.mark.parametrize(
    "name, in_channels, image_size",
    [(n, c, s) for n in MODEL_NAMES for c, s in TRAIN_SHAPES[n]],
)
def test_one_sgd_step(name, in_channels, image_size):
    torch.manual_seed(0)
    model = build_model(name, in_channels, 10, image_size)
    x = torch.randn(4, in_channels, image_size, image_size)
    y = torch.tensor([0, 1, 2, 9])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters()]

    logits, sites = count_relu_calls(model, x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()

    assert logits.shape == (4, 10)
    assert math.isfinite(loss.item())
    assert sites == RELU_SITES[name]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("in_channels, image_size, num_classes", [(1, 8, 3), (3, 28, 7)])
def test_models_adapt_to_input_shape(name, in_channels, image_size, num_classes):
    model = build_model(name, in_channels, num_classes, image_size).eval()
    with torch.no_grad():
        out = model(torch.randn(2, in_channels, image_size, image_size))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()


def test_no_functional_relu_in_model_sources():
    # Hooks only see nn.ReLU modules; a functional ReLU would be an invisible site.
    functional = re.compile(
        r"\b(F|functional|torch)\.relu_?\(|\.relu_?\(\)|clamp_?\(\s*min=0|clamp_min_?\(0"
    )
    for path in Path(trainer.models.__file__).parent.glob("*.py"):
        assert not functional.search(path.read_text()), path.name


def test_unknown_model_lists_the_names():
    with pytest.raises(
        ValueError, match=r"unknown model 'resnet-33'; choose one of: convnet4, resnet20, "
    ):
        build_model("resnet-33", 3, 10, 32)


@pytest.mark.parametrize("kwargs", [{"in_channels": 0}, {"num_classes": -1}, {"image_size": 0}])
def test_bad_sizes_raise(kwargs):
    args = {"in_channels": 3, "num_classes": 10, "image_size": 32} | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        build_model("resnet20", **args)


def test_convnet4_needs_four_pixels():
    with pytest.raises(ValueError, match="at least 4x4"):
        build_model("convnet4", 1, 10, 3)


@pytest.mark.parametrize(
    "name, params",
    # He et al. 2016, Table 6: 0.27M, 0.46M, 0.85M; option-A shortcuts add no parameters.
    [
        ("resnet20", 269_722),
        ("resnet32", 464_154),
        ("resnet56", 853_018),
        ("resnet32-plain", 464_154),
    ],
)
def test_cifar_resnet_parameter_counts(name, params):
    model = build_model(name, 3, 10, 32)
    assert sum(p.numel() for p in model.parameters()) == params


def test_fixup_has_no_batchnorm_and_starts_with_zero_branches():
    torch.manual_seed(0)
    model = build_model("fixup-resnet32", 3, 10, 32)
    assert not any(
        isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))
        for m in model.modules()
    )

    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(model(x), torch.zeros(3, 10))  # classifier weight and bias are zero
    h = model.relu(model.conv1(x) + model.bias1)
    for block in model.blocks:
        assert torch.equal(block.branch(h), torch.zeros_like(block.branch(h)))
        out = block(h)
        assert torch.equal(out, torch.relu(block.shortcut(h)))
        h = out

    # He init scaled by L^(-1/2), L = 15 residual branches (Zhang et al. 2019, section 3).
    w = model.blocks[0].conv1.weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)) / math.sqrt(15), rel=0.1)
    assert all(torch.count_nonzero(b.conv2.weight) == 0 for b in model.blocks)


def test_fixup_learns_from_zero_logits():
    torch.manual_seed(0)
    model = build_model("fixup-resnet32", 3, 10, 32)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = nn.functional.cross_entropy(model(x), y)
    assert first.item() == pytest.approx(math.log(10))  # uniform prediction at init
    first.backward()
    optimizer.step()
    assert nn.functional.cross_entropy(model(x), y).item() < first.item()


def test_pyramidnet_widens_additively_to_16_plus_alpha():
    model = build_model("pyramidnet", 3, 10, 32)
    widths = [b.conv1.out_channels for b in model.blocks]
    assert widths == [round(16 + 48 * (i + 1) / 9) for i in range(9)]
    assert model.fc.in_features == 64


def test_vgg16_has_thirteen_conv_bn_layers():
    model = build_model("vgg16", 3, 10, 32)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 13
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 13
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 1


def test_resnet50_stem_follows_image_size():
    small = build_model("resnet50", 3, 10, 32)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)

    large = build_model("resnet50", 1, 5, 224).eval()
    assert large.conv1.kernel_size == (7, 7) and large.conv1.in_channels == 1
    assert isinstance(large.maxpool, nn.MaxPool2d)
    with torch.no_grad():
        out, sites = count_relu_calls(large, torch.randn(1, 1, 224, 224))
    assert out.shape == (1, 5)
    assert sites == RELU_SITES["resnet50"]


def test_torch_free_names_match_the_builders():
    from trainer.models.registry import _BUILDERS

    assert tuple(_BUILDERS) == MODEL_NAMES


# -- timm:<name> -----------------------------------------------------------------------------
class FakeTimm:
    """The two functions of timm that build_timm calls, recording the calls: a ViT-like
    model that takes ``img_size`` and a CNN that does not."""

    def __init__(self):
        self.calls = []

    def list_models(self):
        return ["convnext_atto", "convnext_femto", "vit_tiny_patch16_224"]

    def create_model(self, name, **kwargs):
        self.calls.append((name, kwargs))
        if name.startswith("convnext") and "img_size" in kwargs:
            raise TypeError("__init__() got an unexpected keyword argument 'img_size'")
        size = kwargs.get("img_size", 8)
        return nn.Sequential(
            nn.Conv2d(kwargs["in_chans"], 4, 3, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(4 * size * size, kwargs["num_classes"]),
        )


def test_timm_models_are_built_for_the_data_without_pretrained_weights(monkeypatch):
    fake = FakeTimm()
    monkeypatch.setitem(sys.modules, "timm", fake)
    model = build_model("timm:convnext_atto", 1, 7, 8)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 7)
    assert fake.calls == [
        ("convnext_atto", {"img_size": 8, "pretrained": False, "num_classes": 7, "in_chans": 1}),
        ("convnext_atto", {"pretrained": False, "num_classes": 7, "in_chans": 1}),
    ]
    vit = build_model("timm:vit_tiny_patch16_224", 3, 10, 32)
    assert fake.calls[-1][1]["img_size"] == 32 and vit(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert [name for name, _ in find_sites(vit)] == ["1"]  # its GELU


def test_an_unknown_timm_model_lists_close_matches(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", FakeTimm())
    with pytest.raises(ValueError, match=r"no model 'convnext_ato'; close matches: timm:convnext"):
        build_model("timm:convnext_ato", 3, 10, 32)


def test_timm_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    with pytest.raises(ValueError, match=r"needs the timm package: pip install -e '.\[timm\]'"):
        build_model("timm:resnet18", 3, 10, 32)


def test_a_run_config_takes_timm_names_and_rejects_unknown_ones():
    from trainer.config import ConfigError, RunConfig

    assert RunConfig(model="timm:resnet18").model == "timm:resnet18"
    with pytest.raises(ConfigError, match=r"unknown model 'timm:'; .* or timm:<name>"):
        RunConfig(model="timm:")


def test_a_real_timm_model_trains_a_step():
    timm = pytest.importorskip("timm", reason="the timm extra is not installed")
    model = build_model("timm:resnet10t", 3, 10, 32)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 9])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert math.isfinite(loss.item()) and find_sites(model) and timm.__name__ == "timm"
