"""CIFAR ResNets of He et al. 2016 ("Deep Residual Learning", section 4.2), and plain twins.

ResNet-(6n+2): a 3x3 stem with 16 channels, then three stages of ``n`` basic blocks with
16, 32 and 64 channels (the first block of stages 2 and 3 halves the resolution), global
average pooling and one linear classifier. resnet20/32/56 use n = 3/5/9.

Shortcuts are **option A** of the paper: identity, and where a block changes shape the
input is subsampled by 2 and zero-padded with the missing channels, so shortcuts add no
parameters. ``resnet32-plain`` is the same network without any shortcut (the paper's
"plain" baseline). Each block owns two ``nn.ReLU`` modules, one per ReLU site.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra > 0:
            # Pad the channel dimension: F.pad reads pairs from the last dimension backwards.
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the (optional) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        if not shortcut:
            self.shortcut = None
        elif stride != 1 or in_channels != out_channels:
            self.shortcut = PadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu2(out)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images (any size; global average pooling before the classifier).

    Args:
        depth: 6n+2 (20, 32, 44, 56, 110, ...).
        in_channels, num_classes: input channels and number of logits.
        shortcuts: False builds the plain network of the same depth.
    """

    def __init__(self, depth: int, in_channels: int, num_classes: int, shortcuts: bool = True):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        blocks: list[nn.Module] = []
        channels = 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(channels, width, stride, shortcuts))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 16, S, S)
        x = self.blocks(x)  # (B, 64, S/4, S/4)
        return self.fc(torch.flatten(self.pool(x), 1))
