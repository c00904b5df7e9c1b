"""The trainer's steps read nothing from the device between the steps that write rows
(issue "A GPU trainer", item 1): the losses wait on the device and are read many at once
(trainer/step_rows.py); the rows are the same as when every step is read."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

import trainer.steps as steps_module
from tests.host_syncs import host_reads
from trainer.config import RunConfig
from trainer.run import train_run
from trainer.step_rows import PendingSteps, first_non_finite

CFG = RunConfig(epochs=1, batch_size=64, measure_every=5, max_steps=20, log_every=1000)


def test_steps_between_measurements_read_nothing(store, monkeypatch, one_thread):
    marks: list[tuple[int, int]] = []  # (step, reads so far) as each step is yielded
    original = steps_module.training_steps

    with host_reads() as reads:

        def marked(*args, **kwargs):
            for trained in original(*args, **kwargs):
                marks.append((trained.step, len(reads.calls)))
                yield trained

        monkeypatch.setattr(steps_module, "training_steps", marked)
        result = train_run(CFG, store, progress=False)
    assert result.status == "finished" and [s for s, _ in marks] == list(range(20))
    measured = {s for s in range(20) if s % CFG.measure_every == 0}
    quiet = [
        (marks[i - 1][1], marks[i][1], s)
        for i, (s, _) in enumerate(marks)
        if i > 0 and s not in measured and s - 1 not in measured
    ]
    assert len(quiet) == 12  # steps whose training and whose previous step's rows are quiet
    leaked = [f"step {s}: {w}" for lo, hi, s in quiet for w in reads.where()[lo:hi]]
    assert leaked == []
    # and the measurement steps do read: the counter is not blind
    assert any(marks[i][1] > marks[i - 1][1] for i in range(1, 20) if marks[i][0] in measured)


def _steps(store, config: RunConfig) -> pd.DataFrame:
    result = train_run(config, store, progress=False)
    assert result.status == "finished"
    return store.steps(result.run_id)[["step", "lr", "loss", "mean_temperature"]]


def test_rows_read_in_batches_equal_rows_read_every_step(store, one_thread):
    every = _steps(store, dataclasses.replace(CFG, log_every=1))
    batched = _steps(store, dataclasses.replace(CFG, log_every=7))
    assert len(every) == 20
    pd.testing.assert_frame_equal(every, batched)


def test_pending_steps_read_in_order_and_count_right_answers():
    pending = PendingSteps()
    for step, loss in enumerate([0.5, 0.25, float("nan"), 2.0]):
        pending.add(step, step / 4, 0.1 * step, torch.tensor(loss), samples=8)
    outputs = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    pending.count_correct(outputs, torch.tensor([1, 1, 1]))
    pending.count_correct(outputs, torch.tensor([0, 0, 1]))
    read = pending.read()
    assert [r.step for r in read] == [0, 1, 2, 3] and len(pending) == 0
    assert [r.loss for r in read[:2]] == [0.5, 0.25] and read[3].loss == 2.0
    assert first_non_finite(read).step == 2
    assert first_non_finite(read[:2]) is None
    assert pending.take_correct() == 4 and pending.take_correct() == 0
    assert pending.read() == []


@pytest.mark.parametrize("log_every", [1, 10])
def test_divergence_is_reported_at_the_first_non_finite_step(store, log_every, one_thread):
    cfg = RunConfig(schedule="constant", lr=1e4, epochs=2, momentum=0.0, log_every=log_every)
    result = train_run(cfg, store, progress=False)
    assert result.status == "diverged"
    steps = store.steps(result.run_id)
    finite = steps[steps["loss"].notna()]
    assert len(steps) == result.steps + 1 and steps["step"].iloc[-1] == result.steps
    assert finite["step"].tolist() == list(range(result.steps))
    assert f"at step {result.steps}" in store.get_run(result.run_id)["error"]
