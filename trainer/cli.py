"""``python -m trainer``: run, queue, resume, stop, list, delete and export training runs.

The ``run`` options are generated from :class:`~trainer.config.RunConfig`, so the CLI and the
config never disagree; every option shows what it means, its choices and its default. User
errors (bad arguments, a configuration that cannot work, an unknown run, a store locked for too
long) exit with status 2 and one line on stderr; anything else is a bug or an environment
failure (out of memory, ...) and keeps its full traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

from storage import LockTimeout, StoreNotFound
from storage.export import FORMATS
from storage.status import LOST, RESUMABLE, STATUSES

from .config import RunConfig, new_run_defaults
from .errors import ConfigError
from .models.names import optimizer_defaults
from .worker import DEFAULT_IDLE_EXIT, IDLE_EXIT_ENV

__all__ = ["main"]


# The worker's internal command for a claimed run: accepted, never offered (--help, errors).
_INTERNAL = "_execute"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, no usage dump
        message = message.replace(f", {_INTERNAL!r}", "")  # argparse's "(choose from ...)"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class UsageError(Exception):
    """A user mistake: reported in one line, exit status 2."""


def _at_least_one(text: str) -> int:
    """An argparse type: a positive int (its errors read like argparse's own)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parse_value(hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if type(None) in args:  # Optional[X]: "none" clears it
        inner = _parse_value(next(a for a in args if a is not type(None)))
        return lambda s: None if s.lower() == "none" else inner(s)
    if origin is tuple:
        item = _parse_value(args[0])
        return lambda s: tuple(item(v) for v in s.split(",") if v.strip())
    return hint


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(RunConfig)
    defaults = RunConfig()
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        default = getattr(defaults, f.name)
        shown = (",".join(map(str, default)) or "none") if isinstance(default, tuple) else default
        shown = "none" if default is None else '""' if default == "" else shown
        choices = f.metadata.get("choices")
        listed = f"; choices: {', '.join(choices)}" if choices else ""
        text = f"{f.metadata['help']} (default: {shown}{listed})"
        if hint is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text
            )
        else:
            parser.add_argument(
                flag,
                type=_parse_value(hint),
                default=argparse.SUPPRESS,
                choices=choices,
                metavar=f.name.upper(),
                help=text,
            )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m trainer",
        description="Train models under any learning-rate schedule "
        "while ActCool measures their activation pattern temperature; record into ACTCOOL_HOME.",
    )
    p.add_argument("--home", help="the store folder (default: $ACTCOOL_HOME or ./actcool-data)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="train one run in the foreground (or --queue it)")
    run.add_argument(
        "--config", type=Path, help="a JSON run config; options given here override it"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="a few steps on synthetic data, to check the set-up"
    )
    run.add_argument(
        "--queue",
        action="store_true",
        help="queue the run for a worker instead of training it here",
    )
    run.add_argument("--quiet", action="store_true", help="no progress line")
    _add_config_options(run)
    wu = sub.add_parser(
        "warmup",
        help="train the ramp warm-up of the run these options describe and print the start "
        "temperature it calibrates (records nothing)",
    )
    wu.add_argument("--config", type=Path, help="a JSON run config; options given here override it")
    wu.add_argument("--quiet", action="store_true", help="no progress line")
    wu.set_defaults(dry_run=False)
    _add_config_options(wu)
    w = sub.add_parser(
        "worker", help="train queued runs until stopped (or, with --idle-exit, until idle)"
    )
    w.add_argument(
        "--parallel",
        type=_at_least_one,
        default=None,
        help="runs trained at the same time (default: one per GPU, 1 without GPUs; "
        "with --ray: the cluster's GPUs, else its CPUs / --cpus-per-run)",
    )
    w.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="train each run as a Ray task (pip install -e '.[ray]'); ADDRESS: the "
        "cluster, e.g. auto or HEAD:6379 (default: the one started on this machine "
        "with ray start, else a new local one)",
    )
    w.add_argument(
        "--checkpoints",
        default=None,
        metavar="ROOT",
        help="with --ray: where runs save checkpoints, a folder every node reaches or "
        "a pyarrow.fs URI (s3://bucket/path, gs://..., file://...) (default: "
        "<home>/checkpoints, enough on one machine)",
    )
    w.add_argument(
        "--cpus-per-run",
        type=float,
        default=1,
        help="with --ray: CPUs each run's task reserves (default 1)",
    )
    w.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit once nothing has been queued or running for this long (default: never; "
        "a worker the dashboard starts exits after "
        f"${IDLE_EXIT_ENV} seconds, default {DEFAULT_IDLE_EXIT:g})",
    )
    ls = sub.add_parser("list", help="list runs")
    ls.add_argument("--status", choices=(*STATUSES, LOST), help="only runs with this status")
    r = sub.add_parser(
        "resume",
        help="continue a stopped, lost or failed run from its last checkpoint (a run "
        "stopped before it started: from the beginning), here or --queue'd for a worker",
    )
    r.add_argument("run_id")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    r.add_argument(
        "--queue",
        action="store_true",
        help="hand the run back to the queue for a worker instead of training it here",
    )
    s = sub.add_parser(
        "stop",
        help="ask a running run to stop (checkpoint, flush, status stopped); a queued run "
        "is stopped at once and kept, to resume or delete",
    )
    s.add_argument("run_id")
    e = sub.add_parser("export", help="export a run's data")
    e.add_argument("run_id")
    e.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="csv or parquet (default: from the suffix of --out, else csv)",
    )
    e.add_argument(
        "--out",
        type=Path,
        required=True,
        help="run.parquet or run.csv: one file (one table, a 'kind' column says what "
        "each row is); run.zip: an archive; a path without a suffix: a folder of "
        "one file per table",
    )
    e.add_argument("--force", action="store_true", help="replace existing output files")
    d = sub.add_parser("delete", help="delete runs with their metrics, checkpoints and logs")
    d.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    x = sub.add_parser(_INTERNAL)  # used by the worker for a claimed run; not in --help
    x.add_argument("run_id")
    sub.metavar = "{" + ",".join(name for name in sub.choices if name != _INTERNAL) + "}"
    return p


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    # RunConfig.from_dict reads a config without, e.g., a granularity as an old run's
    # ("sample"); a new run from the command line or a hand-written --config gets today's.
    values: dict[str, Any] = new_run_defaults()
    given: set[str] = set()  # keys the user set, in --config or as flags
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read --config {args.config}: {exc.strerror}") from None
        try:
            from_file = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--config {args.config} is not valid JSON: {exc}") from None
        if isinstance(from_file, dict):
            given |= set(from_file)
            from_file = {**values, **from_file}
        values.update(RunConfig.from_dict(from_file).to_dict())
    names = {f.name for f in dataclasses.fields(RunConfig)}
    typed = {k: v for k, v in vars(args).items() if k in names}
    given |= set(typed)
    values.update(typed)
    # The model family's optimizer, and that optimizer's rate and decay, where none was given.
    model = values.get("model", RunConfig.model)
    family = optimizer_defaults(model, values["optimizer"] if "optimizer" in given else None)
    values.update({k: v for k, v in family.items() if k not in given})
    if args.dry_run:
        values.update(
            dataset="synthetic",
            epochs=1,
            max_steps=5,
            batch_size=min(values.get("batch_size", 32), 32),
            tags=tuple(values.get("tags", ())) + ("dry-run",),
        )
    return RunConfig.from_dict(values)


