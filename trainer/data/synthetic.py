"""Deterministic synthetic images for tests and dry runs: no files, learnable by design.

Each of the 10 classes has a smooth prototype pattern (random values on a 4x4 grid per
channel, bilinearly upsampled); an image is its class prototype plus independent pixel
noise, quantised to uint8. A nearest-class-mean rule already classifies almost all of
them, so a model that trains at all fits them quickly. The data depend only on the shape.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .bundle import RawDataset, channel_stats

DEFAULT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
TRAIN_SIZE = 1000
TEST_SIZE = 200
DATA_SEED = 1234
SIGNAL = 48.0  # grey levels per unit of prototype
NOISE = 32.0  # grey levels of pixel noise (std)


def parse_synthetic_name(name: str) -> tuple[int, int, int]:
    """``synthetic`` -> (3, 32, 32); ``synthetic:CxHxW`` (H = W, C in 1..4) -> (C, H, W)."""
    if name == "synthetic":
        return DEFAULT_SHAPE
    match = re.fullmatch(r"synthetic:(\d+)x(\d+)x(\d+)", name)
    if match is None:
        raise ConfigError(
            f"bad synthetic dataset name {name!r}; use 'synthetic' or 'synthetic:CxHxW', e.g. synthetic:1x8x8"
        )
    c, h, w = (int(g) for g in match.groups())
    if h != w or not 1 <= c <= 4 or h < 1:
        raise ConfigError(
            f"bad synthetic shape in {name!r}: need square images (H = W >= 1) and 1 to 4 channels"
        )
    return c, h, w


def load_synthetic_raw(name: str) -> RawDataset:
    c, h, w = parse_synthetic_name(name)
    g = torch.Generator().manual_seed(DATA_SEED)
    grid = torch.randn(NUM_CLASSES, c, 4, 4, generator=g)
    prototypes = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % NUM_CLASSES
        labels = labels[torch.randperm(n, generator=g)]
        noise = torch.randn(n, c, h, w, generator=g)
        pixels = 128.0 + SIGNAL * prototypes[labels] + NOISE * noise
        return pixels.round().clamp(0, 255).to(torch.uint8), labels

    train_images, train_labels = draw(TRAIN_SIZE)
    test_images, test_labels = draw(TEST_SIZE)
    mean, std = channel_stats(train_images)
    return RawDataset(
        name=name,
        class_names=tuple(f"class{k}" for k in range(NUM_CLASSES)),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        mean=mean,
        std=std,
        augment=False,
        source=f"synthetic {c}x{h}x{w}, seed {DATA_SEED}",
        crop_padding=max(1, h // 8),
    )
