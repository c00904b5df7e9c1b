"""Epoch plans and batch augmentation as pure functions of tensors and a torch.Generator.

An epoch is fully described by its *plan*, drawn from the generator in one go when the
epoch starts: the sample order (a permutation, or 0..N-1 unshuffled) and, when augmenting,
one crop offset pair and one flip bit per position in that order. Batch ``b`` is positions
``b * batch_size`` to ``(b + 1) * batch_size`` of the plan, so the batches from any
``start_batch`` on are identical to those of an uninterrupted epoch that started from the
same generator state. ``epoch_generator(seed, epoch)`` gives that state without having to
save the generator: a resumed run just rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator whose state depends only on ``(seed, epoch)`` (well mixed, not seed+epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def count_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch over ``n`` samples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)


@dataclass(frozen=True, eq=False)
class EpochPlan:
    """Order and augmentation parameters for one epoch; all (N,) tensors on the CPU."""

    order: torch.Tensor  # int64 sample indices, in visiting order
    offsets: torch.Tensor | None = None  # (2, N) int64 crop offsets (dy, dx) in [0, 2 * padding]
    flips: torch.Tensor | None = None  # (N,) bool: flip horizontally


def draw_plan(
    n: int, shuffle: bool, augment: bool, padding: int, generator: torch.Generator | None
) -> EpochPlan:
    """Draw an epoch plan; the generator is consumed here, in this order: order, offsets, flips."""
    if (shuffle or augment) and generator is None:
        raise ValueError("shuffling or augmenting needs a torch.Generator (see epoch_generator)")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if not augment:
        return EpochPlan(order)
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flips = torch.randint(0, 2, (n,), generator=generator).bool()
    return EpochPlan(order, offsets, flips)


def crop_flip(
    images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int
) -> torch.Tensor:
    """Random-crop-with-zero-padding and horizontal flip of a whole batch, by one gather.

    Equivalent per sample to ``F.pad(img, [padding] * 4)[:, dy:dy + H, dx:dx + W]``, then
    flipped left-right where ``flips`` is set (torchvision's ``RandomCrop(H, padding)`` then
    ``RandomHorizontalFlip``). Works on uint8 or float images.

    Args:
        images: (B, C, H, W).
        offsets: (2, B) int64 crop offsets (dy, dx), each in [0, 2 * padding].
        flips: (B,) bool.
        padding: zero border added on every side before cropping.

    Returns:
        (B, C, H, W) tensor of the same dtype and device.
    """
    b, c, h, w = images.shape
    device = images.device
    offsets, flips = offsets.to(device), flips.to(device)
    padded = F.pad(images, (padding, padding, padding, padding)).flatten(2)  # (B, C, (H+2p)(W+2p))
    rows = offsets[0, :, None] + torch.arange(h, device=device)  # (B, H)
    ar = torch.arange(w, device=device)
    cols = offsets[1, :, None] + torch.where(flips[:, None], w - 1 - ar, ar)  # (B, W)
    flat = rows[:, :, None] * (w + 2 * padding) + cols[:, None, :]  # (B, H, W)
    # One gather over the flattened padded image (faster than 4-D advanced indexing).
    out = padded.gather(2, flat.view(b, 1, h * w).expand(b, c, h * w))
    return out.view(b, c, h, w)
