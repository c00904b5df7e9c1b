"""The temperature under bf16 autocast against float32, on the same steps (issue "A GPU
trainer", item 3: bf16 must not change what the schedule reads).

A network trains in float32 under 1-cycle. At every ``every``-th step, the LR range scan of that
step (the same batch, ``actcool.lr_scan``) is measured three times: in float32 (``fp32``); with
the step and every pass under bf16 autocast (``bf16``: what a step that does not scan reads);
and with the step under bf16 autocast and the scan in float32 (``read``: what a step that
scans reads, the default since scans run in float32 under autocast). Per step: the mean
``unit:64`` temperature at the step's own rate and the Weibull λ0 (the rate scale ActCoolLR's
finder reads) of each. The figure is the largest ``|T_bf16 / T_fp32 − 1|`` at the steps' own
rates (where float32 reads at least 0.05 bits), and the largest ``|λ0_read / λ0_fp32 − 1|``;
``λ0_bf16`` is shown beside it, as scans read it before they ran in float32.

Run: ``python -m benchmarks.precision_temperature [--model convnet4] [--steps 300] [--every 60]
[--device cpu]`` (Fashion-MNIST for convnet4, CIFAR-10 for resnet20, from ``--data-dir``;
synthetic images where they are absent). ``benchmarks/gpu_check.py`` runs it on the GPU.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .setups import SHARED_DATA

#: Rates of each scan (the step's own rate is added): eight decades around training rates.
SCAN_LRS = tuple(float(v) for v in np.logspace(-5, 2, 22))
#: Below this float32 temperature (bits) a ratio is noise and is not judged.
MIN_BITS = 0.05
#: Goal: bf16 reads the temperature and λ0 within this share of float32.
GOAL = 0.1

__all__ = ["GOAL", "compare", "main", "summarise"]


def compare(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    total: int,
    every: int,
    device_type: str,
) -> list[dict[str, Any]]:
    """Train ``net`` for ``total`` steps at the optimizer's rate under a 1-cycle peaking there,
    scanning every ``every``-th step in both precisions; one row per scanned step."""
    from actcool import lr_scan

    peak = float(optimizer.param_groups[0]["lr"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=total)
    loss_fn = nn.functional.cross_entropy
    rows = []
    for t, (x, y) in enumerate(batches):
        if t >= total:
            break
        if t % every == 0 or t == total - 1:
            lr = float(optimizer.param_groups[0]["lr"])
            grid = sorted({*SCAN_LRS, lr})
            at = grid.index(lr)
            scans = {}
            for name, autocast, in_float32 in (
                ("fp32", False, True),
                ("bf16", True, False),
                ("read", True, True),
            ):
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
                    scans[name] = lr_scan(
                        net, optimizer, (x, y), loss_fn, lrs=grid, scan_in_float32=in_float32
                    )
            row: dict[str, Any] = {"step": t, "lr": lr}
            for name, test in scans.items():
                fit = test.fits.weibull_mean
                row[f"t_{name}"] = float(test.scan.mean_temperatures[at])
                row[f"lambda0_{name}"] = None if fit is None else float(fit.lambda0)
            rows.append(row)
        loss = loss_fn(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or not b > 0 else a / b


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figure of ``compare``'s rows: the largest relative differences (``None`` where no
    step qualifies) and whether the temperature (bf16) and λ0 (as read) are within
    :data:`GOAL`."""
    judged = [r for r in rows if r["t_fp32"] >= MIN_BITS]
    t_dev = _deviation(judged, "t_bf16", "t_fp32")
    lam_dev = _deviation(rows, "lambda0_read", "lambda0_fp32")
    met = t_dev is not None and lam_dev is not None and max(t_dev, lam_dev) <= GOAL
    return {
        "temperature_deviation": t_dev,
        "lambda0_deviation": lam_dev,
        "lambda0_deviation_bf16_scan": _deviation(rows, "lambda0_bf16", "lambda0_fp32"),
        "steps_judged": len(judged),
        "met": met,
    }


def _deviation(rows: Sequence[dict[str, Any]], key: str, reference: str) -> float | None:
    """The largest ``|row[key] / row[reference] − 1|``, rounded; ``None`` where none is defined."""
    ratios = [_ratio(r[key], r[reference]) for r in rows]
    return max((round(abs(v - 1), 4) for v in ratios if v is not None), default=None)


def setup(model: str, data_dir: Path | None, batch: int, lr: float, device: torch.device):
    """The network, its optimizer (SGD, momentum 0.9, peak ``lr``) and a batch iterator."""
    from trainer.data import epoch_generator, load_dataset
    from trainer.errors import MissingInputError
    from trainer.models import build_model

    dataset = "cifar10" if model.startswith("resnet") else "fashion-mnist"
    try:
        if data_dir is None:
            raise MissingInputError("no data folder given")
        bundle = load_dataset(dataset, data_dir, val_fraction=0.1, seed=0, download=False)
    except MissingInputError:  # absent: synthetic images of the same shape
        shape = "3x32x32" if dataset == "cifar10" else "1x28x28"
        bundle = load_dataset(f"synthetic:{shape}", ".", val_fraction=0.1, seed=0)
    bundle = bundle.to(device)
    torch.manual_seed(0)
    net = build_model(model, bundle.in_channels, bundle.num_classes, bundle.image_size).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)

    def batches():
        for epoch in range(10**6):
            gen = epoch_generator(0, epoch)
            yield from bundle.batches("train", batch, shuffle=True, generator=gen, drop_last=True)

    return net, opt, batches(), bundle.source


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="convnet4")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=60)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    net, opt, batches, source = setup(args.model, args.data_dir, args.batch, args.lr, device)
    rows = compare(net, opt, batches, args.steps, args.every, device.type)
    for row in rows:
        print(json.dumps(row), flush=True)
    figure = {"model": args.model, "data": source, **summarise(rows), "rows": rows}
    print(json.dumps({k: v for k, v in figure.items() if k != "rows"}), flush=True)
    return figure


if __name__ == "__main__":
    main()
