"""Build a model by name: ``build_model("resnet32", in_channels=3, num_classes=10, image_size=32)``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from .convnet import ConvNet4
from .fixup import FixupResNet
from .names import MODEL_NAMES, TIMM_PREFIX
from .pyramidnet import PyramidNet
from .resnet50 import build_resnet50
from .resnet_cifar import CifarResNet
from .timm_models import build_timm
from .vgg import VGG
from .vit import ViTTiny

# name -> builder(in_channels, num_classes, image_size)
_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "convnet4": lambda c, k, s: ConvNet4(c, k, s),
    "resnet20": lambda c, k, s: CifarResNet(20, c, k),
    "resnet32": lambda c, k, s: CifarResNet(32, c, k),
    "resnet56": lambda c, k, s: CifarResNet(56, c, k),
    "resnet32-plain": lambda c, k, s: CifarResNet(32, c, k, shortcuts=False),
    "fixup-resnet32": lambda c, k, s: FixupResNet(32, c, k),
    "pyramidnet": lambda c, k, s: PyramidNet(c, k, depth=20, alpha=48),
    "vgg16": lambda c, k, s: VGG(c, k),
    "resnet50": build_resnet50,
    "vit-tiny": lambda c, k, s: ViTTiny(c, k, s),
}


def build_model(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """A freshly initialised model for ``in_channels`` x ``image_size`` x ``image_size`` inputs.

    Args:
        name: one of ``MODEL_NAMES``, or ``timm:<name>`` for any timm model.
        in_channels: input channels (1 or 3).
        num_classes: number of output logits.
        image_size: input height = width; convnet4 sizes its classifier from it, resnet50
            picks its stem from it, the CIFAR nets pool globally and accept any size.

    Raises:
        ValueError: unknown name, or a non-positive size.
    """
    builder = _BUILDERS.get(name)
    if builder is None and name.startswith(TIMM_PREFIX):
        builder = partial(build_timm, name[len(TIMM_PREFIX) :])
    if builder is None:
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}, or "
            "timm:<name> (any timm model)"
        )
    for arg, value in (
        ("in_channels", in_channels),
        ("num_classes", num_classes),
        ("image_size", image_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{arg} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{arg} must be at least 1, got {value}")
    return builder(in_channels, num_classes, image_size)
