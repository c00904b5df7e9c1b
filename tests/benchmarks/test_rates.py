"""The typed-rate report (benchmarks/rates_report.py) against hand-computed verdicts."""

import math

from benchmarks.rates import Plan
from benchmarks.rates_report import write_report

from .conftest import rate_row as row


def test_the_report_compares_every_typed_rate_with_the_best_1cycle(tmp_path):
    rows = [
        row("convnet4", "onecycle", 0.1, 0, 10.0),
        row("convnet4", "onecycle", 0.1, 1, 10.4),  # best 1-cycle: mean 10.2 at 0.1
        row("convnet4", "onecycle", 1.0, 0, math.nan),  # diverged: counts as chance
        row("convnet4", "onecycle", 1.0, 1, 90.0),
        row("convnet4", "actcool", 0.1, 0, 10.3),
        row("convnet4", "actcool", 0.1, 1, 10.5),  # +0.2: met
        row("convnet4", "actcool", 1.0, 0, 10.6, events=[{"step": 80}]),
        row("convnet4", "actcool", 1.0, 1, 10.6),  # +0.4: missed
    ]
    text = (write_report(rows, tmp_path)).read_text()
    assert "Best tuned 1-cycle: 10.20% at 0.1." in text
    assert "| 0.1 | +0.20 | no | ✅ |" in text
    assert "| 1 | +0.40 | no | ❌ |" in text
    assert "❌ goal missed" in text
    assert "| 1-cycle peaking at the typed rate | 10.20 | 90.00 (1 diverged) |" in text
    assert "0.03/0.03, 1 cut" in text
    assert (tmp_path / "rates.png").stat().st_size > 1000


def test_dying_where_another_schedule_trains_fails_the_goal(tmp_path):
    rows = [
        row("resnet20", "onecycle", 0.5, 0, 40.0),
        row("resnet20", "actcool", 0.5, 0, 90.0),
    ]
    text = write_report(rows, tmp_path).read_text()
    assert "| 0.5 | +50.00 | yes | ❌ |" in text


def test_plan_keys_name_every_setting():
    assert Plan("convnet4", "actcool", 0.3, 1).key == "convnet4/actcool/lr0.3/seed1/ep1"