def _where(store: Any) -> str:
    """The store folder as the user would type it: ``./actcool-data`` for a relative one."""
    home = str(store.home)
    return home if Path(home).is_absolute() or home.startswith(".") else f"./{home}"


def _no_store(store: Any) -> str:
    """What a reading command says where the folder it looked at holds no store."""
    return f"no runs in {_where(store)} (set ACTCOOL_HOME or --home)"


def _print_runs(store: Any, status: str | None) -> None:
    if not store.exists():  # a reader: no store is made here to say that it is empty
        print(_no_store(store))
        return
    runs = store.list_runs(status=status)
    if runs.empty:
        if status is None:
            print(f"no runs in {_where(store)} yet: start one with  python -m trainer run")
        else:
            count = len(store.list_runs())
            print(f"no {status} runs in {_where(store)} ({count} runs in all)")
        return
    from .gpus import run_location

    print(f"{'id':10} {'status':9} {'name':34} {'steps':>13} {'test err':>8}  device")
    for _, r in runs.iterrows():
        err = _test_error(store, r)
        print(
            f"{r['id']:10} {r['status']:9} {str(r['name'])[:34]:34} {_steps(store, r):>13} "
            f"{'' if err is None else f'{err:.2f}%':>8}  {run_location(r['device'], r['host'])}"
        )


def _positive(*values: Any) -> int | None:
    """The first positive whole number among ``values`` (totals from a summary or config)."""
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


def _steps(store: Any, run: Any) -> str:
    """The list's steps column: ``done/total`` where the run's total is known (steps count
    from 0, as the trainer's do), else the last step recorded (``step N``: a run recorded
    from outside the trainer), ``–`` when nothing is known yet (a queued run)."""
    summary, config = run.get("summary") or {}, run.get("config") or {}
    total = _positive(
        summary.get("total_steps"), config.get("total_steps"), config.get("max_steps")
    )
    done = summary.get("steps") if run["status"] == "finished" else None
    if not isinstance(done, int) or isinstance(done, bool):
        # the summary's count is written when a run ends; live runs, and runs recorded
        # through the store alone, have their metrics only
        last = store.last_step(run["id"])
        if last is None:
            return f"0/{total}" if total and run["status"] != "queued" else "–"
        if total is None:
            return f"step {last}"
        done = last + 1
    return f"{done}/{total}" if total else str(done)


