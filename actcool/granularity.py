"""What one activation "pattern" is, and a site's temperature from what was counted.

The paper's "probability of an activation pattern change" leaves open how a site's output splits
into patterns (docs/algorithm.md, "Granularity"). Every granularity here is computed from the
same two forward passes; they differ only in what is counted per site:

- ``sample``: one pattern = every unit of one sample (the literal reading). Counter ``samples``:
  changed samples out of B. Saturates at ``log2(2B)`` bits on conv sites.
- ``position``: one pattern = the channel vector at one (sample, row, column) of a conv output
  ``(B, C, H, W)``; for a ``(B, F)`` output it equals ``sample``. Counter ``positions``: changed
  positions out of ``B·H·W``.
- ``unit`` with pattern length L (default 64): counter ``bits``, the fraction q of flipped bits;
  the temperature is that of an L-unit pattern whose units flip independently,
  ``T = −L·log2(1 − q)``. It does not depend on the site's width and has no practical cap.

For the pattern granularities ``T = −log2(1 − P)`` with ``P`` = changed / total, and when every
pattern changed half a pattern counts as unchanged (``P = 1 − 1/(2n)``), so the cap is
``log2(2n)``. ``unit`` clips q the same way, to ``1 − 1/(2·bits)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "COUNTERS",
    "DEFAULT_GRANULARITY",
    "DEFAULT_PATTERN_LENGTH",
    "GRANULARITY_KINDS",
    "Granularity",
    "counted_temperatures",
]

#: What a compare pass can count per site, in the order the probe reports them.
COUNTERS: tuple[str, ...] = ("samples", "positions", "bits")
GRANULARITY_KINDS: tuple[str, ...] = ("sample", "position", "unit")
#: L of ``unit``: 64 independent units make a pattern (research: unit-64 tracks 1-cycle).
DEFAULT_PATTERN_LENGTH = 64
_COUNTER_OF = {"sample": "samples", "position": "positions", "unit": "bits"}


@dataclass(frozen=True)
class Granularity:
    """One reading of "pattern": ``kind`` in ``sample | position | unit``, and L for ``unit``.

    ``str(g)`` is ``"sample"``, ``"position"`` or ``"unit:64"``; :meth:`parse` reads that back.
    """

    kind: str = "unit"
    pattern_length: int = DEFAULT_PATTERN_LENGTH

    def __post_init__(self) -> None:
        if self.kind not in GRANULARITY_KINDS:
            raise ValueError(
                f"unknown granularity {self.kind!r}; choose one of: {', '.join(GRANULARITY_KINDS)}"
            )
        length = self.pattern_length
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"pattern_length must be a positive integer, got {length!r}")
        if self.kind != "unit":
            # L only means something for `unit`; normalise so equal granularities compare equal.
            object.__setattr__(self, "pattern_length", 1)

    @classmethod
    def parse(cls, value: str | Granularity, pattern_length: int | None = None) -> Granularity:
        """``"unit"``, ``"unit:32"``, ``"sample"``, ``"position"`` or a :class:`Granularity`.

        ``pattern_length`` overrides L (only with ``unit``; an error with the others).
        """
        if isinstance(value, Granularity):
            g = value
        elif isinstance(value, str):
            kind, _, length = value.strip().partition(":")
            if length and kind != "unit":
                raise ValueError(f"only 'unit' takes a pattern length, got {value!r}")
            try:
                n = int(length) if length else DEFAULT_PATTERN_LENGTH
            except ValueError:
                raise ValueError(
                    f"bad granularity {value!r}: the pattern length after ':' must be an integer"
                ) from None
            g = cls(kind, n)
        else:
            raise TypeError(
                f"granularity must be a string like 'unit:64' or a Granularity, "
                f"got {type(value).__name__}"
            )
        if pattern_length is not None:
            if g.kind != "unit":
                raise ValueError(
                    f"pattern_length applies to granularity 'unit' only, not {g.kind!r}"
                )
            g = cls("unit", pattern_length)
        return g

    def __str__(self) -> str:
        return f"unit:{self.pattern_length}" if self.kind == "unit" else self.kind

    @property
    def counter(self) -> str:
        """What is counted per site: ``samples``, ``positions`` or ``bits``."""
        return _COUNTER_OF[self.kind]

    @property
    def unit(self) -> str:
        """What the counts count, for labels: ``patterns`` or ``bits``."""
        return "bits" if self.kind == "unit" else "patterns"

    def temperatures(self, changed: ArrayLike, total: ArrayLike) -> NDArray[np.float64]:
        """Temperatures in bits from this granularity's counts (any shape, broadcast)."""
        return counted_temperatures(changed, total, self.pattern_length)

    def resolution(self, total: ArrayLike) -> NDArray[np.int64]:
        """Number of independent patterns measured: ``total`` patterns, or ``bits // L``.

        ``1/(2·resolution)`` is the smallest change probability the measurement can tell
        from 0 (and from 1): the clip of the Gaussian model's ``Φ⁻¹``.
        """
        n = np.asarray(total, dtype=np.int64)
        return np.maximum(n // self.pattern_length, 1) if self.kind == "unit" else n

    def cap(self, total: int) -> float | None:
        """The largest temperature a site with ``total`` patterns can show; ``None`` for unit."""
        return None if self.kind == "unit" else math.log2(2 * total)


DEFAULT_GRANULARITY = Granularity()


def counted_temperatures(
    changed: ArrayLike, total: ArrayLike, pattern_length: int = 1
) -> NDArray[np.float64]:
    """``T = −L·log2(1 − min(c/n, 1 − 1/(2n)))`` in bits, element-wise.

    ``L = 1`` gives a pattern granularity's temperature (cap ``log2(2n)``); ``L > 1`` the unit
    granularity's, with ``c``, ``n`` the flipped and measured bits.

    Raises:
        ValueError: a total below 1, or a count outside ``[0, total]``.
    """
    c = np.asarray(changed, dtype=np.float64)
    n = np.asarray(total, dtype=np.float64)
    if np.any(n < 1):
        raise ValueError(f"totals must be >= 1, got {np.asarray(total)!r}")
    if np.any(c < 0) or np.any(c > n):
        raise ValueError(
            f"changed counts must lie in [0, total], got {np.asarray(changed)!r} of "
            f"{np.asarray(total)!r}"
        )
    q = np.minimum(c / n, 1.0 - 0.5 / n)
    return -pattern_length * np.log2(1.0 - q) + 0.0  # + 0.0: report -0.0 as 0
