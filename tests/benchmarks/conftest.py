"""Helpers shared by the benchmark tests."""

from __future__ import annotations


def rate_row(model, schedule, rate, seed, error, events=()) -> dict:
    """One run of the rate sweep as ``benchmarks/results/rates.jsonl`` holds it (1 epoch, the
    highest rate 0.03)."""
    return {
        "model": model,
        "schedule": schedule,
        "rate": rate,
        "seed": seed,
        "epochs": 1,
        "test_error": error,
        "peak_lr": 0.03,
        "guard_events": list(events),
    }
