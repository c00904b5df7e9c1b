"""Test error against the typed learning rate: ActCoolLR's default beside 1-cycle at each rate.

The question of issue "No tuning at all": a user types one number, the optimizer's rate, and
does not know the good one. This trains, in a plain PyTorch loop as a user would (no trainer),
one network per (schedule, rate, seed):

- ``onecycle``: ``torch.optim.lr_scheduler.OneCycleLR`` peaking at the typed rate;
- ``cosine``: a linear warm-up over 5% of training to the typed rate, then
  ``CosineAnnealingLR`` to zero (``SequentialLR``), as transformers are usually trained;
- ``actcool``: ``ActCoolLR(optimizer, model, total_steps=N)``, the defaults, with the loss given
  to ``step(loss=...)`` (the README's loop);
- ``actcool-noguard``: the same with ``guard=False`` (what the guard changes);
- ``actcool-probe``: the same with ``find_lr="probe"`` (Adam's family: the peak from the loss
  probe of the warm-up, docs/algorithm.md §4.8);
- ``actcool-branch``: the same with ``find_lr=BranchFinder(batches, loss_fn)``, the batches a
  shuffling loader of the training set gives (the peak from short branches in the middle of
  the warm-up, docs/algorithm.md §4.9);
- ``actcool-branch-low``: the same with ``BranchFinder(..., warmup_to_lowest=True)`` (until the
  search the warm-up rises towards the lowest candidate, not the scan's peak);
- ``actcool-branch-2``: the same with ``BranchFinder(..., draws=2)`` (the candidates compared on
  their mean loss over two draws of batches, twice the search's cost);
- ``schedulefree``: schedule-free SGD (the ``schedulefree`` package) at the typed rate, warming up
  over 5% of training, evaluated at its averaged weights: the reference that needs no schedule.

Models: the trainer's ``convnet4`` (BatchNorm), and ``cnn-plain``, a small CNN without BatchNorm,
and ``mlp``, a two-hidden-layer MLP, that are none of the trainer's models (held out), on
Fashion-MNIST, and ``cnn-silu``, a SiLU CNN with BatchNorm (held out too); ``mlp-gelu``, a GELU
MLP with LayerNorm, and ``cnn-lrelu``, a LeakyReLU CNN with dropout, added after every factor
was chosen (held out from all of them); ``resnet20``, the trainer's ``vit-tiny`` and ``vgg-bn``
(a small VGG-style CNN with BatchNorm, held out like the last two) on CIFAR-10 (the JPEG copy, random crop and flip as the trainer does); ``tf-rows``, torch's own
``nn.TransformerEncoder`` over an image's rows built with ``activation="gelu"``, and ``mbnet-hs``,
a MobileNet-style CNN with depthwise-separable blocks, BatchNorm and Hardswish, on Fashion-MNIST
(added in session 17, held out from every choice); ``vit-timm``, timm's ``VisionTransformer``
sized for 28 px (the ``[timm]`` extra; added in session 18, held out from the attention factor),
and ``mixer-timm``, timm's ``MlpMixer`` of the same size: tokens and LayerNorm, no attention;
``mlp-gelu-zh`` and ``cnn-lrelu-zh``, the same two held-out networks with their heads
initialised to zero, and ``resnet20-zi``, ResNet-20 on CIFAR-10 with the last BatchNorm of each
block initialised to zero (zero-γ; added in session 19 for SGD's wait for λ0 to settle);
``mlp-zh`` and ``cnn-plain-zh``, the MLP and the CNN without BatchNorm with their heads
initialised to zero (session 20; ``cnn-plain-zh`` held out from SGD's wait rate).
Data from ``../shared/data`` only. With ``Plan.measure`` a run also records its temperatures
(``benchmarks.activations``).
Runs go to a JSON file (one line per run, reused when present), and
``python -m benchmarks.rates --report`` writes ``benchmarks/results/RATES.md`` and ``rates.png``.

    python -m benchmarks.rates --models convnet4 --rates 0.01 0.1 1.0 --seeds 0 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .setups import CIFAR_MODELS, SHARED_DATA

RESULTS = Path(__file__).resolve().parent / "results"
RUNS_FILE = RESULTS / "rates.jsonl"
#: The sweep's schedules and models (its defaults); the activations study adds the rest.
SCHEDULES = ("onecycle", "actcool", "actcool-noguard", "actcool-typed", "schedulefree")
MODELS = ("convnet4", "cnn-plain", "mlp", "resnet20")
#: The branch-search schedules and their BranchFinder settings beyond the defaults.
BRANCH_SCHEDULES: dict[str, dict[str, Any]] = {
    "actcool-branch": {},
    "actcool-branch-low": {"warmup_to_lowest": True},
    "actcool-branch-2": {"draws": 2},
}
ALL_SCHEDULES = (*SCHEDULES, "cosine", "actcool-probe", *BRANCH_SCHEDULES)
#: Networks added after the finder's factors and the guard's thresholds were chosen.
HELD_OUT = (
    "mlp-gelu",
    "cnn-lrelu",
    "vgg-bn",
    "tf-rows",
    "mbnet-hs",
    "vit-timm",
    "mixer-timm",
    "mlp-gelu-zh",
    "cnn-lrelu-zh",
    "resnet20-zi",
    "mlp-zh",
    "cnn-plain-zh",
)
ALL_MODELS = (*MODELS, "vit-tiny", "cnn-silu", *HELD_OUT)
OPTIMIZERS = ("sgd", "adamw")
RATES = (0.01, 0.03, 0.1, 0.3, 1.0)
CHANCE = 90.0  # test error of a network that answers one class, in %
CIFAR_CACHE = Path(tempfile.gettempdir()) / "actcool-benchmarks-cifar10"  # decoded JPEGs


@dataclass(frozen=True)
class Plan:
    model: str
    schedule: str
    rate: float
    seed: int
    epochs: int = 1
    batch_size: int = 128
    optimizer: str = "sgd"
    measure: bool = False  # record temperatures and three LR range scans (a monitor)

    @property
    def key(self) -> str:
        key = f"{self.model}/{self.schedule}/lr{self.rate:g}/seed{self.seed}/ep{self.epochs}"
        key = key if self.optimizer == "sgd" else f"{key}/{self.optimizer}"
        return f"{key}/measured" if self.measure else key


def _plain_cnn(num_classes: int = 10):
    """A small CNN without BatchNorm (not one of the trainer's models)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


def _mlp(num_classes: int = 10):
    """A two-hidden-layer ReLU MLP on 28×28 images (not one of the trainer's models)."""
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, num_classes),
    )


