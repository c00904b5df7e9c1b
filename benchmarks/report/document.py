"""The whole report: ``REPORT.md`` (header, summary table, sections), its PNGs and ``results.json``."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import figures as F
from ..figures.runs import _num
from .baselines import section_baselines
from .cifar import section_cifar
from .claims import section_claims
from .gamma import section_gamma
from .loading import load_runs
from .markdown import _table, _v
from .no_tuning import section_no_tuning
from .plots import OLD_PNGS, PNGS
from .rates import RATES_PNG, section_rates
from .replay import section_replay
from .summary import summary_rows
from .tracking import section_tracking


def _machine() -> str:
    import torch

    return (
        f"{platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPU cores, {'CUDA' if torch.cuda.is_available() else 'no GPU'}"
    )


def write_report(
    store,
    runs: Sequence,
    found: dict[str, dict],
    out: Path,
    quick: bool = False,
    train_seconds: float | None = None,
    rates: Iterable[dict] = (),
) -> Path:
    """Write ``REPORT.md``, the PNGs and ``results.json`` under ``out``; return the report path.
    ``rates``: the runs of the rate sweep (:mod:`benchmarks.rates`) for section 8, none by
    default."""
    out.mkdir(parents=True, exist_ok=True)
    # A figure left by an earlier report (or by the report of the previous plan) would pass for
    # one of this report's.
    for png in (*PNGS.values(), *OLD_PNGS):
        (out / png).unlink(missing_ok=True)
    loaded, missing = load_runs(store, runs, found)
    figs = F.compute(loaded, runs)
    by_key = {r.key: r for r in loaded}
    body: list[str] = []
    body += section_baselines(figs["baselines"], by_key, out)
    body += section_no_tuning(figs["no_tuning"], by_key, runs, out)
    body += section_replay(figs["replay"], by_key, out, figs["setups"])
    body += section_tracking(figs["tracking"], out)
    body += section_gamma(figs["gamma"], by_key, out)
    body += section_claims(figs["claims"], by_key, out, figs["setups"])
    body += section_cifar(figs["cifar"], by_key, out, figs["setups"])
    body += section_rates(rates, out)
    rows = summary_rows(figs)
    walls = [r.wall for r in loaded if np.isfinite(r.wall)]
    total_wall = float(sum(walls))
    expected = len(F.expected_keys(runs))
    head = [
        "# ActCoolLR without tuning against tuned baselines, at CPU scale"
        + (" (quick pipeline check, digits)" if quick else ""),
        "",
        f"Written by `python -m benchmarks.reproduce{' --quick' if quick else ''}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({_machine()}). "
        f"{len(loaded)} of {expected} runs finished; their training wall times (from the stored summaries) add "
        f"up to {total_wall / 60:.1f} min"
        + (f" (this invocation: {train_seconds / 60:.1f} min)" if train_seconds is not None else "")
        + ". Every run is in the store (tag `reproduce`), so the dashboard's Compare page shows them. "
        "Test errors in %; a gap in points is ActCoolLR's error minus the reference's (negative: ahead).",
        "",
    ]
    if quick:
        head += [
            "This is the `--quick` miniature on scikit-learn digits: it checks the pipeline; its numbers "
            "say nothing about the claims.",
            "",
        ]
    head += _table(
        ["claim", "measured", "goal", "verdict"],
        ([r["claim"], r["measured"], r["goal"], _v(r["ok"])] for r in rows),
    )
    head.append("")
    if missing:
        head += (
            ["Missing runs (rerun the script to train or resume them):", ""]
            + [f"- {m}" for m in missing]
            + [""]
        )
    text = "\n".join(head + body)
    (out / "REPORT.md").write_text(text)
    pngs = {k: v for k, v in PNGS.items() if (out / v).exists()}
    if f"({RATES_PNG})" in text:  # drawn by section 8 (RATES.md may share the file)
        pngs["rates"] = RATES_PNG
    results = {
        "quick": quick,
        "figures": figs,
        "summary": rows,
        "pngs": pngs,
        "missing": missing,
        "wall_seconds_total": total_wall,
        "train_seconds_this_invocation": train_seconds,
        "runs": {
            r.key: {
                "id": r.id,
                "group": r.group,
                "label": r.label,
                "seed": r.seed,
                "lr": r.lr,
                "test_error": _num(r.test_error),
                "wall_seconds": _num(r.wall),
            }
            for r in loaded
        },
    }
    (out / "results.json").write_text(json.dumps(_plain(results), indent=1, allow_nan=False))
    return out / "REPORT.md"


def _plain(x: Any) -> Any:
    """``x`` as plain JSON: NumPy scalars unwrapped, NaN and infinities as null."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)
