"""Seed a store with realistic runs for the dashboard tests, through the public Store API."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from storage import Store
from trainer.config import RunConfig

SITES = ("relu1", "relu2", "relu3")
RATES = np.logspace(-4, 2, 13)


def seed_run(
    store: Store,
    schedule: str = "actcool",
    status: str = "finished",
    steps: int = 120,
    steps_per_epoch: int = 40,
    seed: int = 0,
    tags: tuple[str, ...] = (),
    error: str | None = None,
    name: str | None = None,
    total_steps: int | None = None,
) -> str:
    """A run with steps, per-site temperatures every 2 steps, a scan and fits every epoch,
    and evaluations every epoch (test error at the end when finished)."""
    config = RunConfig(schedule=schedule, seed=seed, tags=tags, epochs=steps // steps_per_epoch,
                       batch_size=128, name=name or f"{schedule}-s{seed}")
    run_id = store.create_run(config.to_dict(), name=config.display_name, tags=tags)
    total = total_steps or steps
    t0 = time.time() - steps * 0.05
    step = np.arange(steps)
    fraction = step / total
    lr = 0.1 * (1 - fraction) + 1e-4
    measured = step % 2 == 0
    mean_t = np.where(measured, 3.0 * (1 - fraction) + 0.2, np.nan)
    target = 3.17 * (1 - fraction) if schedule == "actcool" else np.full(steps, np.nan)
    store.append_rows(run_id, "steps", pd.DataFrame({
        "step": step, "epoch": step / steps_per_epoch, "lr": lr,
        "loss": 2.3 * np.exp(-step / 50), "mean_temperature": mean_t,
        "target_temperature": target, "wall_time": t0 + step * 0.05,
    }))
    m = step[measured]
    store.append_rows(run_id, "site_temperatures", pd.DataFrame({
        "step": np.repeat(m, len(SITES)),
        "site_index": np.tile(np.arange(len(SITES), dtype=np.int32), len(m)),
        "site_name": np.tile(np.array(SITES, dtype=object), len(m)),
        "changed": 10, "batch_size": 128,
        "temperature": np.repeat(mean_t[measured], len(SITES)) * np.tile([0.8, 1.0, 1.2], len(m)),
    }))
    scan_steps = step[::steps_per_epoch]
    rows = []
    fit_rows = []
    for k, s in enumerate(scan_steps):
        mu = -3.0 - 0.5 * k
        for site_index, site in [(None, "mean"), *enumerate(SITES)]:
            p = 0.5 * (1 + np.tanh((np.log(RATES) - mu) / 1.5))
            p = np.clip(p, 0, 1 - 1 / 256)
            for rate, prob in zip(RATES, p, strict=True):
                rows.append({"step": s, "epoch": s / steps_per_epoch, "rate": rate, "site": site,
                             "site_index": site_index, "probability": prob,
                             "temperature": -np.log2(1 - prob)})
            fit_rows.append({"step": s, "site": site, "mu": mu + (site_index or 0) * 0.1,
                             "sigma": 1.2, "rmse": 0.02, "n_informative": 9})
    scans = pd.DataFrame(rows)
    scans["site_index"] = scans["site_index"].astype("Int32")
    store.append_rows(run_id, "lr_scans", scans)
    store.append_rows(run_id, "fits", pd.DataFrame(fit_rows))
    epochs_done = steps // steps_per_epoch
    evals = pd.DataFrame({
        "step": [(e + 1) * steps_per_epoch - 1 for e in range(epochs_done)],
        "epoch": [float(e + 1) for e in range(epochs_done)],
        "train_loss": [1.0 / (e + 1) for e in range(epochs_done)],
        "train_error": [20.0 / (e + 1) for e in range(epochs_done)],
        "val_loss": [1.1 / (e + 1) for e in range(epochs_done)],
        "val_error": [25.0 / (e + 1) + seed for e in range(epochs_done)],
        "test_error": [np.nan] * epochs_done,
        "wall_time": [t0 + (e + 1) * steps_per_epoch * 0.05 for e in range(epochs_done)],
    })
    summary = {"total_steps": total, "steps_per_epoch": steps_per_epoch, "schedule": schedule}
    if status == "finished":
        evals = pd.concat([evals, pd.DataFrame([{
            "step": steps - 1, "epoch": float(epochs_done), "train_loss": np.nan,
            "train_error": np.nan, "val_loss": np.nan, "val_error": np.nan,
            "test_error": 5.0 + seed, "wall_time": t0 + steps * 0.05}])], ignore_index=True)
        summary.update(steps=steps, wall_time=steps * 0.05, test_error=5.0 + seed)
    if len(evals):
        store.append_rows(run_id, "evaluations", evals)
    store.update_run(run_id, status=status, summary=summary, error=error)
    return run_id
