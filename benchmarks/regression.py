"""Networks outside the classifiers the finder was measured on: two trained with MSE.

λ0 of the step-0 scan puts these networks' peaks far too high (their MSE gradients are small
while their curvature is not; docs/algorithm.md §4.7), so under SGD the divergence guard, not the
finder, is what keeps them alive, where it can:

- ``regression``: 8 → 64 → 64 → 1 (SiLU) on 5,000 points of a fixed smooth function of 8
  Gaussian inputs plus noise (σ = 0.1), 20 epochs, batch 64; test MSE on 1,000 more;
- ``autoencoder``: 64 → 32 → 8 → 32 → 64 (ReLU) reconstructing scikit-learn's digits (1,400
  images, pixels in [0, 1]), 20 epochs, batch 64; test MSE on the other 397. A network whose
  units all died predicts the mean image: 0.073-0.074.

Each with 1-cycle at the typed rate, ActCoolLR's default, and ActCoolLR with the guard of before
session 21 (no rollback, no flip count: ``DivergenceGuard(rollback=False, min_flips=0)``; it
still cuts at a layer gone dark, but puts nothing back), under SGD (momentum 0.9) and AdamW,
seeds 0 and 1.

Run: ``python -m benchmarks.regression`` (about a minute on 2 cores); it writes
``benchmarks/results/REGRESSION.md``.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "REGRESSION.md"
RATES = {"sgd": (0.01, 0.1, 1.0), "adamw": (1e-3, 1e-2, 1e-1)}
SCHEDULES = {
    "onecycle": "1-cycle peaking at the typed rate",
    "actcool": "ActCoolLR default",
    "actcool-old-guard": "ActCoolLR, the guard without rollback or flip count",
}
EPOCHS, BATCH = 20, 64
TASKS = {
    "regression": "A SiLU MLP regressing a smooth function (8 → 64 → 64 → 1)",
    "autoencoder": "A ReLU autoencoder of scikit-learn's digits (64 → 32 → 8 → 32 → 64)",
}


def _data(task: str):
    """(train inputs, targets, test inputs, targets) of ``task``."""
    import torch

    g = torch.Generator().manual_seed(100)
    if task == "autoencoder":
        from sklearn.datasets import load_digits

        x = torch.tensor(load_digits().data, dtype=torch.float32) / 16
        x = x[torch.randperm(len(x), generator=g)]
        return x[:1400], x[:1400], x[1400:], x[1400:]
    x = torch.randn(6000, 8, generator=g)
    w = torch.randn(8, generator=g)
    noise = 0.1 * torch.randn(6000, generator=g)
    y = (torch.sin(x @ w) + 0.5 * x[:, 0] * x[:, 1] + noise).unsqueeze(1)
    return x[:5000], y[:5000], x[5000:], y[5000:]


def _network(task: str):
    from torch import nn

    sizes, act = (
        ((64, 32, 8, 32, 64), nn.ReLU) if task == "autoencoder" else ((8, 64, 64, 1), nn.SiLU)
    )
    layers: list = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def train_one(task: str, optimizer: str, schedule: str, rate: float, seed: int) -> dict:
    """One run; its test MSE (NaN where the loss went non-finite) and the guard's events."""
    import torch
    from torch.nn import functional as F

    from actcool import ActCoolLR, DivergenceGuard

    torch.set_num_threads(1)
    x, y, xt, yt = _data(task)
    torch.manual_seed(seed)
    net = _network(task)
    if optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=rate, momentum=0.9)
    else:
        opt = torch.optim.AdamW(net.parameters(), lr=rate)
    per_epoch = len(x) // BATCH
    total = EPOCHS * per_epoch
    if schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rate, total_steps=total)
    else:
        guard = True if schedule == "actcool" else DivergenceGuard(rollback=False, min_flips=0)
        sched = ActCoolLR(opt, net, total_steps=total, guard=guard)
    order = torch.Generator().manual_seed(seed)
    diverged = False
    for _ in range(EPOCHS):
        perm = torch.randperm(len(x), generator=order)
        for b in range(per_epoch):
            idx = perm[b * BATCH : (b + 1) * BATCH]
            loss = F.mse_loss(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if isinstance(sched, ActCoolLR):
                sched.step(loss=loss)
            else:
                sched.step()
            if not math.isfinite(float(loss.detach())):
                diverged = True
                break
        if diverged:
            break
    with torch.no_grad():
        mse = float("nan") if diverged else float(F.mse_loss(net(xt), yt))
    events = [e.to_dict() for e in sched.guard_events] if isinstance(sched, ActCoolLR) else []
    if isinstance(sched, ActCoolLR):
        sched.close()
    return {
        "task": task,
        "optimizer": optimizer,
        "schedule": schedule,
        "rate": rate,
        "seed": seed,
        "mse": mse,
        "events": events,
    }


def _cell(rows: list[dict]) -> str:
    values = [r["mse"] for r in rows]
    if any(math.isnan(v) for v in values):
        finite = [v for v in values if not math.isnan(v)]
        died = len(values) - len(finite)
        return f"diverged ({died} of {len(values)})" + (
            f", {', '.join(f'{v:.4f}' for v in finite)}" if finite else ""
        )
    return f"{sum(values) / len(values):.4f} ({', '.join(f'{v:.4f}' for v in values)})"


def report(rows: list[dict]) -> str:
    lines = [
        "# Two networks trained with MSE: where the guard keeps them alive, and where not",
        "",
        "Written by `python -m benchmarks.regression` (docs/algorithm.md §4.7). Test MSE, mean "
        "(seed 0, seed 1), 20 epochs, batch 64. The regression MLP learns a fixed smooth function "
        "of 8 Gaussian inputs plus noise (σ = 0.1, so the floor is 0.01); the autoencoder "
        "reconstructs scikit-learn's digits, and one whose units all died predicts the mean image "
        "(0.073-0.074). A run whose loss went non-finite is counted as diverged.",
        "",
    ]
    for task, title in TASKS.items():
        for optimizer, rates in RATES.items():
            name = "SGD momentum 0.9" if optimizer == "sgd" else "AdamW"
            lines += [
                f"## {title}, {name}",
                "",
                "| schedule | " + " | ".join(f"{r:g}" for r in rates) + " |",
                "|---|" + "---|" * len(rates),
            ]
            mine = [r for r in rows if (r["task"], r["optimizer"]) == (task, optimizer)]
            for schedule, label in SCHEDULES.items():
                cells = []
                for rate in rates:
                    runs = [r for r in mine if (r["schedule"], r["rate"]) == (schedule, rate)]
                    cells.append(_cell(sorted(runs, key=lambda r: r["seed"])))
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            cuts = sorted(
                (
                    r["rate"],
                    r["seed"],
                    len(r["events"]),
                    sum("back to the weights after" in e["detail"] for e in r["events"]),
                    sum("back to the weights it started with" in e["detail"] for e in r["events"]),
                )
                for r in mine
                if r["schedule"] == "actcool"
            )
            lines += [
                "",
                "ActCoolLR default's guard (typed rate, seed: cuts, of which with the state of "
                "the measurement before put back, of which with the run started again from its "
                "first weights): "
                + "; ".join(
                    f"{rate:g}, {seed}: {n}, {back}, {start}" for rate, seed, n, back, start in cuts
                )
                + ".",
                "",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    plans = [
        (task, optimizer, schedule, rate, seed)
        for task in TASKS
        for optimizer, rates in RATES.items()
        for schedule in SCHEDULES
        for rate in rates
        for seed in (0, 1)
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(train_one, *zip(*plans, strict=True)))
    args.out.write_text(report(rows) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
