"""``vit-tiny``: a small vision transformer for 28/32-pixel images, trained from scratch on a CPU.

Patches of 4×4 pixels (49 tokens at 28 px, 64 at 32 px) are embedded to 96 dimensions by a
strided convolution, with a learned position embedding. Four pre-norm blocks follow, each
multi-head self-attention (3 heads) and an MLP (96 → 192 → 96) with a GELU between, both with
residual connections; the tokens are averaged, normalised and classified. About 0.3M
parameters. The activation sites are the four ``nn.GELU`` modules, one per block: GELU is
positive exactly where its input is, so its pattern is a ReLU's (docs/algorithm.md §1).
"""

from __future__ import annotations

import torch
from torch import nn

PATCH = 4


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class ViTTiny(nn.Module):
    """A 4-block vision transformer of width 96 for ``image_size`` ≥ 4 pixels.

    Args:
        in_channels: input channels.
        num_classes: output logits.
        image_size: input height = width; the patch grid is ``image_size // 4`` square (a
            remainder of fewer than 4 pixels is not seen, as by any strided patch embedding).
        dim, depth, heads, mlp_ratio: the transformer's width, blocks, attention heads and
            MLP hidden width over ``dim``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        dim: int = 96,
        depth: int = 4,
        heads: int = 3,
        mlp_ratio: int = 2,
    ) -> None:
        super().__init__()
        if image_size < PATCH:
            raise ValueError(f"vit-tiny needs images of at least {PATCH}x{PATCH}, got {image_size}")
        grid = image_size // PATCH
        self.embed = nn.Conv2d(in_channels, dim, PATCH, stride=PATCH)
        self.position = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, dim * mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.position  # (B, N, dim)
        return self.head(self.norm(self.blocks(tokens).mean(dim=1)))