def _conv_bn(c_in: int, c_out: int, activation) -> list:
    """A 3×3 convolution without bias, BatchNorm and ``activation()``: one block of the CNNs
    with BatchNorm below."""
    from torch import nn

    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), activation()]


def _silu_cnn(num_classes: int = 10):
    """A SiLU CNN with BatchNorm, EfficientNet's activation (not one of the trainer's models)."""
    from torch import nn

    def block(c_in: int, c_out: int) -> list:
        return _conv_bn(c_in, c_out, nn.SiLU)

    return nn.Sequential(
        *block(1, 32),
        *block(32, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        nn.MaxPool2d(2),
        *block(64, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


def _gelu_mlp(num_classes: int = 10):
    """A GELU MLP with LayerNorm, a transformer's MLP block in miniature (held out)."""
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 512),
        nn.LayerNorm(512),
        nn.GELU(),
        nn.Linear(512, 256),
        nn.LayerNorm(256),
        nn.GELU(),
        nn.Linear(256, num_classes),
    )


def _lrelu_cnn(num_classes: int = 10):
    """A LeakyReLU CNN with dropout and no BatchNorm (held out)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * 7 * 7, 128),
        nn.LeakyReLU(0.1),
        nn.Dropout(0.25),
        nn.Linear(128, num_classes),
    )


def _vgg_bn(num_classes: int = 10):
    """A small VGG-style ReLU CNN with BatchNorm for 32 px colour images (held out)."""
    from torch import nn

    def block(c_in: int, c_out: int) -> list:
        return _conv_bn(c_in, c_out, nn.ReLU)

    return nn.Sequential(
        *block(3, 32),
        *block(32, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        *block(64, 64),
        nn.MaxPool2d(2),
        *block(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


def _row_transformer(num_classes: int = 10):
    """torch's own ``nn.TransformerEncoder`` over the 28 rows of an image as tokens, built with
    ``activation="gelu"`` (a function: the sites are the layers' ``linear1``; held out)."""
    import torch
    from torch import nn

    class RowTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(28, 64)
            self.position = nn.Parameter(torch.zeros(1, 28, 64))
            layer = nn.TransformerEncoderLayer(
                64, 4, dim_feedforward=128, dropout=0.0, activation="gelu", batch_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(64)
            self.head = nn.Linear(64, num_classes)

        def forward(self, x):
            tokens = self.embed(x.flatten(1, 2)) + self.position  # (B, 1, 28, 28) -> 28 rows
            return self.head(self.norm(self.encoder(tokens).mean(1)))

    return RowTransformer()


def _mobile_cnn(num_classes: int = 10):
    """A MobileNet-style CNN: depthwise-separable blocks with BatchNorm and Hardswish (held out)."""
    from torch import nn

    def separable(c_in: int, c_out: int, stride: int) -> list:
        return [
            nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            nn.Hardswish(),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.Hardswish(),
        ]

    return nn.Sequential(
        *_conv_bn(1, 16, nn.Hardswish),
        *separable(16, 32, 2),
        *separable(32, 64, 2),
        *separable(64, 64, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


def _timm_vit(num_classes: int = 10):
    """timm's ``VisionTransformer`` sized for 28 px (7 px patches, 4 pre-norm blocks of width 96,
    3 heads; timm's own ``Attention`` and ``nn.GELU`` MLPs; held out from the attention factor)."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=28,
        patch_size=7,
        in_chans=1,
        num_classes=num_classes,
        embed_dim=96,
        depth=4,
        num_heads=3,
        mlp_ratio=2.0,
    )


def _timm_mixer(num_classes: int = 10):
    """timm's ``MlpMixer`` sized as ``vit-timm`` (7 px patches, 4 blocks of width 96): tokens,
    LayerNorm and GELU MLPs, no attention (held out; the control for the attention factor)."""
    from timm.models.mlp_mixer import MlpMixer

    return MlpMixer(
        num_classes=num_classes, img_size=28, in_chans=1, patch_size=7, num_blocks=4, embed_dim=96
    )


def _zero_head(build):
    """``build`` with its classifier (the last ``nn.Linear``) initialised to zero, as timm
    does for its MlpMixer's and ViT's heads: step 0's gradient reaches the head only."""

    def zeroed(num_classes: int = 10):
        from torch import nn

        net = build(num_classes)
        head = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return net

    return zeroed


def _resnet20_zero_init(num_classes: int = 10):
    """The trainer's ResNet-20 with the last BatchNorm of every residual block initialised to
    zero (zero-γ, as timm's ResNets by default): each block starts as its shortcut, and step
    0's gradient reaches none of the blocks' convolutions."""
    from torch import nn

    from trainer.models.registry import build_model
    from trainer.models.resnet_cifar import BasicBlock

    net = build_model("resnet20", 3, num_classes, 32)
    for block in net.modules():
        if isinstance(block, BasicBlock):
            nn.init.zeros_(block.bn2.weight)
    return net


_HAND_BUILT = {
    "cnn-plain": _plain_cnn,
    "mlp": _mlp,
    "cnn-silu": _silu_cnn,
    "mlp-gelu": _gelu_mlp,
    "cnn-lrelu": _lrelu_cnn,
    "vgg-bn": _vgg_bn,
    "tf-rows": _row_transformer,
    "mbnet-hs": _mobile_cnn,
    "vit-timm": _timm_vit,
    "mixer-timm": _timm_mixer,
    "mlp-gelu-zh": _zero_head(_gelu_mlp),
    "cnn-lrelu-zh": _zero_head(_lrelu_cnn),
    "resnet20-zi": _resnet20_zero_init,
    "mlp-zh": _zero_head(_mlp),
    "cnn-plain-zh": _zero_head(_plain_cnn),
}


def _build(model: str):
    if model in _HAND_BUILT:
        return _HAND_BUILT[model]()
    from trainer.models.registry import build_model

    if model in CIFAR_MODELS:
        return build_model(model, 3, 10, 32)
    return build_model(model, 1, 10, 28)


def _data(model: str, data_dir: Path):
    """(train images, labels), (test images, labels) as normalised float tensors, and whether
    to augment (random crop with 4 px padding and horizontal flip)."""
    import torch

    if model in CIFAR_MODELS:
        from trainer.data.cifar10 import MEAN, STD, load_cifar10_raw

        raw = load_cifar10_raw(data_dir, cache_dir=CIFAR_CACHE)
        mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]

        def norm(images):
            return images.float().div_(255).sub_(mean).div_(std)

        train = (norm(raw.train_images), raw.train_labels)
        return train, (norm(raw.test_images), raw.test_labels), True
    from torchvision.datasets import FashionMNIST

    out = []
    for train in (True, False):
        ds = FashionMNIST(str(data_dir), train=train, download=False)
        x = ds.data.float().div_(255).sub_(0.2860).div_(0.3530).unsqueeze(1)
        out.append((x, ds.targets.clone()))
    return out[0], out[1], False


def train_one(plan: Plan, data_dir: Path = SHARED_DATA) -> dict:
    """Train one run as a user would and return its test error and what the scheduler did."""
    import torch
    from torch import nn

    from actcool import ActCoolLR

    torch.set_num_threads(1)

    (x, y), (xt, yt), augment = _data(plan.model, data_dir)
    torch.manual_seed(plan.seed)
    net = _build(plan.model)
    steps_per_epoch = len(x) // plan.batch_size
    total = plan.epochs * steps_per_epoch
    opt = _optimizer(plan, net.parameters(), total)
    if plan.schedule == "schedulefree":
        opt.train()
        sched = None
    elif plan.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=plan.rate, total_steps=total)
    elif plan.schedule == "cosine":
        sched = _warmup_cosine(opt, total)
    else:
        from actcool import BranchFinder

        guard = plan.schedule != "actcool-noguard"
        find_lr = {"actcool-typed": False, "actcool-probe": "probe"}.get(plan.schedule, True)
        if plan.schedule in BRANCH_SCHEDULES:
            loader = _Shuffled(x, y, plan.batch_size, plan.seed + 1, augment)
            settings = BRANCH_SCHEDULES[plan.schedule]
            find_lr = BranchFinder(loader, nn.functional.cross_entropy, **settings)
        sched = ActCoolLR(opt, net, total_steps=total, guard=guard, find_lr=find_lr)
    monitor = _monitor(net, opt, sched, total) if plan.measure else None
    loss_fn = nn.CrossEntropyLoss()
    batches = _Shuffled(x, y, plan.batch_size, plan.seed, augment)
    lrs, losses, started, diverged = [], [], time.monotonic(), False
    net.train()
    for _ in range(plan.epochs):
        for xb, yb in batches:
            loss = loss_fn(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            lrs.append(opt.param_groups[0]["lr"])
            if isinstance(sched, ActCoolLR):
                sched.step(loss=loss)
            elif sched is not None:
                sched.step()
            if monitor is not None:
                monitor.record(lrs[-1])
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                diverged = True
                break
        if diverged:
            break
    if plan.schedule == "schedulefree":
        _schedule_free_eval(opt, net, x, plan.batch_size)
    net.eval()
    with torch.no_grad():
        wrong = sum(
            int((net(xt[i : i + 1000]).argmax(1) != yt[i : i + 1000]).sum())
            for i in range(0, len(xt), 1000)
        )
    error = 100.0 * wrong / len(xt) if not diverged else float("nan")
    row = {
        **asdict(plan),
        "key": plan.key,
        "test_error": error,
        "diverged": diverged,
        "seconds": round(time.monotonic() - started, 1),
        "peak_lr": max(lrs),
        "lr_curve": [float(v) for v in lrs[:: max(1, len(lrs) // 50)]],
        "loss_curve": [float(np.mean(losses[i : i + 10])) for i in range(0, len(losses), 10)],
    }
    if monitor is not None:
        row["temperatures"] = monitor.close()
    if isinstance(sched, ActCoolLR):
        row["guard_events"] = [e.to_dict() for e in sched.guard_events]
        row["t_start"] = sched.calibrated_start
        row["found_lr"] = sched.found_lr
        if sched.branch_result is not None:  # the branch search (docs/algorithm.md §4.9)
            row["branches"] = sched.branch_result.to_dict()
        if sched.probe is not None:  # Adam's loss probe (docs/algorithm.md §4.8)
            probe = sched.probe
            row["probe"] = {"best_lr": probe.best_lr, "end": probe.ended_step, "why": probe.reason}
        sched.close()
    return row


class _Shuffled:
    """Batches of a shuffling loader over ``(x, y)``, as a user's ``DataLoader`` gives them
    (its own generator; random crop and flip with ``augment``)."""

    def __init__(self, x, y, batch_size: int, seed: int, augment: bool) -> None:
        import torch

        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        import torch

        from trainer.data.batching import crop_flip

        order = torch.randperm(len(self.x), generator=self.gen)
        for b in range(len(self.x) // self.batch_size):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            xb = self.x[idx]
            if self.augment:
                offsets = torch.randint(0, 9, (2, len(idx)), generator=self.gen)
                flips = torch.rand(len(idx), generator=self.gen) < 0.5
                xb = crop_flip(xb, offsets, flips, 4)
            yield xb, self.y[idx]


def _warmup_cosine(opt, total: int):
    """Linear warm-up over 5% of training from 1% of the rate, then a cosine to zero."""
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    warmup = max(1, round(0.05 * total))
    return SequentialLR(
        opt,
        [
            LinearLR(opt, start_factor=0.01, total_iters=warmup),
            CosineAnnealingLR(opt, T_max=total - warmup),
        ],
        milestones=[warmup],
    )


def _monitor(net, opt, sched, total: int):
    """What ``Plan.measure`` records: ActCoolLR's own measurements, else a monitor's."""
    from .measure_log import MeasureLog

    return MeasureLog(net, opt, sched, total)


def _optimizer(plan: Plan, params, total: int):
    """The optimizer a user would write: SGD with momentum 0.9 and weight decay 5e-4, or AdamW
    with torch's defaults; the schedule-free variant of either for ``schedulefree``."""
    import torch

    if plan.schedule == "schedulefree":
        import schedulefree

        warmup = round(0.05 * total)
        if plan.optimizer == "adamw":
            return schedulefree.AdamWScheduleFree(params, lr=plan.rate, warmup_steps=warmup)
        return schedulefree.SGDScheduleFree(
            params, lr=plan.rate, momentum=0.9, weight_decay=5e-4, warmup_steps=warmup
        )
    if plan.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=plan.rate)
    return torch.optim.SGD(params, lr=plan.rate, momentum=0.9, weight_decay=5e-4)


def _schedule_free_eval(opt, net, x, batch_size: int) -> None:
    """Switch a schedule-free optimizer to its averaged weights and recompute BatchNorm's statistics
    there (as the package's docs ask), on up to 50 training batches."""
    from torch.optim.swa_utils import update_bn

    opt.eval()
    update_bn(
        [x[i : i + batch_size] for i in range(0, min(len(x), 50 * batch_size), batch_size)], net
    )


def _done(runs_file: Path | None = None) -> dict[str, dict]:
    runs_file = runs_file or RUNS_FILE
    if not runs_file.exists():
        return {}
    rows = [json.loads(line) for line in runs_file.read_text().splitlines() if line.strip()]
    return {r["key"]: r for r in rows}


def run(
    plans: Iterable[Plan],
    jobs: int,
    data_dir: Path = SHARED_DATA,
    runs_file: Path | None = None,
) -> list[dict]:
    """Train every plan not yet in the runs file (``jobs`` at a time) and append it there."""
    runs_file = runs_file or RUNS_FILE
    done = _done(runs_file)
    todo = [p for p in plans if p.key not in done]
    runs_file.parent.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    with ctx.Pool(jobs) as pool, runs_file.open("a") as out:
        for row in pool.imap_unordered(partial(train_one, data_dir=data_dir), todo):
            out.write(json.dumps(row) + "\n")
            out.flush()
            events = len(row.get("guard_events", []))
            print(
                f"{row['key']}: {row['test_error']:.2f}% peak {row['peak_lr']:.3g} "
                f"cuts {events} ({row['seconds']:.0f} s)",
                flush=True,
            )
    return list(_done(runs_file).values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=ALL_MODELS)
    parser.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=ALL_SCHEDULES)
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--report", action="store_true", help="write RATES.md from the runs")
    args = parser.parse_args(argv)
    if not (args.data_dir / "FashionMNIST").exists():
        parser.error(f"no Fashion-MNIST under {args.data_dir} (see ../shared/data/README.md)")
    if "resnet20" in args.models and not (args.data_dir / "cifar10-jpeg").exists():
        parser.error(f"no cifar10-jpeg under {args.data_dir} (see ../shared/data/README.md)")
    if not args.report:
        plans = [
            Plan(m, s, r, seed, args.epochs, optimizer=args.optimizer)
            for m in args.models
            for r in args.rates
            for seed in args.seeds
            for s in args.schedules
        ]
        run(plans, args.jobs, args.data_dir)
    from .rates_report import write_report

    write_report(_done().values())


if __name__ == "__main__":
    main()
