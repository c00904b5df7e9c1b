"""What measuring costs: ActCoolLR step time, one measurement and one LR scan (issue: core).

On a CIFAR-style ResNet-20 (or ``--model vit-tiny``, under AdamW) at batch 128 (CPU here, CUDA
when present), each figure is a
median ratio of A/B blocks timed alternately (``benchmarks/timing.py``):

- ``step_overhead``: training steps under ``ActCoolLR(measure_every=10)`` / under a constant
  rate, in blocks of 10 steps (one measurement each). Goal <= 1.06 (floor ~1.04: one extra
  train-mode forward per ten steps).
- ``measurement_vs_forward``: one ``monitor.step`` on a measurement step / one train-mode
  forward without gradients. Goal <= 1.3.
- ``scan_vs_forwards``: what one 25-rate LR range scan adds to its measurement step (the 25
  perturbed forwards, their compares and the fits: a scan step minus a plain measurement step,
  both timed in each block) / 25 such forwards. Goal <= 1.2.

Run: ``python -m benchmarks.overhead [--quick]``.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from actcool import ActCoolLR, PowerCurve, TemperatureMonitor
from actcool.curves import PAPER_T_START

from .timing import Ratio, alternate, figure

#: Cost goals (ratios, at most): a training step with ActCoolLR against a constant rate, one
#: measurement against a forward pass, an LR range scan of 25 rates against 25 forward passes.
GOALS = {"step_overhead": 1.06, "measurement_vs_forward": 1.3, "scan_vs_forwards": 1.2}


def _ratio(name: str, r: Ratio, **extra) -> dict:
    """The figure of a cost ratio: its median over the blocks against its goal, and the spread."""
    goal = GOALS[name]
    return figure(
        name,
        round(r.median, 4),
        "ratio",
        f"<= {goal:g}",
        r.median <= goal,
        spread=[round(r.low, 4), round(r.high, 4)],
        **extra,
    )


def _network(model: str, device: torch.device) -> nn.Module:
    from trainer.models import build_model

    return build_model(model, in_channels=3, num_classes=10, image_size=32).to(device)


def _optimizer(model: str, params) -> torch.optim.Optimizer:
    """SGD with momentum for the CNNs, AdamW (torch's defaults, rate 1e-3) for ``vit-tiny``."""
    if model == "vit-tiny":
        return torch.optim.AdamW(params, lr=1e-3)
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)


def main(
    quick: bool = False, smoke: bool = False, clock: str = "wall", model: str = "resnet20"
) -> list[dict]:
    """The three figures; ``smoke`` (CI) runs 2 blocks each at batch 32 to check the code path.

    ``clock="thread"`` times CPU time on one torch thread (``benchmarks/timing.py``), for a
    CPU machine shared with other work; each figure says which clock it used. ``model`` is any
    of the trainer's CIFAR-sized models (``resnet20``, ``vit-tiny``, ...).
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if clock == "thread":
        if device.type == "cuda":
            raise ValueError("clock 'thread' is for CPU runs; a GPU's time is not this thread's")
        torch.set_num_threads(1)
    torch.manual_seed(0)
    batch = 32 if smoke else 128
    quick = quick or smoke
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def make(schedule: str):
        net = _network(model, device)
        opt = _optimizer(model, net.parameters())
        sched = (
            ActCoolLR(opt, net, PowerCurve(PAPER_T_START), total_steps=10_000, k=1.0)
            if schedule == "actcool"
            else None
        )

        def step():
            loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step(x)
            sync()

        return net, opt, step

    rows = []
    _, _, act_step = make("actcool")
    _, _, const_step = make("constant")
    for _ in range(3):  # warm up both (allocator, kernels)
        act_step()
        const_step()
    # Align ActCoolLR so each 10-step block holds exactly one measurement.
    r = alternate(
        act_step, const_step, blocks=2 if smoke else 6 if quick else 16, calls=10, clock=clock
    )
    rows.append(
        _ratio(
            "step_overhead",
            r,
            blocks=r.blocks,
            step_s=round(r.b_seconds, 4),
            device=device.type,
            clock=clock,
            batch=batch,
            model=model,
        )
    )

    # One measurement vs one train-mode forward without gradients.
    net, opt, _ = make("constant")
    monitor = TemperatureMonitor(net, measure_every=1, optimizer=opt)

    def train_step_untimed():
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def measure():
        monitor.step(x)
        sync()

    def forward():
        with torch.no_grad():
            net(x)
        sync()

    r = alternate(
        measure,
        forward,
        blocks=2 if smoke else 8 if quick else 20,
        setup={measure: train_step_untimed},
        clock=clock,
    )
    rows.append(
        _ratio(
            "measurement_vs_forward",
            r,
            forward_s=round(r.b_seconds, 4),
        )
    )

    # One LR range scan of 25 rates (its 25 forwards, compares and fits): a scan step minus a
    # plain measurement step, timed in the same blocks, over 25 forwards.
    def scan_step():
        monitor.step(x)
        sync()

    def arm_scan():
        monitor.request_scan()
        train_step_untimed()

    def forwards25():
        with torch.no_grad():
            for _ in range(25):
                net(x)
        sync()

    r = alternate(
        scan_step,
        forwards25,
        blocks=2 if smoke else 3 if quick else 9,
        minus=measure,
        setup={scan_step: arm_scan, measure: train_step_untimed},
        clock=clock,
    )
    rows.append(
        _ratio(
            "scan_vs_forwards",
            r,
            forwards_s=round(r.b_seconds, 3),
            scan_step_s=round(r.a_seconds, 3),
            # the whole scan step (its measurement pass too) per forward it runs
            scan_step_vs_26_forwards=round(r.a_seconds / (r.b_seconds * 26 / 25), 4),
        )
    )
    monitor.remove()
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer blocks (about a minute)")
    parser.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall: elapsed time (default); thread: CPU time on one torch thread, for a machine "
        "shared with other work",
    )
    parser.add_argument("--model", default="resnet20", help="a CIFAR-sized trainer model")
    args = parser.parse_args()
    main(args.quick, clock=args.clock, model=args.model)
