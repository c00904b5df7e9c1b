"""docs/algorithm.md §1: in distributed training, changed counts and B are summed over ranks
(gloo, 2 CPUs).

ActCoolLR under DistributedDataParallel, stepped with no argument, given either the DDP wrapper
or its ``.module``, follows the same rates as with hand-written gradient averaging.
"""

import json
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from actcool import ActCoolLR, PowerCurve, TemperatureMonitor
from actcool.curves import PAPER_T_START
from tests.helpers import free_port


class MLP(nn.Module):
    # no BatchNorm: a sample's pattern depends on that sample alone, so halves add up exactly
    def __init__(self):
        super().__init__()
        self.fc1, self.r1 = nn.Linear(10, 32), nn.ReLU()
        self.fc2, self.r2 = nn.Linear(32, 32), nn.ReLU()
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.r2(self.fc2(self.r1(self.fc1(x)))))


def _data():
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(64, 10, generator=g),
        torch.randint(0, 4, (64,), generator=g),
        torch.randn(3000, generator=g),
    )


def _perturbed_measurement(x):
    """Record at θ, move θ by a fixed direction, measure on x."""
    torch.manual_seed(0)
    model = MLP()
    monitor = TemperatureMonitor(model, measure_every=1, compare_with=("sample",))
    model(x).sum().backward()  # the recording forward
    _, _, noise = _data()
    with torch.no_grad():
        offset = 0
        for p in model.parameters():
            p.add_(0.08 * noise[offset : offset + p.numel()].view_as(p))
            offset = (offset + p.numel()) % 2000
    return monitor.step(x)


def _train(x, y, world, given):
    """20 steps of ActCoolLR; the scheduler gets the plain model (gradients averaged by hand,
    ``step(x)``), the DDP wrapper or its ``.module`` (both ``step()``)."""
    torch.manual_seed(1)
    model = MLP()
    ddp = DistributedDataParallel(model) if given != "manual" else None
    trained = ddp if ddp is not None else model
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    measured = {"manual": model, "ddp": ddp, "ddp.module": ddp.module if ddp else None}[given]
    lrs, temps = [], []
    with ActCoolLR(
        opt, measured, PowerCurve(PAPER_T_START), total_steps=20, measure_every=2
    ) as sched:
        for _ in range(20):
            loss = nn.functional.cross_entropy(trained(x), y)
            opt.zero_grad()
            loss.backward()
            if ddp is None:
                for p in model.parameters():
                    dist.all_reduce(p.grad)
                    p.grad /= world
            opt.step()
            if ddp is None:
                sched.step(x)
            else:
                sched.step()
            lrs.append(opt.param_groups[0]["lr"])
            temps.append(sched.last_measurement.mean_temperature)
    return {"lrs": lrs, "temps": temps, "sigma": sched.sigma}


def _worker(rank, world, port, out_dir):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        x, y, _ = _data()
        half = slice(rank * 32, (rank + 1) * 32)
        m = _perturbed_measurement(x[half])
        # ActCoolLR with gradient averaging across ranks: identical rates on every rank
        runs = {g: _train(x[half], y[half], world, g) for g in ("manual", "ddp", "ddp.module")}
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(
                {
                    "changed": list(m.changed),
                    "counts": {k: list(v) for k, v in m.counts.items()},
                    "totals": {k: list(v) for k, v in m.totals.items()},
                    "batch": m.batch_size,
                    "active": list(m.active),
                    "runs": runs,
                },
                f,
            )
        # both ranks done with their collectives before either tears down its gloo pairs
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    dist.destroy_process_group()
    # The results are on disk. Leave without running C++ static destructors: in the full
    # suite a gloo thread sometimes outlives them and aborts the process at exit ("terminate
    # called without an active exception") after everything has succeeded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_two_ranks_sum_counts_and_agree_on_the_rate(tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    x, _, _ = _data()
    single = _perturbed_measurement(x)  # one process, the whole batch
    assert r0["batch"] == r1["batch"] == 64
    assert r0["changed"] == r1["changed"] == list(single.changed)
    for counter in ("samples", "bits"):  # every counter is summed over ranks
        assert r0["counts"][counter] == r1["counts"][counter] == list(single.counts[counter])
        assert r0["totals"][counter] == r1["totals"][counter] == list(single.totals[counter])
    assert r0["active"] == r1["active"] == list(single.active)  # units on: summed too
    assert 0 < sum(single.active) < sum(single.totals["bits"])
    assert 0 < sum(single.counts["samples"]) < 128
    assert 0 < sum(single.changed) < sum(single.total)
    manual = r0["runs"]["manual"]
    assert len(set(manual["lrs"])) > 2 and max(manual["temps"]) > 0  # the rate moved
    for r in (r0, r1):  # every rank, whichever module the scheduler was given
        for given in ("manual", "ddp", "ddp.module"):
            assert r["runs"][given] == manual, given
