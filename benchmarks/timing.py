"""A/B timing that samples the noise: alternate short blocks, report the median ratio."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

#: What :func:`alternate` can time with: ``wall`` (the default: what a user waits for) or
#: ``thread``, the CPU time of the calling thread, which leaves out time spent waiting for
#: other processes on a shared machine (use it with torch on one thread, where it equals the
#: wall time of an idle machine).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "thread": time.thread_time}


@dataclass(frozen=True)
class Ratio:
    """Median of per-block ratios A/B with the 10th-90th percentile spread."""

    median: float
    low: float
    high: float
    a_seconds: float  # median seconds per call of A
    b_seconds: float
    blocks: int


def alternate(
    a: Callable[[], object],
    b: Callable[[], object],
    blocks: int,
    calls: int = 1,
    setup: dict[Callable[[], object], Callable[[], object]] | None = None,
    minus: Callable[[], object] | None = None,
    clock: str = "wall",
) -> Ratio:
    """Time ``calls`` calls of ``a`` then of ``b``, ``blocks`` times, rotating which goes first.

    Alternating in short blocks spreads slow drifts (thermal, other processes) over both sides;
    the median ratio of paired blocks is robust to single outliers. ``setup[fn]``, if given,
    runs untimed before each timed call of ``fn``. With ``minus``, it is timed in the same
    blocks and each block's ratio is ``(a - minus) / b``: the cost ``a`` adds to ``minus``.
    ``clock`` names one of :data:`CLOCKS`.
    """
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; choose one of: {', '.join(CLOCKS)}")
    now = CLOCKS[clock]
    setup = setup or {}
    fns = (a, b) if minus is None else (a, b, minus)
    ratios, ta, tb = [], [], []
    for i in range(blocks):
        k = i % len(fns)
        order = fns[k:] + fns[:k]
        spent = {}
        for fn in order:
            total = 0.0
            for _ in range(calls):
                if fn in setup:
                    setup[fn]()
                start = now()
                fn()
                total += now() - start
            spent[fn] = total / calls
        ta.append(spent[a])
        tb.append(spent[b])
        extra = spent[a] - spent[minus] if minus is not None else spent[a]
        ratios.append(extra / spent[b])
    ratios.sort()
    q = statistics.quantiles(ratios, n=10) if len(ratios) >= 2 else [ratios[0]] * 9
    return Ratio(
        median=statistics.median(ratios),
        low=q[0],
        high=q[-1],
        a_seconds=statistics.median(ta),
        b_seconds=statistics.median(tb),
        blocks=blocks,
    )


def figure(name: str, value: float, unit: str, goal: str, ok: bool, **extra: object) -> dict:
    """One benchmark figure, printed as a JSON line."""
    row = {"figure": name, "value": value, "unit": unit, "goal": goal, "ok": bool(ok), **extra}
    print(json.dumps(row), flush=True)
    return row
