"""The paper's claims at CPU scale: train the runs, then write the report (issue: benchmarks).

``python -m benchmarks.reproduce`` trains every run of the plan below with the trainer itself,
into the dashboard's store (``$ACTCOOL_HOME`` or ``./actcool-data``, so the runs show up on
its Compare page), then writes ``benchmarks/results/REPORT.md``, its PNG figures and
``results.json``. Runs already finished in the store under the same plan key and config are
reused, a stopped or lost one is resumed, so an interrupted reproduction continues where it
left off. ``--report-only`` rewrites the report from the stored runs.

The full plan (about 95 minutes on 2 CPU cores, data from ``../shared/data``; one convnet4
epoch on Fashion-MNIST takes about 100 s there, one ResNet-20 epoch on CIFAR-10 about 4 min):

- ``schedules``: convnet4 on Fashion-MNIST, 2 epochs at batch 128, SGD (momentum 0.9,
  weight decay 5e-4, rate 0.05: the constant rate and the peak of the others), seeds 0 and
  1, with constant, step (x0.1 at 50% and 75%), 1-cycle (30% warm-up), cosine and ActCoolLR
  (linear cooling from 3.17 bits). An LR range scan every 100 steps.
- ``cifar``: resnet20 on CIFAR-10 (the JPEG copy), 2 epochs, seed 0, 1-cycle vs ActCoolLR,
  an LR range scan every epoch.
- ``replay``: ActCoolLR whose target replays the mean temperature measured in the 1-cycle run
  of the same seed (``ReplayCurve.from_measurements``): if the temperature curve is what
  matters, as the paper argues, it should land near 1-cycle's error. Seeds 0 and 1, and the
  same for the CIFAR-10 1-cycle run.
- ``gamma``: ActCoolLR with the power curve at γ = 0.5, 2 and 4, same setup as ``schedules``
  (γ = 1 is its ActCoolLR run), seeds 0 and 1.

``--quick`` runs a miniature of the same plan on scikit-learn's digits (no data needed, about
two minutes): it checks the pipeline, not the claims.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/reproduce.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.config import RunConfig  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
TAG = "reproduce"
SCHEDULES = ("constant", "step", "onecycle", "cosine", "actcool")
GAMMAS = (0.5, 1.0, 2.0, 4.0)
LINEAR = "power:3.17,1"

log = logging.getLogger("benchmarks.reproduce")


@dataclass(frozen=True)
class Planned:
    """One run of the plan: ``key`` names it in the store (tag ``plan:<key>``)."""

    key: str
    group: str  # schedules | cifar | replay | gamma
    label: str
    seed: int
    config: RunConfig
    replay_of: str | None = None  # ActCoolLR replaying this planned run's measured T̄


def plan(quick: bool = False, data_dir: Path = SHARED_DATA) -> list[Planned]:
    """The runs of the reproduction, in the order they are trained (the γ sweep last: a
    reproduction cut short still has every other section)."""
    if quick:
        base = RunConfig(model="convnet4", dataset="digits", epochs=3, batch_size=64,
                         scan_every=10, scan_unit="step", measure_every=2, tags=(TAG,))
        seeds, cifar = (0, 1), RunConfig(model="resnet20", dataset="digits", epochs=2,
                                         batch_size=64, scan_every=0, tags=(TAG,))
    else:
        base = RunConfig(model="convnet4", dataset="fashion-mnist", data_dir=str(data_dir),
                         download=False, epochs=2, batch_size=128, scan_every=100,
                         scan_unit="step", measure_every=10, tags=(TAG,))
        seeds = (0, 1)
        cifar = RunConfig(model="resnet20", dataset="imagefolder:" + str(data_dir / "cifar10-jpeg"),
                          data_dir=str(data_dir), download=False, epochs=2, batch_size=128,
                          scan_every=1, scan_unit="epoch", measure_every=10, tags=(TAG,))
    runs: list[Planned] = []
    for seed in seeds:
        for s in SCHEDULES:
            cfg = base.replace(schedule=s, seed=seed, target=LINEAR,
                               name=f"reproduce {base.model}/{base.dataset} {s} seed {seed}")
            runs.append(Planned(f"schedules/{s}/seed{seed}", "schedules", s, seed, cfg))
    for s in ("onecycle", "actcool"):
        cfg = cifar.replace(schedule=s, seed=0, target=LINEAR,
                            name=f"reproduce {cifar.model}/cifar10 {s} seed 0")
        runs.append(Planned(f"cifar/{s}/seed0", "cifar", s, 0, cfg))
    for seed in seeds:  # the paper's premise: is 1-cycle's temperature curve what matters?
        cfg = base.replace(schedule="actcool", seed=seed, target=LINEAR,
                           name=f"reproduce {base.model}/{base.dataset} actcool replaying 1-cycle seed {seed}")
        runs.append(Planned(f"replay/onecycle/seed{seed}", "replay", "replay", seed, cfg,
                            replay_of=f"schedules/onecycle/seed{seed}"))
    cfg = cifar.replace(schedule="actcool", seed=0, target=LINEAR,
                        name=f"reproduce {cifar.model}/cifar10 actcool replaying 1-cycle seed 0")
    runs.append(Planned("cifar/replay/seed0", "cifar", "replay", 0, cfg, replay_of="cifar/onecycle/seed0"))
    for seed in seeds:
        for g in GAMMAS:
            if g == 1.0:
                continue  # the linear ActCoolLR run of the schedules group
            cfg = base.replace(schedule="actcool", seed=seed, target=f"power:3.17,{g:g}",
                               name=f"reproduce {base.model}/{base.dataset} actcool γ={g:g} seed {seed}")
            runs.append(Planned(f"gamma/{g:g}/seed{seed}", "gamma", f"γ={g:g}", seed, cfg))
    return [Planned(p.key, p.group, p.label, p.seed,
                    p.config.replace(tags=(TAG, f"plan:{p.key}", "quick" if quick else "full")),
                    p.replay_of)
            for p in runs]


def replay_target(store, run: dict) -> str:
    """The measured mean temperature of a finished run as a replay curve's JSON (SPEC §5)."""
    from actcool import ReplayCurve

    steps = store.steps(run["id"]).dropna(subset=["mean_temperature"])
    total = (run["summary"] or {}).get("total_steps")
    curve = ReplayCurve.from_measurements(steps["step"], steps["mean_temperature"], total_steps=total)
    return json.dumps(curve.to_dict())


