"""actcool.lightning.ActCoolCallback: a Trainer.fit recorded into the store, read back step by
step, and temperatures logged to the Trainer's own loggers.

Needs the ``lightning`` extra (``pip install -e .[lightning]``); skipped without it.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from actcool import ActCoolLR, PowerCurve
from storage import Store

L = pytest.importorskip(
    "lightning", reason="needs the lightning extra: pip install -e .[lightning]"
)
from actcool.lightning import ActCoolCallback  # noqa: E402  (needs lightning)

EPOCHS, BATCHES = 2, 8  # 16 steps, 8 per epoch


class Classifier(L.LightningModule):
    def __init__(self, schedule: str = "step"):
        super().__init__()
        self.schedule = schedule
        self.net = nn.Sequential(
            nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self.net(x)
        self.log("val_loss", nn.functional.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean() * 100)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.2, momentum=0.9)
        if self.schedule == "actcool":
            scheduler = ActCoolLR(
                optimizer,
                self.net,
                PowerCurve(3.0),
                measure_every=3,
                total_steps=self.trainer.estimated_stepping_batches,
            )
        else:
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_train_end(self):
        if self.schedule == "actcool":
            self.lr_schedulers().close()


class Seen(L.Callback):
    """What the fit saw: the rate and loss of each step, the measurements, the validations."""

    def __init__(self):
        self.lrs, self.losses, self.measured, self.val = {}, {}, {}, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.lrs[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses[trainer.global_step - 1] = float(outputs["loss"])
        configs = trainer.lr_scheduler_configs
        m = getattr(configs[0].scheduler, "last_measurement", None)
        if m is not None:
            self.measured[m.step] = m.mean_temperature

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.val.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCHES * 16, 12, generator=g)
    y = (x[:, :3].argmax(1) + (x[:, 3] > 1).long()) % 3
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)


def _fit(tmp_path, schedule: str):
    torch.manual_seed(0)
    callback, seen = ActCoolCallback(name="lit", home=tmp_path / "store", measure_every=4), Seen()
    trainer = L.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        logger=L.pytorch.loggers.CSVLogger(tmp_path / "logs"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=1,
        callbacks=[callback, seen],
    )
    trainer.fit(Classifier(schedule), _data(0), _data(1))
    return trainer, callback, seen, Store(tmp_path / "store")


def test_a_lightning_fit_is_recorded_step_by_step(tmp_path):
    trainer, callback, seen, store = _fit(tmp_path, "step")
    run = store.get_run(callback.run.id)
    assert run["status"] == "finished" and run["name"] == "lit"
    assert run["config"]["source"] == "lightning" and run["config"]["total_steps"] == 16
    steps = store.steps(callback.run.id)
    assert steps["step"].tolist() == list(range(EPOCHS * BATCHES))
    assert steps["lr"].tolist() == pytest.approx([seen.lrs[t] for t in range(16)])
    assert steps["loss"].tolist() == pytest.approx([seen.losses[t] for t in range(16)])
    assert steps["epoch"].iloc[-1] == pytest.approx(EPOCHS)
    # own monitor on self.net, found from the first step: step 0 moves to 1, then every 4th
    measured = steps.dropna(subset=["mean_temperature"])["step"].tolist()
    assert measured == [1, 4, 8, 12]
    evals = store.evaluations(callback.run.id)
    assert evals["step"].tolist() == [7, 15]
    assert evals["val_loss"].tolist() == pytest.approx([v["val_loss"] for v in seen.val])
    named = store.metrics(callback.run.id, phase="eval")
    acc = named[named["name"] == "val_acc"]
    assert acc["value"].tolist() == pytest.approx([v["val_acc"] for v in seen.val])
    # the Trainer's own logger got the temperatures, at the measured steps
    logged = pd.read_csv(next((tmp_path / "logs").rglob("metrics.csv")))
    temps = logged.dropna(subset=["temperature/mean"])
    recorded = steps.dropna(subset=["mean_temperature"])["mean_temperature"].tolist()
    assert temps["step"].tolist() == measured
    assert temps["temperature/mean"].tolist() == pytest.approx(recorded)
    assert {"temperature/1", "temperature/3"} <= set(logged.columns)  # per ReLU site of net
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in trainer.model.modules())


def test_an_actcool_scheduler_in_lightning_is_recorded_not_measured_twice(tmp_path):
    trainer, callback, seen, store = _fit(tmp_path, "actcool")
    assert callback.run.monitor is None
    steps = store.steps(callback.run.id)
    assert steps["lr"].tolist() == pytest.approx([seen.lrs[t] for t in range(16)])
    temps = steps.dropna(subset=["mean_temperature"])
    recorded = dict(zip(temps["step"], temps["mean_temperature"], strict=True))
    # Seen reads a measurement one batch late (the scheduler steps after its hook): the last
    # step's only the store has
    assert sorted(recorded) == list(range(0, 16, 3))
    assert {t: v for t, v in recorded.items() if t in seen.measured} == pytest.approx(seen.measured)
    assert set(store.scans(callback.run.id)["step"]) == {0}  # its step-0 range scan


def test_a_failing_fit_is_recorded_failed(tmp_path):
    class Breaks(Classifier):
        def training_step(self, batch, batch_idx):
            if self.global_step == 3:
                raise ValueError("bad batch")
            return super().training_step(batch, batch_idx)

    callback = ActCoolCallback(home=tmp_path / "store")
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        callbacks=[callback],
    )
    with pytest.raises(ValueError, match="bad batch"):
        trainer.fit(Breaks(), _data(0))
    run = Store(tmp_path / "store").get_run(callback.run.id)
    assert run["status"] == "failed" and run["error"] == "ValueError: bad batch"
    assert not math.isnan(Store(tmp_path / "store").steps(callback.run.id)["loss"].iloc[0])
