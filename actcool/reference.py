"""Slow, obviously correct reference computations for testing the fast path (SPEC §1).

These loop over sites, samples and elements in plain Python and read like the definitions.
They are for tests and for readers, not for training loops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

__all__ = ["reference_changed_counts", "reference_temperatures"]


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
