"""``python -m trainer``: run, queue, resume, stop, list and export training runs.

The ``run`` options are generated from :class:`~trainer.config.RunConfig`, so the CLI and the
config never disagree. Bad arguments exit with status 2 and one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

from .config import GRANULARITIES, RunConfig

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class UsageError(Exception):
    """A user mistake: reported in one line, exit status 2."""


def _parse_value(hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if type(None) in args:  # Optional[X]: "none" clears it
        inner = _parse_value(next(a for a in args if a is not type(None)))
        return lambda s: None if s.lower() == "none" else inner(s)
    if origin is tuple:
        item = _parse_value(args[0])
        return lambda s: tuple(item(v) for v in s.split(",") if v.strip())
    return hint


# Help for options whose values need explaining (the rest show only their default).
_HELP = {
    "granularity": "what one activation pattern is: " + ", ".join(GRANULARITIES)
    + " (L units per pattern; unit = unit:64); the target curve is in bits of it",
    "compare_granularities": "comma-separated granularities (" + ", ".join(GRANULARITIES)
    + ") also counted and recorded, to compare with --granularity",
    "schedule": "constant, step, onecycle, cosine, schedulefree (schedule-free SGD/AdamW) or "
    "actcool (ActCoolLR)",
    "target": "actcool: default (a linear cool-down with a calibrated start), power:T_start,gamma, "
    "constant:T, cosine:T_start,T_end, a saved curve's name or curve JSON",
    "calibration": "actcool default target: auto (fixed for unit granularities, else ramp), "
    "fixed[:bits of unit:64] or ramp[:warm-up fraction]",
    "response": "actcool control law: weibull (lr* = lr*(C/T)^(1/k)) or gaussian (the paper's)",
    "smoothing": "actcool: weight of the past in the control law's parameter, in [0, 1)",
    "k": "actcool weibull law: the exponent; none fits it from an LR range scan at step 0",
    "sigma": "actcool gaussian law: sigma; none fits it from an LR range scan at step 0",
    "lr_max": "actcool: the highest rate; none: --lr (the optimizer's rate is the ceiling)",
}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(RunConfig)
    defaults = RunConfig()
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        default = getattr(defaults, f.name)
        shown = (",".join(map(str, default)) or "none") if isinstance(default, tuple) else default
        text = f"{_HELP[f.name]} " if f.name in _HELP else ""
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=f"{text}(default: {shown})")
        else:
            parser.add_argument(flag, type=_parse_value(hint), default=argparse.SUPPRESS,
                                metavar=f.name.upper(), help=f"{text}(default: {shown})")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m trainer", description="Train models under any learning-rate schedule "
                "while ActCool measures their activation pattern temperature; record into ACTCOOL_HOME.")
    p.add_argument("--home", help="the store folder (default: $ACTCOOL_HOME or ./actcool-data)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="train one run in the foreground (or --queue it)")
    run.add_argument("--config", type=Path, help="a JSON run config; options given here override it")
    run.add_argument("--dry-run", action="store_true", help="a few steps on synthetic data, to check the set-up")
    run.add_argument("--queue", action="store_true", help="queue the run for a worker instead of training it here")
    run.add_argument("--quiet", action="store_true", help="no progress line")
    _add_config_options(run)
    w = sub.add_parser("worker", help="train queued runs until stopped")
    w.add_argument("--parallel", type=int, default=1, help="runs trained at the same time (default 1)")
    w.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")
    ls = sub.add_parser("list", help="list runs")
    ls.add_argument("--status", help="only runs with this status")
    r = sub.add_parser("resume", help="continue a stopped, lost or failed run from its last checkpoint")
    r.add_argument("run_id")
    r.add_argument("--quiet", action="store_true")
    s = sub.add_parser("stop", help="ask a running run to stop (checkpoint, flush, status stopped)")
    s.add_argument("run_id")
    e = sub.add_parser("export", help="export a run's data")
    e.add_argument("run_id")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv")
    e.add_argument("--out", type=Path, required=True)
    x = sub.add_parser("_execute")  # used by the worker for a claimed run
    x.add_argument("run_id")
    return p


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    # RunConfig.from_dict reads a config without a granularity as an old run's ("sample");
    # a new run from the command line or a hand-written --config gets today's default.
    values: dict[str, Any] = {"granularity": RunConfig().granularity}
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read --config {args.config}: {exc.strerror}") from None
        try:
            given = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--config {args.config} is not valid JSON: {exc}") from None
        if isinstance(given, dict):
            given = {**values, **given}
        values.update(RunConfig.from_dict(given).to_dict())
    names = {f.name for f in dataclasses.fields(RunConfig)}
    values.update({k: v for k, v in vars(args).items() if k in names})
    if args.dry_run:
        values.update(dataset="synthetic", epochs=1, max_steps=5, batch_size=min(values.get("batch_size", 32), 32),
                      tags=tuple(values.get("tags", ())) + ("dry-run",))
    return RunConfig.from_dict(values)


def _print_runs(store: Any, status: str | None) -> None:
    runs = store.list_runs(status=status)
    if runs.empty:
        print("no runs yet: start one with  python -m trainer run")
        return
    print(f"{'id':10} {'status':9} {'name':34} {'steps':>13} {'test err':>8}")
    for _, r in runs.iterrows():
        summary = r.get("summary") or {}
        steps = f"{summary.get('steps', '')}/{summary.get('total_steps', '')}"
        err = summary.get("test_error")
        print(f"{r['id']:10} {r['status']:9} {str(r['name'])[:34]:34} {steps:>13} "
              f"{'' if err is None else f'{err:.2f}%':>8}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (UsageError, ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"python -m trainer: error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from storage import Store

    store = Store(args.home)
    if args.command == "run":
        config = _config_from_args(args)
        if args.queue:
            from .worker import submit

            print(f"queued run {submit(config, store)}")
            return 0
        from .run import train_run

        result = train_run(config, store, progress=not args.quiet)
        return _report(result)
    if args.command == "_execute":
        from .run import train_run

        run = store.get_run(args.run_id)
        return _report(train_run(RunConfig.from_dict(run["config"]), store, run_id=args.run_id))
    if args.command == "resume":
        from .run import train_run

        run = store.get_run(args.run_id)
        if run["status"] not in ("stopped", "lost", "failed"):
            raise UsageError(f"run {args.run_id} is {run['status']}; only stopped, lost or failed runs resume")
        result = train_run(RunConfig.from_dict(run["config"]), store, run_id=args.run_id, resume=True,
                           progress=not args.quiet)
        return _report(result)
    if args.command == "worker":
        from .worker import run_worker

        run_worker(store, parallel=args.parallel, idle_exit=args.idle_exit)
        return 0
    if args.command == "list":
        _print_runs(store, args.status)
        return 0
    if args.command == "stop":
        run = store.get_run(args.run_id)
        if run["status"] == "queued":
            store.remove_queued(args.run_id)
            print(f"removed queued run {args.run_id}")
        else:
            store.request_stop(args.run_id)
            print(f"asked run {args.run_id} to stop")
        return 0
    if args.command == "export":
        path = store.export(args.run_id, format=args.format, out=args.out)
        print(f"exported run {args.run_id} to {path}")
        return 0
    raise AssertionError(args.command)


def _report(result: Any) -> int:
    if result.status in ("finished", "stopped"):
        return 0
    print(f"run {result.run_id} {result.status}: {result.message}", file=sys.stderr)
    return 1
