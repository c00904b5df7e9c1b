"""ActCoolCallback under Lightning's DDP strategy (2 CPU processes, gloo): one run, recorded by
rank 0, with the fit's steps, validations and temperatures counted over both ranks.

Lightning's ``ddp`` strategy starts its ranks by running the script again, so the fit runs in a
script of its own. Needs the ``lightning`` extra; skipped without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Store

pytest.importorskip("lightning", reason="needs the lightning extra: pip install -e .[lightning]")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from actcool.lightning import ActCoolCallback


class Net(L.LightningModule):  # no forward of its own: training_step calls self.net
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 32), nn.GELU(), nn.Linear(32, 4))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.net(x), y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(256, 10, generator=g), torch.randint(0, 4, (256,), generator=g))
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[ActCoolCallback(name="ddp-fit", home=sys.argv[1], measure_every=2)],
    )
    trainer.fit(Net(), DataLoader(data, batch_size=32), DataLoader(data, batch_size=64))
"""


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_ddp_fit_is_recorded_once_by_rank_0_with_counts_over_both_ranks(tmp_path):
    script = tmp_path / "fit_ddp.py"
    script.write_text(SCRIPT)
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, str(script), str(home)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    store = Store(home)
    runs = store.list_runs()
    assert len(runs) == 1  # rank 1 recorded nothing
    (run_id,) = runs["id"]
    run = store.get_run(run_id)
    assert run["status"] == "finished" and run["config"]["world_size"] == 2
    # 256 samples, 32 per rank and step: 4 steps per epoch, 2 epochs
    assert store.steps(run_id)["step"].tolist() == list(range(8))
    counts = store.site_counts(run_id)
    assert len(counts) > 0 and set(counts["batch_size"]) == {64}  # both ranks' samples
    assert set(counts["site_name"]) == {"1"}  # the GELU, named inside self.net (measured)
    assert store.evaluations(run_id)["step"].tolist() == [3, 7]