def gamma_of(p: Planned) -> float:
    """The power-curve exponent of an ActCoolLR run of the plan."""
    return float(p.config.target.split(",")[1])


def _same(stored: dict, cfg: RunConfig) -> bool:
    """Whether a stored run was trained from ``cfg`` (targets are stored resolved)."""
    mine = cfg.to_dict()
    return all(stored.get(k) == v for k, v in mine.items() if k not in ("target", "name"))


def find_runs(store, runs: list, tag: str = TAG) -> dict[str, dict]:
    """The newest stored run of each plan key whose config matches, as ``get_run`` dicts."""
    table = store.list_runs(tag=tag)
    found: dict[str, dict] = {}
    for p in runs:
        for _, row in table.iterrows():  # newest first
            if f"plan:{p.key}" in row["tags"] and _same(row["config"], p.config):
                found[p.key] = row.to_dict()
                break
    return found


def train(store, runs: list, tag: str = TAG) -> None:
    """Train what is missing: reuse finished runs, resume stopped/lost ones, start the rest."""
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
        if replay_of is not None and status not in ("stopped", "lost"):
            source = find_runs(store, [q for q in runs if q.key == replay_of], tag).get(replay_of)
            if source is None or source["status"] != "finished":
                log.warning("[%d/%d] %s: skipped, %s has not finished", i, len(runs), p.key, replay_of)
                continue
            config = config.replace(target=replay_target(store, source))
        if status in ("stopped", "lost"):
            log.info("[%d/%d] %s: resuming %s run %s", i, len(runs), p.key, status, row["id"])
            result = train_run(p.config, store, run_id=row["id"], resume=True, progress=False)
        else:
            log.info("[%d/%d] %s: training", i, len(runs), p.key)
            result = train_run(config, store, progress=False)
        log.info("[%d/%d] %s: %s in %.0f s, test error %s", i, len(runs), p.key, result.status,
                 time.monotonic() - t0, result.test_error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a miniature on digits (pipeline check)")
    parser.add_argument("--home", help="the store (default: $ACTCOOL_HOME or ./actcool-data)")
    parser.add_argument("--out", type=Path, help=f"report folder (default: {RESULTS}, or "
                        "results-quick next to it with --quick)")
    parser.add_argument("--report-only", action="store_true", help="write the report from stored runs")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA, help="Fashion-MNIST and cifar10-jpeg")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from storage import Store

    from .report import write_report

    if not args.quick and not args.data_dir.exists():
        parser.error(f"{args.data_dir} not found: it must hold FashionMNIST/ and cifar10-jpeg/ "
                     "(see ../shared/data/README.md), or use --quick")
    store = Store(args.home)
    runs = plan(args.quick, args.data_dir)
    t0 = time.monotonic()
    if not args.report_only:
        train(store, runs)
    out = args.out or (RESULTS.with_name("results-quick") if args.quick else RESULTS)
    path = write_report(store, runs, find_runs(store, runs), out, quick=args.quick,
                        train_seconds=None if args.report_only else time.monotonic() - t0)
    log.info("report: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
