"""Helpers shared by the benchmark tests."""

from __future__ import annotations


def rate_row(model, schedule, rate, seed, error, events=(), **extra) -> dict:
    """One run of the rate sweep as ``benchmarks/results/rates.jsonl`` holds it (1 epoch, batch
    128, the highest rate 0.03), with any ``extra`` fields."""
    return {
        "model": model,
        "schedule": schedule,
        "rate": rate,
        "seed": seed,
        "epochs": 1,
        "batch_size": 128,
        "test_error": error,
        "peak_lr": 0.03,
        "guard_events": list(events),
        **extra,
    }
