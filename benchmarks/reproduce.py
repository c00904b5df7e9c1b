"""ActCoolLR without tuning against tuned baselines, at CPU scale: train, then report.

``python -m benchmarks.reproduce`` trains every run of the plan below with the trainer itself,
into the dashboard's store (``$ACTCOOL_HOME`` or ``./actcool-data``, so the runs show up on
its Compare page), then writes ``benchmarks/results/REPORT.md``, its PNG figures and
``results.json``. Runs already finished in the store under the same plan key and config are
reused, a stopped or lost one is resumed, so an interrupted reproduction continues where it
left off (it may span sessions). ``--report-only`` rewrites the report from the stored runs.

The plan (data from ``../shared/data``; 2 epochs at batch 128, SGD momentum 0.9, weight decay
5e-4; temperatures at the default granularity ``unit:64``, also counting ``sample`` and
``position``; about 90 s per convnet4 run on 2 CPU cores):

- ``grid``: the baselines get a fair chance: 1-cycle (30% warm-up), cosine, step decay (x0.1 at
  50% and 75%) and schedule-free SGD (5% warm-up, evaluated at its averaged weights), each at
  peak rates 0.02, 0.05, 0.1 and 0.2 on convnet4 / Fashion-MNIST with seed 0, a grid whose best
  rate sits at an end growing outward along 1-2-5 (0.01, 0.5, ...; up to 3 rates); then each
  at its best rate with seed 1 (``best`` runs, planned once the grid has finished).
- ``actcool``: ActCoolLR with no tuning at all: the optimizer's default rate 0.05 (its only
  hint, also the rate ceiling), the calibrated default target; seeds 0 and 1, for both
  calibrations (``fixed``: 2 bits of unit:64; ``ramp``: warm up, then start from the
  measured temperature).
- ``replay``: ActCoolLR whose target replays the mean temperature measured in the best
  1-cycle run of the same seed (rate ceiling = that run's peak rate).
- ``gamma``: the default (calibration ``auto``) cooling along the power curve with γ = 0.5, 2
  and 4 (γ = 1 is the ``actcool`` run of the default), seed 0.
- ``cifar``: resnet20 / CIFAR-10 (the JPEG copy): 1-cycle at 0.05, 0.1 and 0.2 (growing
  outward like the grids above), ActCoolLR's
  default (calibration ``auto`` = ``ramp``, seeds 0 and 1) and ``fixed`` (seed 0), and the
  replay of the best 1-cycle, seed 0.

``--quick`` runs a miniature of the same plan on scikit-learn's digits (no data needed, a few
minutes): it checks the pipeline, not the claims.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/reproduce.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actcool.calibration import AUTO, CALIBRATIONS, Calibration  # noqa: E402
from benchmarks import setups  # noqa: E402
from benchmarks.setups import SHARED_DATA  # noqa: E402
from storage.status import LOST  # noqa: E402
from trainer.config import RunConfig  # noqa: E402
from trainer.errors import ConfigError  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TAG = "reproduce"
BASELINES = ("onecycle", "cosine", "step", "schedulefree")
RATES = (0.02, 0.05, 0.1, 0.2)
#: How far a grid whose best rate sits at an end grows outward (full plan only), one rate of
#: the 1-2-5 sequence at a time, so that no baseline is judged at the edge of its grid.
MAX_EXTENSION = 3
CIFAR_RATES = (0.05, 0.1, 0.2)
GAMMAS = (0.5, 2.0, 4.0)
#: Stored statuses of a run that ended early and continues from its checkpoint; a failed run
#: is trained anew instead (storage.status.RESUMABLE includes it: a user may resume one).
INTERRUPTED = ("stopped", LOST)
HINT_LR = 0.05  # the optimizer's rate ActCoolLR gets: a common default, not tuned
SEEDS = (0, 1)

log = logging.getLogger("benchmarks.reproduce")


@dataclass(frozen=True)
class Planned:
    """One run of the plan: ``key`` names it in the store (tag ``plan:<key>``)."""

    key: str
    group: str  # grid | best | actcool | replay | gamma | cifar
    label: str  # the schedule (onecycle, ...), actcool-fixed, actcool-ramp, replay, γ=…
    seed: int
    config: RunConfig
    replay_of: str | None = None  # ActCoolLR replaying this planned run's measured T̄
    model: str = "convnet4"


def _bases(quick: bool, data_dir: Path) -> tuple[RunConfig, RunConfig]:
    if quick:
        fm = setups.digits(epochs=3, tags=(TAG,))
        cifar = setups.digits(
            model="resnet20", scan_every=0, scan_unit="epoch", measure_every=10, tags=(TAG,)
        )
        return fm, cifar
    return setups.fashion_mnist(data_dir, tags=(TAG,)), setups.cifar10(data_dir, tags=(TAG,))


def _baseline(base: RunConfig, schedule: str, lr: float, seed: int, what: str) -> RunConfig:
    extra = {"warmup_fraction": 0.05} if schedule == "schedulefree" else {}
    return base.replace(schedule=schedule, lr=lr, seed=seed, name=f"reproduce {what}", **extra)


def _setup(base: RunConfig, group: str) -> str:
    """``model/dataset`` in a run's name (CIFAR-10's image folder named as cifar10)."""
    return f"{base.model}/{'cifar10' if group == 'cifar' else base.dataset}"


def _grid_run(base: RunConfig, group: str, schedule: str, lr: float) -> Planned:
    """A baseline run of a rate grid (seed 0)."""
    what = f"{_setup(base, group)} {schedule} lr {lr:g} seed 0"
    return Planned(
        f"{group}/{schedule}/lr{lr:g}/seed0",
        group,
        schedule,
        0,
        _baseline(base, schedule, lr, 0, what),
        model=base.model,
    )


def _actcool_run(
    base: RunConfig, key: str, group: str, label: str, seed: int, calibration: str
) -> Planned:
    """An ActCoolLR run with no tuning: the optimizer's default rate as its only hint, the
    calibrated default target."""
    what = f"{_setup(base, group)} actcool {label.removeprefix('actcool-')} seed {seed}"
    cfg = base.replace(
        schedule="actcool", lr=HINT_LR, seed=seed, calibration=calibration, name=f"reproduce {what}"
    )
    return Planned(key, group, label, seed, cfg, model=base.model)


def plan(quick: bool = False, data_dir: Path = SHARED_DATA, store=None) -> list[Planned]:
    """The runs of the reproduction, in training order. With ``store``, the runs that depend on
    finished ones are planned too: each baseline's best grid rate with seed 1, and the replays
    of the best 1-cycle runs."""
    fm, cifar = _bases(quick, data_dir)
    rates = (0.05, 0.2) if quick else RATES
    cifar_rates = (0.05, 0.2) if quick else CIFAR_RATES
    runs: list[Planned] = []

    def grid(schedule: str) -> None:
        runs.extend(_grid_run(fm, "grid", schedule, lr) for lr in rates)

    grid("onecycle")  # first: the reference, and the source of the replays
    for cal in CALIBRATIONS:
        runs.extend(
            _actcool_run(fm, f"actcool/{cal}/seed{s}", "actcool", f"actcool-{cal}", s, cal)
            for s in SEEDS
        )
    for schedule in BASELINES[1:]:
        grid(schedule)
    for g in GAMMAS:
        gamma = str(Calibration(AUTO, gamma=g))
        runs.append(_actcool_run(fm, f"gamma/{g:g}/seed0", "gamma", f"γ={g:g}", 0, gamma))
    runs.extend(_grid_run(cifar, "cifar", "onecycle", lr) for lr in cifar_rates)
    for cal in (AUTO, *(c for c in CALIBRATIONS if c != AUTO)):  # the default first
        runs.extend(
            _actcool_run(cifar, f"cifar/actcool/{cal}/seed{s}", "cifar", f"actcool-{cal}", s, cal)
            for s in (SEEDS if cal == AUTO else SEEDS[:1])
        )
    runs = [_tagged(p, quick) for p in runs]
    if store is not None:
        runs += [_tagged(p, quick) for p in _dependent(store, runs, fm, cifar, extend=not quick)]
    return runs


def _tagged(p: Planned, quick: bool) -> Planned:
    tags = (TAG, f"plan:{p.key}", "quick" if quick else "full")
    return Planned(
        p.key, p.group, p.label, p.seed, p.config.replace(tags=tags), p.replay_of, p.model
    )


def best_rate(
    found: dict[str, dict], runs: list[Planned], group: str, label: str, seed: int = 0
) -> tuple[float, str] | None:
    """The peak rate with the lowest test error among finished runs of a grid, and its key;
    ``None`` until every run of that grid has finished."""
    grid = [p for p in runs if p.group == group and p.label == label and p.seed == seed]
    errors = []
    for p in grid:
        row = found.get(p.key)
        if row is None or row["status"] != "finished":
            return None
        errors.append(((row["summary"] or {}).get("test_error", float("inf")), p.config.lr, p.key))
    if not errors:
        return None
    _, lr, key = min(errors)
    return lr, key


def outward_rate(lr: float, lower: bool) -> float:
    """The next rate of the 1-2-5 sequence (…, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, …) below or
    above ``lr``."""
    exponent = math.floor(math.log10(lr) + 1e-9)
    ladder = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    if lower:
        return float(f"{max(x for x in ladder if x < lr * (1 - 1e-9)):.3g}")
    return float(f"{min(x for x in ladder if x > lr * (1 + 1e-9)):.3g}")


def _extended(
    store,
    runs: list[Planned],
    found: dict[str, dict],
    base: RunConfig,
    schedule: str,
    group: str = "grid",
) -> list[Planned]:
    """Seed-0 runs beyond the end of a baseline's grid (``group``: ``grid`` on the main setup,
    ``cifar`` for its 1-cycle grid) while its best rate sits at that end (at most
    :data:`MAX_EXTENSION`); ``found`` gains what the store holds of them."""
    extra: list[Planned] = []
    while len(extra) < MAX_EXTENSION:
        best = best_rate(found, runs + extra, group, schedule)
        if best is None:
            break
        rates = sorted(
            p.config.lr for p in runs + extra if p.group == group and p.label == schedule
        )
        lr = best[0]
        if len(rates) < 2 or rates[0] < lr < rates[-1]:
            break
        nxt = outward_rate(lr, lower=lr == rates[0])
        p = _tagged(_grid_run(base, group, schedule, nxt), quick=False)
        extra.append(p)
        found.update(find_runs(store, [p]))
    return extra


def _dependent(
    store, runs: list[Planned], fm: RunConfig, cifar: RunConfig, extend: bool = True
) -> list[Planned]:
    found = find_runs(store, runs)
    out: list[Planned] = []
    for s in BASELINES:
        extra = _extended(store, runs, found, fm, s) if extend else []
        out += extra
        best = best_rate(found, runs + extra, "grid", s)
        if best is None:
            continue
        lr, key = best
        cfg = _baseline(fm, s, lr, 1, f"{fm.model}/{fm.dataset} {s} best lr {lr:g} seed 1")
        out.append(Planned(f"best/{s}/seed1", "best", s, 1, cfg))
        if s == "onecycle":
            for seed, source in ((0, key), (1, "best/onecycle/seed1")):
                cfg = fm.replace(
                    schedule="actcool",
                    lr=lr,
                    seed=seed,
                    name=f"reproduce {fm.model}/{fm.dataset} actcool replaying 1-cycle seed {seed}",
                )
                out.append(
                    Planned(
                        f"replay/onecycle/seed{seed}",
                        "replay",
                        "replay",
                        seed,
                        cfg,
                        replay_of=source,
                    )
                )
    extra = _extended(store, runs, found, cifar, "onecycle", "cifar") if extend else []
    out += extra
    best = best_rate(found, runs + extra, "cifar", "onecycle")
    if best is not None:
        lr, key = best
        cfg = cifar.replace(
            schedule="actcool",
            lr=lr,
            seed=0,
            name=f"reproduce {cifar.model}/cifar10 actcool replaying 1-cycle seed 0",
        )
        out.append(
            Planned(
                "cifar/replay/seed0", "cifar", "replay", 0, cfg, replay_of=key, model=cifar.model
            )
        )
    planned = {p.key: p for p in runs + out}
    return [_with_replay_target(store, p, planned) for p in out]


def _with_replay_target(store, p: Planned, planned: dict[str, Planned]) -> Planned:
    """A replay with its target, the measured T̄ of its source once that has finished (so a
    stored replay is reused only if it replayed exactly that curve); else ``p`` as it is."""
    if p.replay_of is None:
        return p
    source = find_runs(store, [planned[p.replay_of]]).get(p.replay_of)
    if source is None or source["status"] != "finished":
        return p
    try:
        target = replay_target(store, source)
    except ValueError as exc:  # too few measurements: train() reports it when it gets there
        log.debug("%s: no replay target from %s: %s", p.key, p.replay_of, exc)
        return p
    return replace(p, config=p.config.replace(target=target))


def replay_target(store, run: dict) -> str:
    """The measured mean temperature of a finished run as a replay curve's JSON (docs/algorithm.md §5)."""
    from actcool import ReplayCurve

    steps = store.steps(run["id"]).dropna(subset=["mean_temperature"])
    total = (run["summary"] or {}).get("total_steps")
    curve = ReplayCurve.from_measurements(
        steps["step"], steps["mean_temperature"], total_steps=total
    )
    return json.dumps(curve.to_dict())


