"""The numbers of the reproduction report: loaded runs in, plain dicts of numbers and verdicts out.

No store, no plots, no sentences: :mod:`benchmarks.report` loads the runs of the plan of
:mod:`benchmarks.plan` into :class:`Run` objects, calls :func:`compute`, and renders what
comes back (``REPORT.md``, the PNGs, ``results.json``). Every function here accepts a partial
reproduction: a section whose runs are missing gets ``None`` numbers and verdicts, and lists
the plan keys it is waiting for under ``"missing"``.

A verdict is ``True`` (goal met), ``False`` (missed) or ``None`` (not enough data to say).
The statistics come from :mod:`benchmarks.analysis`. One module per family of figures:
``errors`` (test error against the references: sections 1, 2, 3 and 7), ``temperature``
(tracking and the γ sweep: 4 and 5), ``claims`` (the paper's claims: 6); ``runs`` holds the
loaded run and what they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .claims import claims, depth, drift, fit_comparison, linearity
from .errors import baselines, cifar, no_tuning, replay
from .runs import (
    SMOOTH,
    Run,
    best_onecycle_keys,
    expected_keys,
    grid_best,
    setup_name,
    setups,
    stat,
)
from .temperature import gamma, gamma_keys, run_tracking, tracking

__all__ = [
    "SMOOTH",
    "Run",
    "baselines",
    "best_onecycle_keys",
    "cifar",
    "claims",
    "compute",
    "depth",
    "drift",
    "expected_keys",
    "fit_comparison",
    "gamma",
    "gamma_keys",
    "grid_best",
    "linearity",
    "no_tuning",
    "replay",
    "run_tracking",
    "setup_name",
    "setups",
    "stat",
    "tracking",
]


def compute(loaded: list[Run], plan: Sequence) -> dict[str, Any]:
    """Every section's numbers, keyed as in ``results.json``."""
    runs = {r.key: r for r in loaded}
    base = baselines(runs, plan)
    rep = replay(runs)
    return {
        "setups": setups(plan),
        "baselines": base,
        "no_tuning": no_tuning(runs, base),
        "replay": rep,
        "tracking": tracking(runs),
        "gamma": gamma(runs),
        "claims": claims(runs, plan, base),
        "cifar": cifar(runs, plan, rep),
    }
