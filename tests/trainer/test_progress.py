"""The progress line: no ETA read off the first, slow steps."""

from __future__ import annotations

import io

import pytest

from trainer import progress as progress_module
from trainer.progress import Progress


def test_no_eta_until_a_few_steps_are_timed_then_from_their_speed(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock["now"])
    out = io.StringIO()
    p = Progress(total_steps=100, epochs=1, stream=out, interval=0.0)
    clock["now"] = 130.0  # 30 s of set-up and a slow first step: not the run's speed
    p.update(0, 1, loss=2.0, lr=0.1)
    for step in range(2, 6):  # 0.1 s a step from here on, 4 steps timed: still no ETA
        clock["now"] += 0.1
        p.update(0, step, loss=2.0, lr=0.1)
    clock["now"] += 0.1
    p.update(0, 6, loss=2.0, lr=0.1)  # 5 steps timed in 0.5 s: 94 left take 9.4 s
    lines = out.getvalue().splitlines()
    assert len(lines) == 6
    assert all("ETA" not in line for line in lines[:5]), lines[:5]
    assert lines[0].startswith("epoch 1/1 [") and "step 1/100 loss 2.0000 lr 0.1" in lines[0]
    assert lines[5].endswith("ETA 0:09")
    assert p.eta(6, now=clock["now"]) == pytest.approx(9.4)