def _same(stored: dict, cfg: RunConfig, summary: dict | None = None) -> bool:
    """Whether a stored run was trained from ``cfg`` (names and tags are bookkeeping: the plan
    key is matched on the run's tags). A target given by name (``default``, ``power:…``) is
    stored resolved, so only a curve given as JSON (a replay's) is compared."""
    mine = cfg.to_dict()
    # A field added after the run was stored ran at its default (e.g. nproc), or at the value of
    # its time where the default changed behaviour (RunConfig.from_dict's LEGACY).
    try:
        stored = RunConfig.from_dict(dict(stored)).to_dict()
    except (ConfigError, TypeError, ValueError):
        return False
    if mine["target"].lstrip().startswith("{"):
        try:
            if json.loads(stored["target"]) != json.loads(mine["target"]):
                return False
        except (TypeError, ValueError):
            return False
    # The calibration as run: "auto" meant "fixed" before it meant "ramp", and the summary
    # records what a run resolved it to.
    ran = (summary or {}).get("calibration") or stored["calibration"]
    if str(Calibration.parse(ran)) != str(Calibration.parse(mine["calibration"])):
        return False
    ignored = {"target", "name", "tags", "calibration"}
    # start_factor sets only the first step of an ActCoolLR run whose target is known from the
    # start; a baseline or a ramp calibration does not read it.
    ramp = mine["target"] == "default" and Calibration.parse(mine["calibration"]).kind == "ramp"
    if mine["schedule"] != "actcool" or ramp:
        ignored.add("start_factor")
    return all(stored[k] == v for k, v in mine.items() if k not in ignored)


