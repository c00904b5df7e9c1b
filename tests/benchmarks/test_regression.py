"""benchmarks.regression: one short run of each kind, and the report's cells."""

import math

import pytest

from benchmarks import regression


@pytest.mark.parametrize("task", list(regression.TASKS))
@pytest.mark.parametrize("schedule", ["onecycle", "actcool", "actcool-old-guard"])
def test_a_run_returns_its_test_mse_and_the_guards_events(monkeypatch, task, schedule):
    monkeypatch.setattr(regression, "EPOCHS", 1)
    row = regression.train_one(task, "sgd", schedule, 0.1, 0)
    assert row["task"] == task
    assert row["schedule"] == schedule and isinstance(row["events"], list)
    if schedule != "actcool-old-guard":  # over one epoch the guard of before lets it die
        assert math.isfinite(row["mse"]) and row["mse"] > 0


def test_the_report_counts_diverged_runs_and_the_rollbacks():
    rows = [
        {"task": t, "optimizer": o, "schedule": s, "rate": r, "seed": seed, "mse": m, "events": ev}
        for t in regression.TASKS
        for o, rates in regression.RATES.items()
        for s in regression.SCHEDULES
        for r in rates
        for seed, m, ev in (
            (
                0,
                0.02,
                [{"detail": "loss 1 is 2x its lowest (0.5); back to the weights after step 50"}],
            ),
            (
                1,
                float("nan") if s == "onecycle" else 0.03,
                [{"detail": "the layer died; back to the weights it started with"}],
            ),
        )
    ]
    text = regression.report(rows)
    assert "| 1-cycle peaking at the typed rate | diverged (1 of 2), 0.0200 |" in text
    assert "| ActCoolLR default | 0.0250 (0.0200, 0.0300) |" in text
    assert "0.01, 0: 1, 1, 0; 0.01, 1: 1, 0, 1" in text
