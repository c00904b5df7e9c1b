"""Slow, obviously correct reference computations for testing the fast path (docs/algorithm.md §1).

These loop over sites, samples and elements in plain Python and read like the definitions.
They are for tests and for readers, not for training loops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

__all__ = [
    "reference_changed_counts",
    "reference_counts",
    "reference_granularity_temperatures",
    "reference_temperatures",
]


def reference_changed_counts(before: Sequence[Tensor], after: Sequence[Tensor]) -> list[int]:
    """Per site, the number of samples with at least one activation whose sign bit differs.

    Args:
        before: one tensor per site, the ReLU *outputs* at θ_t, each ``(B, ...)``.
        after: the same sites' outputs at θ_{t+1} on the same inputs.
    """
    counts = []
    for out_t, out_t1 in zip(before, after, strict=True):
        changed = 0
        for b in range(out_t.shape[0]):
            sample_t = out_t[b].flatten().tolist()
            sample_t1 = out_t1[b].flatten().tolist()
            if any((x > 0) != (y > 0) for x, y in zip(sample_t, sample_t1, strict=True)):
                changed += 1
        counts.append(changed)
    return counts


def reference_temperatures(counts: Sequence[int], batch_size: int) -> list[float]:
    """``T = −log2(1 − P)`` per site with ``P = 1 − 1/(2B)`` when every sample changed."""
    temps = []
    for c in counts:
        p = c / batch_size
        if c == batch_size:
            p = 1 - 1 / (2 * batch_size)
        temps.append(-math.log2(1 - p) if p > 0 else 0.0)
    return temps


def reference_counts(
    before: Sequence[Tensor], after: Sequence[Tensor], kind: str
) -> tuple[list[int], list[int]]:
    """Per site, (changed, total) for granularity ``kind``, by looping over the definitions.

    - ``sample``: a pattern is all units of one sample;
    - ``position``: a pattern is the vector over dim 1 (channels) at one index of the dims
      after it, per sample; a ``(B, F)`` output has one position per sample;
    - ``unit``: every unit is counted on its own (changed units, units).
    """
    changed_all, totals = [], []
    for out_t, out_t1 in zip(before, after, strict=True):
        flips = [
            [(x > 0) != (y > 0) for x, y in zip(a.tolist(), b.tolist(), strict=True)]
            for a, b in zip(_positions(out_t), _positions(out_t1), strict=True)
        ]  # one list of per-unit flips per (sample, position)
        if kind == "unit":
            changed = sum(sum(f) for f in flips)
            total = sum(len(f) for f in flips)
        elif kind == "position":
            changed = sum(any(f) for f in flips)
            total = len(flips)
        elif kind == "sample":
            per_sample = len(flips) // out_t.shape[0]
            changed = sum(
                any(any(f) for f in flips[b * per_sample : (b + 1) * per_sample])
                for b in range(out_t.shape[0])
            )
            total = out_t.shape[0]
        else:
            raise ValueError(f"unknown granularity {kind!r}")
        changed_all.append(changed)
        totals.append(total)
    return changed_all, totals


def _positions(out: Tensor) -> list[Tensor]:
    """The channel vectors of ``out``: one per (sample, index after dim 1), in sample order."""
    vectors = []
    for b in range(out.shape[0]):
        sample = out[b]
        if sample.dim() <= 1:
            vectors.append(sample.flatten())
            continue
        channels = sample.shape[0]
        flat = sample.reshape(channels, -1)
        for j in range(flat.shape[1]):
            vectors.append(flat[:, j])
    return vectors


def reference_granularity_temperatures(
    changed: Sequence[int], totals: Sequence[int], pattern_length: int = 1
) -> list[float]:
    """``T = −L·log2(1 − q)`` per site, ``q = c/n`` clipped to ``1 − 1/(2n)``; L = 1 for patterns."""
    temps = []
    for c, n in zip(changed, totals, strict=True):
        q = c / n
        if c == n:
            q = 1 - 1 / (2 * n)
        temps.append(-pattern_length * math.log2(1 - q) if q > 0 else 0.0)
    return temps
