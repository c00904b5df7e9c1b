"""Control accuracy: how closely ActCoolLR makes the measured temperature follow its target.

For linear cooling from the paper's start temperature (``PAPER_T_START`` bits), the figure is
the mean absolute difference |T̄ − C| between the measured mean temperature and the target
over measurement steps after the first 10% of training (goal <= 0.5 bit), on
convnet4/Fashion-MNIST and resnet20/CIFAR-10 (the JPEG copy in ../shared/data), trained by the
trainer itself. Variants show how it changes with ``measure_every`` and the batch size.

Run: ``python -m benchmarks.control [--quick]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from .setups import SHARED_DATA, cifar10_dataset
from .timing import figure

GOAL = 0.5


def tracking_error(steps) -> float:
    """Mean |T̄ − C| over measured steps after the first 10% of training."""
    measured = steps.dropna(subset=["mean_temperature", "target_temperature"])
    total = steps["step"].max() + 1
    late = measured[measured["step"] >= 0.1 * total]
    return float(np.mean(np.abs(late["mean_temperature"] - late["target_temperature"])))


def run_case(store, model: str, dataset: str, steps: int, batch: int, measure_every: int) -> dict:
    from actcool.curves import PAPER_T_START
    from trainer.config import RunConfig
    from trainer.run import train_run

    cfg = RunConfig(
        model=model,
        dataset=dataset,
        data_dir=str(SHARED_DATA),
        schedule="actcool",
        target=f"power:{PAPER_T_START:g},1",
        max_steps=steps,
        epochs=100,
        batch_size=batch,
        measure_every=measure_every,
        scan_every=0,
        download=False,
        tags=("benchmark", "control"),
    )
    t0 = time.monotonic()
    result = train_run(cfg, store, progress=False)
    if result.status != "finished":
        raise RuntimeError(f"{model}/{dataset} run {result.status}: {result.message}")
    return {
        "error": tracking_error(store.steps(result.run_id)),
        "seconds": time.monotonic() - t0,
        "run_id": result.run_id,
    }


def main(quick: bool = False, home: str | None = None, smoke: bool = False) -> list[dict]:
    """The figures; ``smoke`` (CI) runs 60 steps on scikit-learn digits (no data folder needed)
    to check the code path: its tracking error is not the benchmark's figure."""
    from storage import Store

    if smoke:
        store = Store(home or tempfile.mkdtemp(prefix="actcool-control-"))
        r = run_case(store, "convnet4", "digits", 60, 64, 2)
        return [
            figure(
                "control_accuracy[convnet4/digits,B=64,K=2,smoke]",
                round(r["error"], 3),
                "bit",
                f"<= {GOAL}",
                r["error"] <= GOAL,
                steps=60,
                seconds=round(r["seconds"], 1),
            )
        ]
    if not SHARED_DATA.exists():
        return [
            figure(
                "control_accuracy",
                None,
                "bit",
                f"<= {GOAL}",
                False,
                skipped=f"{SHARED_DATA} not found",
            )
        ]
    store = Store(home or tempfile.mkdtemp(prefix="actcool-control-"))
    cases = [
        ("convnet4", "fashion-mnist", 300 if quick else 1200, 128, 10),
        (
            "resnet20",
            cifar10_dataset(SHARED_DATA),
            100 if quick else 400,
            128,
            10,
        ),
    ]
    if not quick:  # sensitivity to measure_every and batch size on the cheaper setup
        cases += [
            ("convnet4", "fashion-mnist", 1200, 128, 5),
            ("convnet4", "fashion-mnist", 1200, 128, 20),
            ("convnet4", "fashion-mnist", 1200, 64, 10),
            ("convnet4", "fashion-mnist", 1200, 256, 10),
        ]
    rows = []
    for model, dataset, steps, batch, k in cases:
        r = run_case(store, model, dataset, steps, batch, k)
        label = dataset.split("/")[-1]
        rows.append(
            figure(
                f"control_accuracy[{model}/{label},B={batch},K={k}]",
                round(r["error"], 3),
                "bit",
                f"<= {GOAL}",
                r["error"] <= GOAL,
                steps=steps,
                seconds=round(r["seconds"], 1),
                run_id=r["run_id"],
            )
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--home", help="record the runs into this store (default: a temporary one)")
    a = parser.parse_args()
    main(a.quick, a.home)