def _test_error(store: Any, run: Any) -> float | None:
    """The summary's test error, else the latest one the run recorded (a run recorded from
    outside the trainer has metrics but no summary)."""
    err = (run.get("summary") or {}).get("test_error")
    if isinstance(err, (int, float)) and not isinstance(err, bool):
        return float(err)
    return None if run["status"] == "queued" else store.last_test_error(run["id"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, so that a reader gone early is caught below
        return code
    except BrokenPipeError:
        # The reader stopped reading (`python -m trainer list | head`): end quietly, with
        # stdout on /dev/null so that the interpreter's last flush has nowhere to fail.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except (UsageError, ConfigError, LockTimeout) as exc:
        return _error(exc)
    except StoreNotFound as exc:  # a command about a run, where there is no store at all
        run_id = getattr(args, "run_id", None) or " ".join(getattr(args, "run_ids", []))
        return _error(UsageError(f"unknown run id {run_id!r}: {_no_store(exc)}"))
    except (KeyError, ValueError, FileExistsError) as exc:
        if args.command not in _STORE_COMMANDS:
            raise  # out of training code: a bug, shown with its traceback
        return _error(exc)  # the store refused: an unknown run, its status, an existing file


# Commands that only ask the store; its KeyError/ValueError/FileExistsError are user errors.
_STORE_COMMANDS = ("list", "stop", "export", "delete")
# Commands that record (a run, a worker serving the store): they make the store if missing.
# The others read or change what is there, and never create a store.
_CREATING_COMMANDS = ("run", "worker", _INTERNAL)


def _error(exc: BaseException) -> int:
    """Report a user error in one line on stderr; exit status 2."""
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    message = (
        " ".join(str(message).split())
        .replace("see list_runs()", "see: python -m trainer list")
        .replace("(force=True)", "(--force)")
    )
    print(f"python -m trainer: error: {message}", file=sys.stderr)
    return 2


def _get_run(store: Any, run_id: str) -> dict:
    try:
        return store.get_run(run_id)
    except KeyError as exc:
        raise UsageError(exc.args[0] if exc.args else f"unknown run {run_id}") from None


def _dispatch(args: argparse.Namespace) -> int:
    from storage import Store

    creating = args.command in _CREATING_COMMANDS and not getattr(args, "dry_run", False)
    store = Store(args.home, create=creating)
    if args.command == "run":
        config = _config_from_args(args)
        if args.queue:
            from .worker import submit

            print(f"queued run {submit(config, store)}")
            return 0
        from .run import train_run

        if args.dry_run:  # a check of the set-up, not a run: recorded in a throw-away store
            with tempfile.TemporaryDirectory(prefix="actcool-dry-run-") as tmp:
                result = train_run(config, Store(tmp), progress=not args.quiet)
            if result.status == "finished":
                print(
                    f"dry run finished ({config.max_steps} steps on synthetic data); "
                    "nothing was recorded"
                )
            return _report(result)

        def started(run_id: str) -> None:
            print(f"run {run_id}: training (stop: python -m trainer stop {run_id})", flush=True)

        result = train_run(config, store, progress=not args.quiet, started=started)
        return _report(result)
    if args.command == "warmup":
        return _warmup(_config_from_args(args), quiet=args.quiet)
    if args.command == "_execute":
        from .checkpoint import checkpoint_exists, run_checkpoint
        from .run import train_run

        run = store.get_run(args.run_id)
        # A run put back in the queue by `resume` continues from its checkpoint.
        resume = checkpoint_exists(run_checkpoint(store, args.run_id))
        return _report(
            train_run(RunConfig.from_dict(run["config"]), store, run_id=args.run_id, resume=resume)
        )
    if args.command == "resume":
        return _resume(store, args.run_id, queue=args.queue, quiet=args.quiet)
    if args.command == "worker":
        if args.ray is not None:
            import importlib.util

            if importlib.util.find_spec("ray") is None:
                raise UsageError("--ray needs Ray: pip install -e '.[ray]'")
            from .ray_backend import run_ray_worker

            run_ray_worker(
                store,
                address=args.ray or None,
                checkpoints=args.checkpoints,
                parallel=args.parallel,
                idle_exit=args.idle_exit,
                cpus_per_run=args.cpus_per_run,
            )
            return 0
        if args.checkpoints is not None or args.cpus_per_run != 1:
            raise UsageError(
                "--checkpoints and --cpus-per-run are for --ray workers; local runs "
                "checkpoint in <home>/checkpoints and use the CPUs they find"
            )
        from .worker import run_worker, worker_pid

        other = worker_pid(store)
        if other is not None:
            raise UsageError(f"a worker (pid {other}) is already serving {store.home}")
        run_worker(store, parallel=args.parallel, idle_exit=args.idle_exit)
        return 0
    if args.command == "list":
        _print_runs(store, args.status)
        return 0
    if args.command == "stop":
        run = store.get_run(args.run_id)
        store.request_stop(args.run_id)  # a queued run reads 'stopped' at once, kept
        if run["status"] == "queued":
            print(
                f"stopped queued run {args.run_id} before it started; resume: python -m "
                f"trainer resume {args.run_id}, delete: python -m trainer delete {args.run_id}"
            )
        else:
            print(f"asked run {args.run_id} to stop")
        return 0
    if args.command == "export":
        path = store.export(args.run_id, format=args.format, out=args.out, force=args.force)
        print(f"exported run {args.run_id} to {path}")
        return 0
    if args.command == "delete":
        from .worker import delete

        for run_id in dict.fromkeys(args.run_ids):
            delete(store, run_id)
            print(f"deleted run {run_id}")
        return 0
    raise AssertionError(args.command)


def _resume(store: Any, run_id: str, queue: bool, quiet: bool) -> int:
    """``resume``: continue a run from its checkpoint, or from the beginning when it was
    stopped before it started; here, or (``queue``) through the queue for a worker."""
    from .checkpoint import checkpoint_exists, run_checkpoint

    run = _get_run(store, run_id)
    if run["status"] not in RESUMABLE:
        raise UsageError(
            f"run {run_id} is {run['status']}; only {', '.join(RESUMABLE)} runs resume"
        )
    has_checkpoint = checkpoint_exists(run_checkpoint(store, run_id))
    if not has_checkpoint and run["started_at"] is not None:
        raise UsageError(
            f"run {run_id} ({run['status']}) has no checkpoint to resume from: it ended "
            "before its first checkpoint; start it again instead"
        )
    if queue:
        from .worker import worker_pid

        store.requeue(run_id)
        serving = worker_pid(store)
        print(
            f"queued run {run_id} to "
            + ("resume from its checkpoint" if has_checkpoint else "start")
            + (
                f"; the worker (pid {serving}) takes it"
                if serving is not None
                else f"; no worker serves {_where(store)}: start one with  python -m trainer worker"
            )
        )
        return 0
    from .run import train_run

    result = train_run(
        RunConfig.from_dict(run["config"]),
        store,
        run_id=run_id,
        resume=has_checkpoint,
        progress=not quiet,
    )
    return _report(result)


def _warmup(config: RunConfig, quiet: bool = False) -> int:
    """Train ``config``'s ramp warm-up (trainer/warmup.py) and print what it calibrated."""
    from .warmup import train_warmup

    def progress(done: int, todo: int) -> None:
        if not quiet and sys.stderr.isatty():  # a line redrawn in place: terminals only
            end = "\n" if done == todo else ""
            print(f"\rwarm-up: step {done}/{todo}", end=end, file=sys.stderr, flush=True)

    try:
        w = train_warmup(config, on_step=progress)
    except RuntimeError as exc:  # the loss diverged during the warm-up
        print(f"python -m trainer: warm-up failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"warm-up of {config.model} on {config.dataset}: {w.ramp_steps} of {w.total_steps} steps "
        f"({w.fraction:.0%}), rate {w.warmup_lr(0):.3g} -> {w.lr_peak:g}, {w.seconds:.1f} s"
    )
    print(
        f"T_start = {w.t_start:.4g} bits ({config.granularity}): lr_peak x median(T/lr) over "
        "the warm-up's second half"
    )
    for lr, t in zip(w.lrs, w.temperatures, strict=True):
        print(f"  lr {lr:.4g}  T {t:.4g} bits  T/lr {t / lr:.4g}")
    fits = w.scan.fits
    weibull, gaussian = (fits.weibull_mean, fits.mean) if fits is not None else (None, None)
    print(
        f"at the warm-up's end (step {w.end_step}): "
        + (
            f"Weibull lambda0 {weibull.lambda0:.4g}, k {weibull.k:.3g}"
            if weibull
            else "no Weibull fit"
        )
        + "; "
        + (
            f"Gaussian mu {gaussian.mu:.3g}, sigma {gaussian.sigma:.3g}"
            if gaussian
            else "no Gaussian fit"
        )
    )
    shape = (
        "linearly"
        if w.calibration.gamma == 1
        else f"along a power curve (gamma {w.calibration.gamma:g})"
    )
    print(
        f"then the target cools {shape} from {w.t_start:.4g} bits at {w.fraction:.0%} "
        "to 0 at the end"
    )
    return 0


def _report(result: Any) -> int:
    if result.status in ("finished", "stopped"):
        return 0
    print(f"run {result.run_id} {result.status}: {result.message}", file=sys.stderr)
    return 1
