"""The plan's finished runs from the store, as :class:`benchmarks.figures.Run` objects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import figures as F


def load_runs(store, plan: Sequence, found: dict[str, dict]) -> tuple[list[F.Run], list[str]]:
    """The plan's finished runs, and one line per expected run that is missing (not run, not
    finished, or not planned yet because the runs it depends on have not finished)."""
    loaded, missing = [], []
    planned = {p.key: p for p in plan}
    for key in F.expected_keys(plan):
        p = planned.get(key)
        row = found.get(key)
        if p is None:
            missing.append(f"{key}: not planned yet ({_waits_for(key)} has not finished)")
            continue
        if row is None or row["status"] != "finished":
            missing.append(
                f"{key}: " + ("not run" if row is None else f"{row['status']} (run {row['id']})")
            )
            continue
        rid = row["id"]
        names, _, temps = store.site_matrix(rid)
        loaded.append(
            F.Run(
                p.key,
                p.group,
                p.label,
                p.seed,
                rid,
                row["summary"] or {},
                row["config"],
                store.steps(rid),
                store.fits(rid),
                list(names),
                np.asarray(temps, dtype=float),
                getattr(p, "replay_of", None),
            )
        )
    return loaded, missing


def _waits_for(key: str) -> str:
    if key.startswith("best/"):
        return f"the {key.split('/')[1]} rate grid"
    if key == "replay/onecycle/seed1":
        return "the 1-cycle rate grid or best/onecycle/seed1"
    if key.startswith("replay/"):
        return "the 1-cycle rate grid"
    return "the CIFAR-10 1-cycle rate grid"
