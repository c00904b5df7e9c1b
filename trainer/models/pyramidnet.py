"""A small CIFAR PyramidNet (Han, Kim & Kim 2017, "Deep Pyramidal Residual Networks").

Additive widening: the stem has 16 channels and every one of the ``N = 3n`` basic blocks
(``n = (depth - 2) / 6`` per stage) adds ``alpha / N`` channels, rounded, so the last block
has ``16 + alpha`` channels. The default depth 20 with alpha 48 widens 16 -> 64.

Basic block, without bottleneck (the paper's Fig. 6d): BN-conv3x3-BN-ReLU-conv3x3-BN, no
ReLU after the addition. Shortcut: identity (2x2 average pooling where the block halves the
resolution) with the extra channels zero-padded. After the last block: BN-ReLU, global
average pooling, linear classifier. ReLU sites: one per block plus the final one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PyramidBlock(nn.Module):
    """Pyramidal basic block; ``out_channels >= in_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.extra = out_channels - in_channels
        # ceil_mode matches the stride-2 convolution's output size on odd inputs.
        self.down = nn.AvgPool2d(2, 2, ceil_mode=True) if stride != 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn2(self.conv1(self.bn1(x))))
        out = self.bn3(self.conv2(out))
        shortcut = F.pad(self.down(x), (0, 0, 0, 0, 0, self.extra))  # zero channels appended
        return out + shortcut


class PyramidNet(nn.Module):
    """PyramidNet-(6n+2) with additive widening ``alpha`` and basic blocks.

    Args:
        in_channels, num_classes: input channels and number of logits.
        depth: 6n+2 (20 by default: three blocks per stage).
        alpha: total number of channels added over all blocks (48 by default).
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int = 20, alpha: int = 48):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"PyramidNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        add_rate = alpha / (3 * n)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks: list[nn.Module] = []
        width = 16.0
        channels = 16
        for stage in range(3):
            for i in range(n):
                width += add_rate
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(PyramidBlock(channels, int(round(width)), stride))
                channels = int(round(width))
        self.blocks = nn.Sequential(*blocks)
        self.bn_final = nn.BatchNorm2d(channels)
        self.relu_final = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))  # (B, 16, S, S); no ReLU in the stem
        x = self.blocks(x)  # (B, 16 + alpha, S/4, S/4)
        x = self.relu_final(self.bn_final(x))
        return self.fc(torch.flatten(self.pool(x), 1))