def find_runs(store, runs: list, tag: str = TAG) -> dict[str, dict]:
    """For each plan key, the stored run whose config matches, as ``get_run`` dicts: the newest
    finished one, else the newest of any status."""
    table = store.list_runs(tag=tag)
    found: dict[str, dict] = {}
    for p in runs:
        matches = [
            row
            for _, row in table.iterrows()  # newest first
            if f"plan:{p.key}" in row["tags"] and _same(row["config"], p.config, row.get("summary"))
        ]
        best = next(
            (r for r in matches if r["status"] == "finished"), matches[0] if matches else None
        )
        if best is not None:
            found[p.key] = best.to_dict()
    return found


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
        "--data-dir", type=Path, default=SHARED_DATA, help="Fashion-MNIST and cifar10-jpeg"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from storage import Store

    from .report import write_report

    if not args.quick and not args.data_dir.exists():
        parser.error(
            f"{args.data_dir} not found: it must hold FashionMNIST/ and cifar10-jpeg/ "
            "(see ../shared/data/README.md), or use --quick"
        )
    store = Store(args.home)
    t0 = time.monotonic()
    if not args.report_only:
        train_all(store, args.quick, args.data_dir)
    runs = plan(args.quick, args.data_dir, store)
    out = args.out or (RESULTS.with_name("results-quick") if args.quick else RESULTS)
    path = write_report(
        store,
        runs,
        find_runs(store, runs),
        out,
        quick=args.quick,
        train_seconds=None if args.report_only else time.monotonic() - t0,
    )
    log.info("report: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
