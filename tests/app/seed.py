"""Seed a store with realistic runs for the dashboard tests, through the public Store API."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from actcool.curves import PAPER_T_START
from storage import Store
from storage.schema import column_names
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
    granularity: str | None = None,
    legacy: bool = False,
    no_weibull_fit: str | None = None,
    summary_extra: dict | None = None,
    config_extra: dict | None = None,
) -> str:
    """A run with steps, per-site temperatures every 2 steps, a scan and fits every epoch
    (Gaussian and Weibull), and evaluations every epoch (test error at the end when finished).

    ``granularity`` is written into the config (default: RunConfig's); ``legacy`` leaves it
    out, as in a run recorded before granularities existed; ``no_weibull_fit``
    makes the last scan's mean Weibull fit a failure with that reason; ``summary_extra`` and
    ``config_extra`` are merged into the run's summary and config (e.g. what the trainer
    records of ActCoolLR's calibration and law). Columns the store's
    schema does not have (yet) are left out, so the seed works before and after migrations.
    """
    config = RunConfig(
        schedule=schedule,
        seed=seed,
        tags=tags,
        epochs=steps // steps_per_epoch,
        batch_size=128,
        name=name or f"{schedule}-s{seed}",
    ).to_dict()
    config.update(config_extra or {})
    if granularity is not None:
        config["granularity"] = granularity
    if legacy:
        config.pop("granularity", None)
    run_id = store.create_run(config, name=config["name"], tags=tags)
    total = total_steps or steps
    t0 = time.time() - steps * 0.05
    step = np.arange(steps)
    fraction = step / total
    lr = 0.1 * (1 - fraction) + 1e-4
    measured = step % 2 == 0
    mean_t = np.where(measured, 3.0 * (1 - fraction) + 0.2, np.nan)
    target = PAPER_T_START * (1 - fraction) if schedule == "actcool" else np.full(steps, np.nan)
    append(
        store,
        run_id,
        "steps",
        pd.DataFrame(
            {
                "step": step,
                "epoch": step / steps_per_epoch,
                "lr": lr,
                "loss": 2.3 * np.exp(-step / 50),
                "mean_temperature": mean_t,
                "target_temperature": target,
                "wall_time": t0 + step * 0.05,
            }
        ),
    )
    m = step[measured]
    append(
        store,
        run_id,
        "site_temperatures",
        pd.DataFrame(
            {
                "step": np.repeat(m, len(SITES)),
                "site_index": np.tile(np.arange(len(SITES), dtype=np.int32), len(m)),
                "site_name": np.tile(np.array(SITES, dtype=object), len(m)),
                "changed": 10,
                "batch_size": 128,
                "temperature": np.repeat(mean_t[measured], len(SITES))
                * np.tile([0.8, 1.0, 1.2], len(m)),
            }
        ),
    )
    scan_steps = step[::steps_per_epoch]
    rows = []
    fit_rows = []
    for k, s in enumerate(scan_steps):
        mu = -3.0 - 0.5 * k
        for site_index, site in [(None, "mean"), *enumerate(SITES)]:
            p = 0.5 * (1 + np.tanh((np.log(RATES) - mu) / 1.5))
            p = np.clip(p, 0, 1 - 1 / 256)
            for rate, prob in zip(RATES, p, strict=True):
                rows.append(
                    {
                        "step": s,
                        "epoch": s / steps_per_epoch,
                        "rate": rate,
                        "site": site,
                        "site_index": site_index,
                        "probability": prob,
                        "temperature": -np.log2(1 - prob),
                    }
                )
            site_mu = mu + (site_index or 0) * 0.1
            fit_rows.append(
                {
                    "step": s,
                    "site": site,
                    "model": "gaussian",
                    "mu": site_mu,
                    "sigma": 1.2,
                    "lambda0": None,
                    "k": None,
                    "rmse": 0.02,
                    "n_informative": 9,
                    "reason": None,
                }
            )
            failed = no_weibull_fit and site == "mean" and k == len(scan_steps) - 1
            fit_rows.append(
                {
                    "step": s,
                    "site": site,
                    "model": "weibull",
                    "mu": None,
                    "sigma": None,
                    "lambda0": None if failed else np.exp(site_mu),
                    "k": None if failed else 0.9,
                    "rmse": None if failed else 0.01,
                    "n_informative": 2 if failed else 9,
                    "reason": no_weibull_fit if failed else None,
                }
            )
    scans = pd.DataFrame(rows)
    scans["site_index"] = scans["site_index"].astype("Int32")
    append(store, run_id, "lr_scans", scans)
    fits = pd.DataFrame(fit_rows)
    if "model" not in column_names("fits"):  # a store from before the Weibull model
        fits = fits[fits["model"] == "gaussian"]
    append(store, run_id, "fits", fits)
    epochs_done = steps // steps_per_epoch
    evals = pd.DataFrame(
        {
            "step": [(e + 1) * steps_per_epoch - 1 for e in range(epochs_done)],
            "epoch": [float(e + 1) for e in range(epochs_done)],
            "train_loss": [1.0 / (e + 1) for e in range(epochs_done)],
            "train_error": [20.0 / (e + 1) for e in range(epochs_done)],
            "val_loss": [1.1 / (e + 1) for e in range(epochs_done)],
            "val_error": [25.0 / (e + 1) + seed for e in range(epochs_done)],
            "test_error": [np.nan] * epochs_done,
            "wall_time": [t0 + (e + 1) * steps_per_epoch * 0.05 for e in range(epochs_done)],
        }
    )
    summary = {
        "total_steps": total,
        "steps_per_epoch": steps_per_epoch,
        "schedule": schedule,
        **(summary_extra or {}),
    }
    if status == "finished":
        evals = pd.concat(
            [
                evals,
                pd.DataFrame(
                    [
                        {
                            "step": steps - 1,
                            "epoch": float(epochs_done),
                            "train_loss": np.nan,
                            "train_error": np.nan,
                            "val_loss": np.nan,
                            "val_error": np.nan,
                            "test_error": 5.0 + seed,
                            "wall_time": t0 + steps * 0.05,
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
        summary.update(steps=steps, wall_time=steps * 0.05, test_error=5.0 + seed)
    if len(evals):
        append(store, run_id, "evaluations", evals)
    store.update_run(run_id, status=status, summary=summary, error=error)
    return run_id


def append(store: Store, run_id: str, table: str, rows: pd.DataFrame) -> None:
    """``store.append_rows`` of the columns the table has; columns it has that ``rows``
    lacks are NULL."""
    wanted = column_names(table)[1:]
    rows = rows[[c for c in rows.columns if c in wanted]].copy()
    for column in wanted:
        if column not in rows and column != "wall_time":
            rows[column] = pd.Series([None] * len(rows), index=rows.index, dtype=object)
    store.append_rows(run_id, table, rows)
