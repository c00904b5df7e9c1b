"""Seeded, stratified, exactly sized splits of a labelled set (pure functions of tensors)."""

from __future__ import annotations

import math

import torch


def stratified_split(
    labels: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split sample indices into (kept, held-out), stratified by label.

    The held-out part has exactly ``floor(fraction * n + 0.5)`` samples. They are allotted to
    the classes in proportion to class sizes by the largest-remainder rule (ties go to the
    lower class label) and drawn uniformly within each class with a CPU generator seeded
    with ``seed``, so the split depends only on ``labels``, ``fraction`` and ``seed``.

    Args:
        labels: (N,) integer labels.
        fraction: share to hold out, in [0, 1].
        seed: seed of the draw.

    Returns:
        kept, held: sorted (N - k,) and (k,) int64 index tensors, disjoint, covering 0..N-1.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    labels = labels.cpu()
    n = labels.numel()
    n_held = min(n, math.floor(fraction * n + 0.5))
    held_mask = torch.zeros(n, dtype=torch.bool)
    if n_held > 0:
        classes, counts = torch.unique(labels, return_counts=True)  # sorted classes
        quota = counts.double() * n_held / n
        take = quota.floor().long()
        remainder = quota - take
        extra = n_held - int(take.sum())
        # argsort is stable, so equal remainders keep class order.
        take[torch.argsort(-remainder, stable=True)[:extra]] += 1
        generator = torch.Generator().manual_seed(seed)
        for cls, k in zip(classes.tolist(), take.tolist(), strict=True):
            members = (labels == cls).nonzero().flatten()
            chosen = members[torch.randperm(members.numel(), generator=generator)[:k]]
            held_mask[chosen] = True
    indices = torch.arange(n)
    return indices[~held_mask], indices[held_mask]
