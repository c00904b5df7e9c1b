"""A finished run of the plan as the figures read it, and what every family of figures shares:
statistics over seeds, a seed-0 rate grid and its best rate, the plan's setups and keys."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import best_of, spread
from ..plan import BASELINES, SEEDS

SMOOTH = 5  # measurements in the moving average of the T̄ curves (linearity, plots)


@dataclass
class Run:
    """A finished run of the plan with what the report reads from the store."""

    key: str
    group: str
    label: str
    seed: int
    id: str
    summary: dict
    config: dict
    steps: pd.DataFrame
    fits: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    site_names: list[str] = field(default_factory=list, repr=False)
    site_temperatures: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    replay_of: str | None = None

    @property
    def lr(self) -> float:
        return float(self.config.get("lr", float("nan")))

    @property
    def test_error(self) -> float:
        v = self.summary.get("test_error")
        return float(v) if v is not None else float("nan")

    @property
    def wall(self) -> float:
        v = self.summary.get("wall_time")
        return float(v) if v is not None else float("nan")

    @property
    def total_steps(self) -> float:
        total = self.summary.get("total_steps")
        if total:
            return float(total)
        return float(self.steps["step"].max() + 1) if len(self.steps) else float("nan")

    def measured(self) -> pd.DataFrame:
        """The measured steps with their fraction of training."""
        m = self.steps.dropna(subset=["mean_temperature"]).sort_values("step")
        return m.assign(fraction=m["step"].to_numpy() / self.total_steps)


# ----------------------------------------------------------------------------- helpers
def stat(by_seed: dict[int, float]) -> dict[str, Any]:
    """Mean and range over seeds, with the values per seed (JSON keys are strings)."""
    s = spread(list(by_seed.values()))
    return {
        "mean": _num(s.mean),
        "low": _num(s.low),
        "high": _num(s.high),
        "n": s.n,
        "by_seed": {str(k): _num(v) for k, v in sorted(by_seed.items())},
    }


def _spread_of(st: dict[str, Any]):
    return spread([v for v in st["by_seed"].values() if v is not None])


def _num(v: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _missing(keys: Iterable[str], runs: dict[str, Run]) -> list[str]:
    return [k for k in keys if k not in runs]


def _same_rate(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def _grid(plan: Sequence, group: str, label: str, seed: int = 0) -> list:
    return sorted(
        (p for p in plan if p.group == group and p.label == label and p.seed == seed),
        key=lambda p: p.config.lr,
    )


def _all_or_none(values: list[bool | None]) -> bool | None:
    """True if every verdict is True, False if any is False, else None."""
    if any(v is False for v in values):
        return False
    if values and all(v is True for v in values):
        return True
    return None


def setup_name(config) -> str:
    """``model/dataset`` of a planned config, the dataset without its path (``cifar10-jpeg``
    read as cifar10)."""
    dataset = (
        config.dataset.split(":")[-1].rstrip("/").split("/")[-1].replace("cifar10-jpeg", "cifar10")
    )
    return f"{config.model}/{dataset}"


def setups(plan: Sequence) -> dict[str, str | None]:
    """The two setups of the plan: the main one (the rate grids) and the deeper one (cifar)."""
    main = next((p for p in plan if p.group == "grid"), None)
    deep = next((p for p in plan if p.group == "cifar"), None)
    return {
        "main": setup_name(main.config) if main else None,
        "cifar": setup_name(deep.config) if deep else None,
    }


def expected_keys(plan: Sequence) -> dict[str, str]:
    """Every key the full reproduction will have, by group: the plan's, plus the dependent runs
    it plans only once their grid has finished (best rates with seed 1, the replays)."""
    keys = {p.key: p.group for p in plan}
    for s in BASELINES:
        keys.setdefault(f"best/{s}/seed1", "best")
    for seed in SEEDS:
        keys.setdefault(f"replay/onecycle/seed{seed}", "replay")
    keys.setdefault("cifar/replay/seed0", "cifar")
    return keys


def grid_best(runs: dict[str, Run], plan: Sequence, group: str, label: str) -> dict[str, Any]:
    """A seed-0 rate grid: test error per planned rate, the best rate so far and its run key,
    whether the grid is complete and whether the best rate sits at an end of the grid."""
    grid = _grid(plan, group, label)
    errors = {p.config.lr: runs[p.key].test_error for p in grid if p.key in runs}
    best = best_of(errors)
    rates = [p.config.lr for p in grid]
    return {
        "rates": rates,
        "test_error": {f"{lr:g}": _num(errors.get(lr)) for lr in rates},
        "complete": bool(rates) and len(errors) == len(rates),
        "best_rate": best,
        "best_key": next(
            (p.key for p in grid if best is not None and _same_rate(p.config.lr, best)), None
        ),
        "best_error": _num(errors.get(best)) if best is not None else None,
        "at_edge": (
            best is not None
            and len(rates) > 1
            and (_same_rate(best, rates[0]) or _same_rate(best, rates[-1]))
        ),
        "missing": _missing([p.key for p in grid], runs),
    }


def best_onecycle_keys(runs: dict[str, Run], plan: Sequence) -> list[str]:
    """The 1-cycle runs at the best grid rate on Fashion-MNIST: seed 0 (grid) and seed 1 (best)."""
    g = grid_best(runs, plan, "grid", "onecycle")
    keys = [g["best_key"]] if g["best_key"] in runs else []
    seed1 = runs.get("best/onecycle/seed1")
    if seed1 is not None and g["best_rate"] is not None and _same_rate(seed1.lr, g["best_rate"]):
        keys.append(seed1.key)
    return keys
