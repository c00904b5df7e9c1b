"""The 4-layer ConvNet that ActCooLR trains on Fashion-MNIST.

Two convolution layers (5x5, 32 and 64 channels, each followed by BatchNorm, ReLU and 2x2
max-pooling) and two fully connected layers (a 128-unit hidden layer with ReLU, then the
classifier). Every ReLU is its own ``nn.ReLU`` module so that activation-pattern hooks see
all three ReLU sites.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNet4(nn.Module):
    """4-layer ConvNet: conv-BN-ReLU-pool, conv-BN-ReLU-pool, fc-ReLU, fc.

    Args:
        in_channels: channels of the input images (1 for Fashion-MNIST and digits).
        num_classes: number of output logits.
        image_size: height = width of the input images; the convolutions keep the size
            ("same" padding) and each pooling halves it (rounding down), so any size >= 4
            works, including scikit-learn's 8x8 digits.
        hidden: width of the hidden fully connected layer.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, hidden: int = 128):
        super().__init__()
        if image_size < 4:
            raise ValueError(f"convnet4 needs images of at least 4x4 pixels, got {image_size}")
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        side = image_size // 2 // 2
        self.fc1 = nn.Linear(64 * side * side, hidden)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))  # (B, 32, S/2, S/2)
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))  # (B, 64, S/4, S/4)
        x = self.relu3(self.fc1(torch.flatten(x, 1)))  # (B, hidden)
        return self.fc2(x)
