"""Checks that need a CUDA GPU, run as one script on a lent GPU machine.

1. docs/algorithm.md §1 on CUDA: a step at learning rate 0 measures exactly 0 bits for ResNet-20 (BatchNorm)
   and a dropout model, in float32 and under bf16 autocast; a measurement and an LR range scan
   leave parameters, buffers, optimizer state and the CUDA RNG exactly as they were.
2. The overhead figures of ``benchmarks/overhead.py`` on the GPU.
3. The trainer on CUDA with AMP: a short ActCoolLR run of convnet4 on digits and of ResNet-20
   on synthetic CIFAR-shaped data, recorded into a temporary store.

Run: ``python -m benchmarks.gpu_check`` (exits non-zero if a check fails).
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time

import torch
from torch import nn

from actcool import TemperatureMonitor


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check(name: str, ok: bool, **info) -> bool:
    print(json.dumps({"check": name, "ok": bool(ok), **info}), flush=True)
    return bool(ok)


def spec_checks() -> bool:
    from trainer.models import build_model

    dev = torch.device("cuda")
    ok = True
    x = torch.randn(128, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (128,), device=dev)
    drop = nn.Sequential(
        nn.Flatten(),
        nn.Linear(3 * 32 * 32, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    ).to(dev)
    for name, model in [
        ("resnet20", build_model("resnet20", 3, 10, 32).to(dev)),
        ("dropout-mlp", drop),
    ]:
        for amp in (False, True):
            opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
            with TemperatureMonitor(model, measure_every=1) as mon:
                temps = []
                for _ in range(3):
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                        loss = nn.functional.cross_entropy(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    temps.append(mon.step(x).mean_temperature)
            ok &= check(f"lr0_zero_temperature[{name},amp={amp}]", temps == [0.0] * 3, temps=temps)
    model = build_model("resnet20", 3, 10, 32).to(dev)
    for opt in (
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4),
        torch.optim.AdamW(model.parameters(), lr=1e-3),
    ):
        with TemperatureMonitor(model, measure_every=1, scan_every=2, optimizer=opt) as mon:
            for step in range(4):
                loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                state = copy.deepcopy(model.state_dict())
                opt_state = copy.deepcopy(opt.state_dict())
                rng = torch.cuda.get_rng_state()
                m = mon.step(x)
                ok &= check(
                    f"no_trace[{type(opt).__name__},step={step},scan={m.scan is not None}]",
                    _same(state, model.state_dict())
                    and _same(opt_state, opt.state_dict())
                    and torch.equal(rng, torch.cuda.get_rng_state()),
                    mean_temperature=round(m.mean_temperature, 4),
                    fit_mu=None
                    if m.fits is None or m.fits.mean is None
                    else round(m.fits.mean.mu, 3),
                )
    return ok


def trainer_checks() -> bool:
    from storage import Store
    from trainer.config import RunConfig
    from trainer.run import train_run

    ok = True
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)
        for cfg in (
            RunConfig(epochs=3, amp=True, device="cuda"),
            RunConfig(model="resnet20", dataset="synthetic", epochs=2, amp=True, device="cuda"),
        ):
            t0 = time.monotonic()
            result = train_run(cfg, store, progress=False)
            run = store.get_run(result.run_id)
            temps = store.steps(result.run_id)["mean_temperature"].dropna()
            ok &= check(
                f"trainer_cuda_amp[{cfg.model}/{cfg.dataset}]",
                result.status == "finished" and len(temps) > 0,
                status=result.status,
                steps=result.steps,
                test_error=result.test_error,
                device=run["device"],
                seconds=round(time.monotonic() - t0, 1),
                first_temps=[round(t, 3) for t in temps.head(5)],
                message=result.message,
            )
    return ok


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU here; nothing to check", file=sys.stderr)
        return 2
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}), flush=True)
    ok = spec_checks()
    from benchmarks.overhead import main as overhead

    overhead(quick=False)
    ok &= trainer_checks()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
