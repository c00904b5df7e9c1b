"""What recording a loop with ``actcool.track`` costs, and how soon the dashboard sees it.

- ``track_step_overhead``: ResNet-20 training steps at batch 128 (CPU here, CUDA when present)
  followed by ``run.step(loss=loss)`` on non-measurement steps / the same steps untracked, in
  alternated blocks (``benchmarks/timing.py``). Goal <= 1.02.
- ``track_row_lag``: seconds from ``run.step()`` returning to its row being readable from
  another process (a reader polling ``Store.last_step`` every 20 ms); the largest of the
  samples. Goal <= 2 s (the writer flushes every second).

Run: ``python -m benchmarks.track_overhead [--quick]``; both figures come from one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import actcool

from .timing import alternate, figure

GOALS = {"track_step_overhead": 1.02, "track_row_lag": 2.0}
REPO = Path(__file__).resolve().parents[1]

#: The reader process: prints, as JSON, when it first saw each step of the run.
READER = """
import json, sys, time
from storage import Store
store, run_id, last = Store(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen, newest = {}, -1
while newest < last:
    step = store.last_step(run_id)
    now = time.time()
    if step is not None and step > newest:
        for s in range(newest + 1, step + 1):
            seen[s] = now
        newest = step
    time.sleep(0.02)
print(json.dumps(seen))
"""


def _resnet20(device: torch.device) -> nn.Module:
    from trainer.models import build_model

    return build_model("resnet20", in_channels=3, num_classes=10, image_size=32).to(device)


def step_overhead(home: Path, quick: bool, smoke: bool) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = 32 if smoke else 128
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def parts():
        model = _resnet20(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        return model, opt

    def train(model, opt, run=None):
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if run is not None:
            run.step(loss=loss)
        sync()

    tracked, plain = parts(), parts()
    # measure_every past the benchmark: after step 0 every step is a non-measurement step
    with actcool.track(*tracked, home=home, name="overhead", measure_every=10**9) as run:

        def tracked_step():
            train(*tracked, run)

        def plain_step():
            train(*plain)

        for _ in range(3):  # step 0 measures; warm up both (allocator, kernels)
            tracked_step()
            plain_step()
        r = alternate(tracked_step, plain_step, blocks=2 if smoke else 6 if quick else 16, calls=10)
    goal = GOALS["track_step_overhead"]
    return figure(
        "track_step_overhead",
        round(r.median, 4),
        "ratio",
        f"<= {goal:g}",
        r.median <= goal,
        spread=[round(r.low, 4), round(r.high, 4)],
        step_s=round(r.b_seconds, 4),
        device=device.type,
        batch=batch,
        blocks=r.blocks,
    )


def row_lag(home: Path, samples: int) -> dict:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with actcool.track(model, opt, home=home, name="lag", measure_every=10**9) as run:
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(home), run.id, str(samples - 1)],
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": ""},
            stdout=subprocess.PIPE,
            text=True,
        )
        returned = []
        for _ in range(samples):
            loss = model(torch.randn(4, 8)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.step(loss=loss)
            returned.append(time.time())
            time.sleep(0.37)  # training between steps, off the flush period's beat
        out, _ = reader.communicate(timeout=60)
    seen = {int(k): v for k, v in json.loads(out).items()}
    lags = [seen[i] - t for i, t in enumerate(returned)]
    goal = GOALS["track_row_lag"]
    return figure(
        "track_row_lag",
        round(max(lags), 3),
        "s",
        f"<= {goal:g}",
        max(lags) <= goal,
        median=round(sorted(lags)[len(lags) // 2], 3),
        samples=samples,
    )


def main(quick: bool = False, smoke: bool = False) -> list[dict]:
    """Both figures, from one run; ``smoke`` checks the code path at toy sizes."""
    with tempfile.TemporaryDirectory() as home:
        return [
            step_overhead(Path(home), quick or smoke, smoke),
            row_lag(Path(home), 4 if smoke else 12 if quick else 30),
        ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer blocks and samples")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check the code path")
    args = parser.parse_args()
    main(args.quick, args.smoke)
