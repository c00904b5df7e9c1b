"""ActCoolLR in PyTorch Lightning: returned from ``configure_optimizers`` with
``"interval": "step"``, stepped by Lightning with no argument, checkpointed and resumed by it.

Needs the ``lightning`` extra (``pip install -e .[lightning]``); skipped without it.
"""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from actcool import ActCoolLR, PowerCurve

L = pytest.importorskip(
    "lightning", reason="needs the lightning extra: pip install -e .[lightning]"
)

EPOCHS, BATCHES = 3, 10  # 30 steps, 10 per epoch


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.2, momentum=0.9)
        scheduler = ActCoolLR(
            optimizer,
            self.net,
            PowerCurve(3.0),
            measure_every=3,
            total_steps=self.trainer.estimated_stepping_batches,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_train_end(self):
        self.lr_schedulers().close()  # the scheduler's hooks go with the fit


class Record(L.Callback):
    """The rate each step trains with, and each measurement once."""

    def __init__(self):
        self.lrs, self.measured = {}, {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.lrs[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        m = trainer.lr_scheduler_configs[0].scheduler.last_measurement
        if m is not None:
            self.measured[m.step] = m.mean_temperature


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCHES * 16, 12, generator=g)
    y = (x[:, :3].argmax(1) + (x[:, 3] > 1).long()) % 3
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)


def _fit(tmp_path, ckpt_path=None, checkpoints=False):
    torch.manual_seed(0)
    module, record = Classifier(), Record()
    callbacks = [record]
    if checkpoints:
        callbacks.append(
            L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, every_n_epochs=1, save_top_k=-1)
        )
    trainer = L.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=checkpoints,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        callbacks=callbacks,
    )
    trainer.fit(module, _data(), ckpt_path=ckpt_path)
    return trainer, module, record


def test_lightning_trains_measures_and_resumes_identically(tmp_path, monkeypatch, recwarn):
    trainer, module, full = _fit(tmp_path, checkpoints=True)
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(sched, ActCoolLR) and sched.controller.total_steps == EPOCHS * BATCHES
    assert sched.last_epoch == EPOCHS * BATCHES == trainer.global_step  # stepped every batch
    assert sorted(full.measured) == list(range(0, 30, 3))
    # the cold first step may flip nothing; the measurements after it do
    assert all(t > 0 for t in list(full.measured.values())[2:7])
    assert sched.k is not None  # fitted from the scan at step 0
    assert len(set(full.lrs.values())) > 5  # the rate changed
    assert sched.closed and not any(m._forward_hooks for m in module.modules())
    # Lightning steps the scheduler after the optimizer: no stepping-order warning
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]

    loaded = []
    original = ActCoolLR.load_state_dict

    def spy(self, state):
        loaded.append(state["last_epoch"])
        original(self, state)

    monkeypatch.setattr(ActCoolLR, "load_state_dict", spy)
    ckpt = tmp_path / "epoch=1-step=20.ckpt"  # saved at the end of the second epoch
    _, _, resumed = _fit(tmp_path / "resumed", ckpt_path=str(ckpt))
    assert loaded == [20]  # Lightning restored the scheduler through our load_state_dict
    assert sorted(resumed.lrs) == list(range(20, 30))
    assert resumed.lrs == {t: lr for t, lr in full.lrs.items() if t >= 20}  # exactly
    assert resumed.measured == {t: v for t, v in full.measured.items() if t >= 20}
