"""The trainer records ActCoolLR's divergence-guard cuts: each once, across stop and resume."""

from __future__ import annotations

import pytest
from torch import nn

from actcool import DivergenceGuard, GuardEvent
from storage import RunWriter
from storage.recorder import Recorder
from trainer.config import RunConfig
from trainer.run import train_run
from trainer.schedules import build_optimizer, build_schedule

from .test_run import _lrs, stop_at

FORCED = (4, 8, 22)  # measurement steps (every 2nd) at which the guard is made to trip


pytestmark = pytest.mark.usefixtures("one_thread")


def _event(step: int, lr_before: float = 0.1) -> GuardEvent:
    return GuardEvent(step, "loss_rise", f"forced at step {step}", lr_before, lr_before / 2)


class _Writer:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def log_guard_event(self, **row) -> None:
        self.rows.append(row)


def test_only_actcool_schedules_have_guard_events():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    for schedule in ("onecycle", "actcool"):
        cfg = RunConfig(schedule=schedule, dataset="synthetic:1x2x2")
        built = build_schedule(cfg, build_optimizer(cfg, model), model, total_steps=10)
        try:
            assert built.is_actcool == (schedule == "actcool")
            assert built.guard_events == ()  # a baseline never, a fresh ActCoolLR not yet
        finally:
            built.close()


def test_only_events_new_since_the_last_call_are_written():
    writer = _Writer()
    recorder = Recorder(writer)
    recorder.guard_events(())  # a baseline schedule: never any
    assert writer.rows == []
    recorder.guard_events((_event(12),))
    recorder.guard_events((_event(12),))  # nothing new
    recorder.guard_events((_event(12), _event(24, 0.05)))
    assert writer.rows == [_event(12).to_dict(), _event(24, 0.05).to_dict()]
    resumed = Recorder(writer, guard_events_recorded=2)  # both restored with a checkpoint
    resumed.guard_events((_event(12), _event(24, 0.05), _event(30, 0.025)))
    assert writer.rows[2:] == [_event(30, 0.025).to_dict()]


@pytest.fixture
def forced_guard(monkeypatch):
    """ActCoolLR's guard trips at the measurements of FORCED, and only there."""

    def check(self, step, lr, temperature, loss=None, flips=None, active=None):
        if step not in FORCED:
            return None
        return GuardEvent(step, "loss_rise", f"forced at step {step}", lr, self.cut * lr)

    monkeypatch.setattr(DivergenceGuard, "check", check)


def test_guard_events_land_once_across_a_stop_and_resume(store, monkeypatch, forced_guard):
    cfg = RunConfig(  # 2 epochs of 18 steps
        dataset="synthetic:1x8x8", epochs=2, batch_size=50, measure_every=2, scan_every=0
    )
    full = train_run(cfg, store, progress=False)
    assert full.status == "finished"
    events = store.guard_events(full.run_id)
    assert events["step"].tolist() == list(FORCED)
    assert set(events["reason"]) == {"loss_rise"}
    assert events["detail"].tolist() == [f"forced at step {s}" for s in FORCED]
    lrs = _lrs(store, full.run_id)
    # lr_before is the rate the step trained at (the one on the rate chart); each cut halves
    # it and caps every later step there
    assert events["lr_before"].tolist() == [lrs[s] for s in FORCED]
    assert events["lr_after"].tolist() == pytest.approx([lrs[s] / 2 for s in FORCED])
    for step, ceiling in zip(FORCED, events["lr_after"], strict=True):
        assert max(lrs[step + 1 :]) <= ceiling * (1 + 1e-12)

    # mid-epoch, after the events at 4 and 8, before the one at 22
    stopped = train_run(cfg, store, progress=False, should_stop=stop_at(13))
    assert stopped.status == "stopped" and stopped.steps == 13
    assert store.guard_events(stopped.run_id)["step"].tolist() == [4, 8]
    logged = []
    log_guard_event = RunWriter.log_guard_event

    def spy(self, step, *args, **kwargs):
        logged.append(step)
        log_guard_event(self, step, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(RunWriter, "log_guard_event", spy)
        resumed = train_run(cfg, store, run_id=stopped.run_id, resume=True, progress=False)
    assert resumed.status == "finished"
    assert logged == [22]  # those restored with the checkpoint are stored already
    again = store.guard_events(stopped.run_id)
    assert again.to_dict("list") == events.to_dict("list")  # each exactly once
    assert _lrs(store, stopped.run_id) == lrs  # the restored ceiling holds after the resume
