"""Run every benchmark and print one JSON line per figure, then a summary.

``python -m benchmarks [--quick]`` (or ``python benchmarks/run.py``). Each figure is
``{"figure", "value", "unit", "goal", "ok"}``; ``ok`` is null where a figure has no goal.
``--quick`` uses fewer blocks and shorter runs (under 10 minutes on 2 cores). ``--smoke``
shrinks every suite to check its code path in about a minute (CI runs it, see
``tests/benchmarks``); its figures are too small to judge the goals by.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUITES = (
    "overhead",
    "track_overhead",
    "storage_bench",
    "dashboard_bench",
    "control",
    "granularity",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the short version (< 10 minutes)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every suite at toy sizes, to check the code path (about a minute)",
    )
    parser.add_argument("--only", choices=SUITES, action="append", help="run only these suites")
    args = parser.parse_args(argv)
    figures: list[dict] = []
    t0 = time.monotonic()
    for suite in args.only or SUITES:
        module = importlib.import_module(f"benchmarks.{suite}")
        start = len(figures)
        rows = module.main(quick=args.quick, smoke=args.smoke)
        for row in rows:
            if suite == "storage_bench":  # that suite returns rows without printing them
                print(json.dumps(row), flush=True)
            figures.append(row)
        print(f"# {suite}: {len(figures) - start} figures", file=sys.stderr, flush=True)
    missed = [f["figure"] for f in figures if f.get("ok") is False]
    summary = {
        "summary": True,
        "figures": len(figures),
        "ok": sum(f.get("ok") is True for f in figures),
        "missed": missed,
        "no_goal": sum(f.get("ok") is None for f in figures),
        "seconds": round(time.monotonic() - t0, 1),
        **({"smoke": "toy sizes: checks the code path, not the goals"} if args.smoke else {}),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
