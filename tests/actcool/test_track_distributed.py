"""actcool.track under torch.distributed (gloo, 2 CPU processes): rank 0 records, rank 1 gets
the same run id and records nothing; temperatures are summed over ranks; Stop reaches both."""

from __future__ import annotations

import json
import os
import socket
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import actcool
from storage import Store

STEPS, STOP_AT = 8, 5


def _worker(rank: int, world: int, port: int, home: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        torch.manual_seed(0)
        model = DistributedDataParallel(
            nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(rank)
        out = {"losses": [], "stopped_at": None}
        with actcool.track(model, optimizer, home=home, measure_every=2) as run:
            out["id"], out["records"] = run.id, run.writer is not None
            for t in range(STEPS):
                x = torch.randn(16, 10, generator=g)
                loss = model(x).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if t == STOP_AT and rank == 0:
                    Store(home).request_stop(run.id)
                    run.writer._stop_flag = run.writer.store.ping(run.id)  # not 2 s later
                run.step(loss=loss)
                out["losses"].append(loss.item())
                if run.stop_requested:
                    out["stopped_at"] = t
                    break
        with open(os.path.join(home, f"rank{rank}.json"), "w") as f:
            json.dump(out, f)
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # as in test_distributed.py: no gloo thread outliving C++ destructors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rank_zero_records_and_both_ranks_stop_together(tmp_path):
    home = tmp_path / "store"
    home.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(home)), nprocs=2, join=True)
    r0 = json.loads((home / "rank0.json").read_text())
    r1 = json.loads((home / "rank1.json").read_text())
    assert r0["id"] == r1["id"] and r0["records"] and not r1["records"]
    assert r0["stopped_at"] == r1["stopped_at"] == STOP_AT  # the same step on both ranks
    store = Store(home)
    (run,) = store.list_runs().to_dict("records")  # one run, rank 0's
    assert run["id"] == r0["id"] and run["status"] == "stopped"
    assert run["config"]["world_size"] == 2
    steps = store.steps(run["id"])
    assert steps["loss"].tolist() == [float(v) for v in r0["losses"]]  # rank 0's losses
    assert steps.dropna(subset=["mean_temperature"])["step"].tolist() == [0, 2, 4]
    counts = store.site_counts(run["id"])
    assert set(counts["batch_size"]) == {32}  # summed over both ranks' 16 samples
