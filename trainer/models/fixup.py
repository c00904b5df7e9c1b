"""Fixup ResNet-32 for CIFAR (Zhang, Dauphin & Ma 2019, "Fixup Initialization").

The CIFAR ResNet-32 layout of ``resnet_cifar`` without any normalisation layer. Following
the paper (section 3, and the authors' ``fixup_resnet_cifar.py``):

- each residual branch is ``conv(x + b1a) -> ReLU(. + b1b) -> conv(. + b2a) * s + b2b``
  with scalar biases ``b*`` initialised to 0 and a scalar multiplier ``s`` initialised to 1;
- the first convolution of each branch is He-initialised and rescaled by ``L^(-1/2)``
  (``L`` = number of residual branches, each with m = 2 layers: ``L^(-1/(2m-2))``);
- the last convolution of each branch and the classifier (weight and bias) are zero,
  so every branch outputs exactly 0 at initialisation and so do all logits.

Shortcuts are option A (subsample, zero-pad channels), as in the authors' code.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .resnet_cifar import PadShortcut


class FixupBasicBlock(nn.Module):
    """Fixup basic block; ``branch(x)`` is the residual branch alone."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bias1a = nn.Parameter(torch.zeros(1))
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bias1b = nn.Parameter(torch.zeros(1))
        self.relu1 = nn.ReLU()
        self.bias2a = nn.Parameter(torch.zeros(1))
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        self.bias2b = nn.Parameter(torch.zeros(1))
        self.relu2 = nn.ReLU()
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = PadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.conv1(x + self.bias1a) + self.bias1b)
        return self.conv2(out + self.bias2a) * self.scale + self.bias2b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The authors' code feeds the shortcut x + bias1a as well (only where it downsamples;
        # we do it everywhere for a uniform block: at init bias1a = 0, so nothing changes).
        return self.relu2(self.branch(x) + self.shortcut(x + self.bias1a))


class FixupResNet(nn.Module):
    """Fixup ResNet-(6n+2) without BatchNorm; see the module docstring for the init."""

    def __init__(self, depth: int, in_channels: int, num_classes: int):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"Fixup ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bias1 = nn.Parameter(torch.zeros(1))
        self.relu = nn.ReLU()
        blocks: list[FixupBasicBlock] = []
        channels = 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(FixupBasicBlock(channels, width, 2 if stage > 0 and i == 0 else 1))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.bias2 = nn.Parameter(torch.zeros(1))
        self.fc = nn.Linear(64, num_classes)

        num_branches = len(blocks)
        for block in blocks:
            w = block.conv1.weight  # (out, in, 3, 3)
            std = math.sqrt(2.0 / (w.shape[0] * w.shape[2] * w.shape[3]))
            nn.init.normal_(w, mean=0.0, std=std * num_branches**-0.5)
            nn.init.zeros_(block.conv2.weight)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x) + self.bias1)  # (B, 16, S, S)
        x = self.blocks(x)  # (B, 64, S/4, S/4)
        return self.fc(torch.flatten(self.pool(x), 1) + self.bias2)
