"""``python -m benchmarks.activations``: train what is missing, then write the report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..rates import _done, run
from ..setups import SHARED_DATA, data_name
from .plan import (
    MAX_EXTENSIONS,
    MODELS,
    OVERHEAD_FILE,
    RUNS_FILE,
    extension_plans,
    first_plans,
    second_plans,
)
from .report import write_report


def overhead(quick: bool = True) -> dict:
    """Step time under ActCoolLR (K = 10) over a constant rate on ``vit-tiny`` with AdamW, in CPU
    thread time (this machine is shared)."""
    from .. import overhead as bench

    rows = bench.main(quick=quick, clock="thread", model="vit-tiny")
    step = next(r for r in rows if r["figure"] == "step_overhead")
    OVERHEAD_FILE.write_text(json.dumps(rows, indent=1))
    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ActCool on GELU and SiLU networks under AdamW")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--report", action="store_true", help="only write the report")
    parser.add_argument("--no-overhead", action="store_true", help="skip the overhead figure")
    args = parser.parse_args(argv)
    for model in args.models:
        folder = "cifar10-jpeg" if data_name(model) == "CIFAR-10" else "FashionMNIST"
        if not (args.data_dir / folder).exists():
            parser.error(f"no {folder} under {args.data_dir} (see ../shared/data/README.md)")
    if not args.report:
        run(first_plans(args.models), args.jobs, args.data_dir, RUNS_FILE)
        for _ in range(MAX_EXTENSIONS):
            more = extension_plans(args.models, list(_done(RUNS_FILE).values()))
            if not more:
                break
            run(more, args.jobs, args.data_dir, RUNS_FILE)
        rows = list(_done(RUNS_FILE).values())
        run(second_plans(args.models, rows), args.jobs, args.data_dir, RUNS_FILE)
        if not args.no_overhead:
            overhead()
    print(write_report(list(_done(RUNS_FILE).values())))


if __name__ == "__main__":
    main()
