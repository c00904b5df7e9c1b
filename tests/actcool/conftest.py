"""Tiny deterministic ReLU models for the actcool tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class BNDropNet(nn.Module):
    """Conv + BatchNorm + ReLU, dropout, then two linear layers: 3 ReLU sites."""

    def __init__(self, in_ch: int = 1, classes: int = 3, p: float = 0.3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu1 = nn.ReLU()
        self.drop = nn.Dropout(p)
        self.fc1 = nn.Linear(6 * 8 * 8, 24)
        self.relu2 = nn.ReLU()
        self.fc2 = nn.Linear(24, 16)
        self.relu3 = nn.ReLU(inplace=True)
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor, collect: list | None = None) -> torch.Tensor:
        h = self.relu1(self.bn(self.conv(x)))
        if collect is not None:
            collect.append(h.detach().clone())
        h = self.drop(h.flatten(1))
        h = self.relu2(self.fc1(h))
        if collect is not None:
            collect.append(h.detach().clone())
        h = self.relu3(self.fc2(h))
        if collect is not None:
            collect.append(h.detach().clone())
        return self.head(h)


class GELUNet(BNDropNet):
    """:class:`BNDropNet` with GELU activations: its sites are read by comparison, not cast."""

    activation = nn.GELU

    def __init__(self) -> None:
        super().__init__()
        self.relu1, self.relu2, self.relu3 = (self.activation() for _ in range(3))


class SiLUNet(GELUNet):
    """:class:`BNDropNet` with SiLU activations."""

    activation = nn.SiLU


class TransformerNet(nn.Module):
    """torch's own encoder layers built with ``activation="gelu"`` (``F.gelu``, no activation
    module; dropout in attention and MLP): the sites are the layers' ``linear1``. With
    ``collect`` the layers run step by step (the same submodules in the same order, so the same
    numbers and random draws) to collect each ``linear1`` output, the activation's input."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            8, 2, dim_feedforward=16, dropout=0.1, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, collect: list | None = None) -> torch.Tensor:
        h = x.flatten(1).view(x.shape[0], 8, -1)  # (B, 1, 8, 8) images: 8 tokens of 8
        if collect is None:
            h = self.encoder(h)
        else:
            for layer in self.encoder.layers:
                h = layer.norm1(h + layer._sa_block(h, None, None))
                pre = layer.linear1(h)
                collect.append(pre.detach().clone())
                ff = layer.linear2(layer.dropout(layer.activation(pre)))
                h = layer.norm2(h + layer.dropout2(ff))
        return self.head(h.mean(1))


class ReuseNet(nn.Module):
    """One ``nn.ReLU`` object called twice (two sites), BatchNorm and dropout between."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 20)
        self.bn = nn.BatchNorm1d(20)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(20, 20)
        self.head = nn.Linear(20, 3)

    def forward(self, x: torch.Tensor, collect: list | None = None) -> torch.Tensor:
        h = self.act(self.bn(self.fc1(x)))
        if collect is not None:
            collect.append(h.detach().clone())
        h = self.act(self.fc2(self.drop(h)))
        if collect is not None:
            collect.append(h.detach().clone())
        return self.head(h)


class MixedNet(nn.Module):
    """Every kind of site at once: a conv site and a linear site sharing one reused ``nn.ReLU``
    (two sites), BatchNorm, dropout, and a second conv site of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 3, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(3 * 4 * 4, 10)
        self.head = nn.Linear(10, 3)

    def forward(self, x: torch.Tensor, collect: list | None = None) -> torch.Tensor:
        h = self.act(self.bn(self.conv1(x)))  # site "act": (B, 4, 8, 8)
        if collect is not None:
            collect.append(h.detach().clone())
        h = self.relu2(self.conv2(h))  # site "relu2": (B, 3, 4, 4)
        if collect is not None:
            collect.append(h.detach().clone())
        h = self.act(self.fc(self.drop(h.flatten(1))))  # site "act#1": (B, 10)
        if collect is not None:
            collect.append(h.detach().clone())
        return self.head(h)


@pytest.fixture
def image_batches():
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 3, (16,), generator=g))
        for _ in range(6)
    ]


@pytest.fixture
def vector_batches():
    g = torch.Generator().manual_seed(2)
    return [
        (torch.randn(24, 12, generator=g), torch.randint(0, 3, (24,), generator=g))
        for _ in range(6)
    ]


def train_step(model, optimizer, x, y, scheduler_or_monitor=None):
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if scheduler_or_monitor is not None:
        return scheduler_or_monitor.step(x)
    return None
