"""ActCoolLR without tuning against tuned baselines, at CPU scale: train, then report.

``python -m benchmarks.reproduce`` trains every run of the plan (:mod:`benchmarks.plan`) with
the trainer itself, into the dashboard's store (``$ACTCOOL_HOME`` or ``./actcool-data``, so the
runs show up on its Compare page), then writes ``benchmarks/results/REPORT.md``, its PNG figures
and ``results.json`` (:mod:`benchmarks.report`). Runs already finished in the store under the
same plan key and config are reused, a stopped or lost one is resumed, so an interrupted
reproduction continues where it left off (it may span sessions). ``--report-only`` rewrites the
report from the stored runs.

The report's section 8, test error against the typed rate, renders the sweep of
:mod:`benchmarks.rates` (plain PyTorch loops outside the store, rows in
``benchmarks/results/rates.jsonl``); ``--rates`` trains what that sweep lacks (hours of CPU),
instead of the plan, and then writes the report.

``--quick`` runs a miniature of the same plan on scikit-learn's digits (no data needed, a few
minutes): it checks the pipeline, not the claims.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/reproduce.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.plan import AUTO, TAG, Planned, find_runs, plan, replay_target  # noqa: E402
from benchmarks.setups import SHARED_DATA  # noqa: E402
from storage.status import LOST  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: Stored statuses of a run that ended early and continues from its checkpoint; a failed run
#: is trained anew instead (storage.status.RESUMABLE includes it: a user may resume one).
INTERRUPTED = ("stopped", LOST)

log = logging.getLogger("benchmarks.reproduce")


def train(store, runs: list, tag: str = TAG) -> None:
    """Train what is missing: reuse finished runs, resume stopped/lost ones from their last
    checkpoint (or train them anew when they ended before it), start the rest."""
    from trainer.checkpoint import checkpoint_path
    from trainer.run import train_run

    existing = find_runs(store, runs, tag)
    for i, p in enumerate(runs, 1):
        row = existing.get(p.key)
        status = row["status"] if row else None
        if status == "finished":
            log.info("[%d/%d] %s: finished run %s reused", i, len(runs), p.key, row["id"])
            continue
        t0 = time.monotonic()
        config = p.config
        replay_of = getattr(p, "replay_of", None)
        resumable = status in INTERRUPTED and checkpoint_path(store.home, row["id"]).exists()
        if replay_of is not None and not resumable:
            source = find_runs(store, [q for q in runs if q.key == replay_of], tag).get(replay_of)
            if source is None or source["status"] != "finished":
                log.warning(
                    "[%d/%d] %s: skipped, %s has not finished", i, len(runs), p.key, replay_of
                )
                continue
            config = config.replace(target=replay_target(store, source))
        if resumable:
            log.info("[%d/%d] %s: resuming %s run %s", i, len(runs), p.key, status, row["id"])
            result = train_run(p.config, store, run_id=row["id"], resume=True, progress=False)
        else:
            if status in INTERRUPTED:  # ended before its first checkpoint: start over
                log.info(
                    "[%d/%d] %s: %s run %s has no checkpoint; training it anew",
                    i,
                    len(runs),
                    p.key,
                    status,
                    row["id"],
                )
            log.info("[%d/%d] %s: training", i, len(runs), p.key)
            result = train_run(config, store, progress=False)
        log.info(
            "[%d/%d] %s: %s in %.0f s, test error %s",
            i,
            len(runs),
            p.key,
            result.status,
            time.monotonic() - t0,
            result.test_error,
        )


# Training order: what the headline figures need first, so that a reproduction cut short (it
# may span sessions) has the most important comparisons.
PRIORITY = (
    "grid/onecycle/",
    "actcool/fixed/",
    "best/onecycle/",
    "replay/",
    "actcool/ramp/",
    "cifar/onecycle/",
    f"cifar/actcool/{AUTO}/",
    "grid/",
    "best/",
    "cifar/replay/",
    "cifar/actcool/",
    "gamma/",
)


def _priority(p: Planned) -> int:
    return next((i for i, prefix in enumerate(PRIORITY) if p.key.startswith(prefix)), len(PRIORITY))


def train_all(store, quick: bool = False, data_dir: Path = SHARED_DATA) -> None:
    """Train the whole plan, one run at a time in :data:`PRIORITY` order, re-planning after each
    run so that runs depending on finished ones (best rates with seed 1, replays) come in as
    soon as they can."""
    failed: set[str] = set()
    while True:
        runs = plan(quick, data_dir, store)
        found = find_runs(store, runs)
        todo = [
            p
            for p in sorted(runs, key=_priority)
            if p.key not in failed
            and (found.get(p.key) or {}).get("status") != "finished"
            and (p.replay_of is None or (found.get(p.replay_of) or {}).get("status") == "finished")
        ]
        if not todo:
            log.info(
                "nothing left to train: %d planned runs reused, %d not trainable now",
                sum((found.get(p.key) or {}).get("status") == "finished" for p in runs),
                sum((found.get(p.key) or {}).get("status") != "finished" for p in runs),
            )
            return
        before = find_runs(store, [todo[0]]).get(todo[0].key)
        source = [q for q in runs if q.key == todo[0].replay_of]
        train(store, source + [todo[0]])  # a finished source is only reused
        after = find_runs(store, [todo[0]]).get(todo[0].key)
        if (after or {}).get("status") != "finished":
            # diverged, failed or skipped: do not retry it in this invocation
            failed.add(todo[0].key)
            log.warning("%s ended as %s", todo[0].key, (after or before or {}).get("status"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a miniature on digits (pipeline check)"
    )
    parser.add_argument("--home", help="the store (default: $ACTCOOL_HOME or ./actcool-data)")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"report folder (default: {RESULTS}, or results-quick next to it with --quick)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="write the report from stored runs"
    )
    parser.add_argument(
        "--rates",
        action="store_true",
        help="train the rate sweep of section 8 (benchmarks.rates) instead of the plan",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=SHARED_DATA, help="Fashion-MNIST and cifar10-jpeg"
    )
    args = parser.parse_args(argv)
    if args.rates and (args.quick or args.report_only):
        parser.error(
            "--rates trains the full rate sweep: it has no --quick miniature, and "
            "--report-only trains nothing (drop one of them)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from benchmarks import rates
    from benchmarks.report import write_report
    from storage import Store

    if not args.quick and not args.data_dir.exists():
        parser.error(
            f"{args.data_dir} not found: it must hold FashionMNIST/ and cifar10-jpeg/ "
            "(see ../shared/data/README.md), or use --quick"
        )
    store = Store(args.home)
    t0 = time.monotonic()
    if args.rates:  # every model, schedule, rate and seed missing from its runs file
        rates.main(["--data-dir", str(args.data_dir)])
    elif not args.report_only:
        train_all(store, args.quick, args.data_dir)
    runs = plan(args.quick, args.data_dir, store)
    out = args.out or (RESULTS.with_name("results-quick") if args.quick else RESULTS)
    path = write_report(
        store,
        runs,
        find_runs(store, runs),
        out,
        quick=args.quick,
        train_seconds=None if args.report_only or args.rates else time.monotonic() - t0,
        # the sweep's runs as benchmarks.rates reads them (the miniature has no sweep)
        rates=() if args.quick else rates._done().values(),
    )
    log.info("report: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
