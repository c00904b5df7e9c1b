"""Checkpoints under a user-named root (a folder or a pyarrow.fs URI): saved, found and
resumed from with the identical learning-rate sequence."""

from __future__ import annotations

import pytest
import torch

from trainer.checkpoint import (
    checkpoint_exists,
    checkpoint_path,
    checkpoint_uri,
    load_checkpoint,
    run_checkpoint,
    save_checkpoint,
)
from trainer.config import RunConfig
from trainer.run import train_run


def test_a_uri_checkpoint_round_trips_and_replaces(tmp_path):
    uri = checkpoint_uri(f"file://{tmp_path}/ckpts/", "ab12cd34")
    assert uri == f"file://{tmp_path}/ckpts/ab12cd34/last.pt"
    assert not checkpoint_exists(uri)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(uri)
    save_checkpoint(uri, {"step": 1, "w": torch.ones(3)})
    save_checkpoint(uri, {"step": 2, "w": torch.zeros(3)})
    state = load_checkpoint(uri)
    assert state["step"] == 2 and state["w"].tolist() == [0.0, 0.0, 0.0]
    assert sorted(p.name for p in (tmp_path / "ckpts" / "ab12cd34").iterdir()) == ["last.pt"]


def test_a_run_keeps_the_checkpoint_place_it_recorded(store):
    run_id = store.create_run({}, name="r")
    assert run_checkpoint(store, run_id) == checkpoint_path(store.home, run_id)
    assert run_checkpoint(store, run_id, "s3://bucket/x") == f"s3://bucket/x/{run_id}/last.pt"
    store.update_run(run_id, summary={"checkpoint": "file:///shared/c/last.pt"})
    assert run_checkpoint(store, run_id, "s3://bucket/x") == "file:///shared/c/last.pt"


def test_stop_and_resume_from_a_uri_root_continue_the_identical_sequence(store, tmp_path):
    root = f"file://{tmp_path}/elsewhere"
    cfg = RunConfig(epochs=2, batch_size=64, measure_every=3)
    full = train_run(cfg, store, progress=False)
    stopped = train_run(
        cfg, store, progress=False, checkpoints=root, should_stop=lambda steps: steps == 30
    )
    assert stopped.status == "stopped"
    where = store.get_run(stopped.run_id)["summary"]["checkpoint"]
    assert where == f"{root}/{stopped.run_id}/last.pt" and checkpoint_exists(where)
    assert not checkpoint_path(store.home, stopped.run_id).exists()
    resumed = train_run(cfg, store, run_id=stopped.run_id, resume=True, progress=False)
    assert resumed.status == "finished"
    assert store.steps(stopped.run_id)["lr"].tolist() == store.steps(full.run_id)["lr"].tolist()


def test_several_processes_need_a_worker(store):
    with pytest.raises(
        ValueError, match=r"nproc 2 trains in 2 processes, but this job has 1: queue"
    ):
        train_run(RunConfig(nproc=2), store, progress=False)
