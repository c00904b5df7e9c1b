"""CIFAR VGG-16 with BatchNorm (Simonyan & Zisserman 2015, configuration D).

Thirteen 3x3 convolutions, each followed by BatchNorm and its own ``nn.ReLU``, with 2x2
max-pooling after each of the five stages, then global average pooling and a single linear
classifier (512 -> classes), the usual CIFAR adaptation. The pools use ``ceil_mode`` so
that inputs smaller than 32 pixels (down to 1x1 after a few stages) still work.
"""

from __future__ import annotations

import torch
from torch import nn

# Channels per convolution; "M" is a 2x2 max-pool.
VGG16_LAYERS: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


class VGG(nn.Module):
    """VGG with BatchNorm for small images; ``layers`` as in ``VGG16_LAYERS``."""

    def __init__(self, in_channels: int, num_classes: int, layers=VGG16_LAYERS):
        super().__init__()
        features: list[nn.Module] = []
        channels = in_channels
        for item in layers:
            if item == "M":
                features.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                features += [
                    nn.Conv2d(channels, int(item), 3, padding=1, bias=False),
                    nn.BatchNorm2d(int(item)),
                    nn.ReLU(),
                ]
                channels = int(item)
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 512, ceil(S/32), ceil(S/32))
        return self.classifier(torch.flatten(self.pool(x), 1))
