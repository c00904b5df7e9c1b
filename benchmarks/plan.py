"""The plan of the reproduction: which runs it trains, and how it matches them in the store.

:mod:`benchmarks.reproduce` trains this plan and :mod:`benchmarks.report` renders it; both
import it, and it imports neither. The plan (data from ``../shared/data``; 2 epochs at batch
128, SGD momentum 0.9, weight decay 5e-4; temperatures at the default granularity ``unit:64``,
also counting ``sample`` and ``position``; about 90 s per convnet4 run on 2 CPU cores):

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

With ``quick``, a miniature of the same plan on scikit-learn's digits (no data needed).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

from actcool.calibration import AUTO, CALIBRATIONS, Calibration
from benchmarks import setups
from benchmarks.setups import SHARED_DATA
from trainer.config import RunConfig
from trainer.errors import ConfigError

__all__ = [
    "AUTO",
    "BASELINES",
    "CALIBRATIONS",
    "CIFAR_RATES",
    "GAMMAS",
    "HINT_LR",
    "MAX_EXTENSION",
    "RATES",
    "SEEDS",
    "TAG",
    "Planned",
    "best_rate",
    "find_runs",
    "outward_rate",
    "plan",
    "replay_target",
]

TAG = "reproduce"
BASELINES = ("onecycle", "cosine", "step", "schedulefree")
RATES = (0.02, 0.05, 0.1, 0.2)
#: How far a grid whose best rate sits at an end grows outward (full plan only), one rate of
#: the 1-2-5 sequence at a time, so that no baseline is judged at the edge of its grid.
MAX_EXTENSION = 3
CIFAR_RATES = (0.05, 0.1, 0.2)
GAMMAS = (0.5, 2.0, 4.0)
HINT_LR = 0.05  # the optimizer's rate ActCoolLR gets: a common default, not tuned
SEEDS = (0, 1)

log = logging.getLogger(__name__)


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
