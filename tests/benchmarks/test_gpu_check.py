"""benchmarks/gpu_check.py: its dry run on the CPU (what CI runs of it), its verdict and its
report, and how a failing figure is reported without stopping the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_check import (
    DEFAULT_OUT,
    DRY,
    FIGURE_NAMES,
    ROOT,
    Check,
    Figure,
    data_candidates,
    report_path,
    run_figure,
)
from benchmarks.gpu_report import markdown, pytest_counts, verdict, verdict_word

FIGURES = [
    "gpu_tests",
    "step_ratio_resnet20",
    "step_ratio_resnet50",
    "epoch_seconds_resnet20",
    "measurement_vs_forward",
    "temperature_bf16",
    "test_error_onecycle",
    "test_error_actcool",
]


@pytest.mark.e2e  # the benchmark smoke run: every figure on the CPU, about 50 s
def test_the_dry_run_prints_every_figure_and_a_verdict_and_writes_the_report(tmp_path):
    out = tmp_path / "GPU.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    *rows, outcome = lines
    assert [r["figure"] for r in rows] == FIGURES == list(FIGURE_NAMES)
    assert outcome == {"verdict": "pass", "failed": []}
    for r in rows:  # every code path ran, and a dry run judges no goal
        assert list(r)[:5] == ["figure", "value", "unit", "goal", "ok"], r
        assert r["ok"] is None and "error" not in r and r["seconds"] > 0, r
    by = {r["figure"]: r for r in rows}
    tests = by["gpu_tests"]
    assert tests["value"] == 0 and set(tests["counts"]) == {"skipped"}  # no CUDA: all skip
    assert tests["counts"]["skipped"] >= 10
    for name in ("step_ratio_resnet20", "step_ratio_resnet50"):
        assert by[name]["value"] > 0 and by[name]["measure_every"] == DRY.measure_every
    assert by["step_ratio_resnet50"]["image_size"] == DRY.large_size
    epoch = by["epoch_seconds_resnet20"]
    assert epoch["value"] > 0 and epoch["dataloader_s"] > 0
    assert epoch["steps"] == DRY.synthetic_images // DRY.epoch_batch
    for name, schedule in (("test_error_onecycle", "onecycle"), ("test_error_actcool", "actcool")):
        run = by[name]
        assert run["status"] == "finished" and run["steps"] == DRY.pair_max_steps, run
        assert run["schedule"] == schedule and 0 <= run["value"] <= 100
    assert "vs_onecycle" in by["test_error_actcool"]
    report = out.read_text()
    assert "- device: cpu (dry run)" in report and "**Verdict: pass**" in report
    assert all(f"| {name} |" in report for name in FIGURES)


def test_a_figure_that_raises_is_reported_failed_and_the_run_goes_on(capsys):
    check = Check(DRY, dry=True, data_dir=None, deadline=0.0, selected=("broken", "fine"))

    def broken(_: Check) -> dict:
        raise RuntimeError("no GPU memory left")

    rows = [
        run_figure(Figure("broken", "s", "<= 1 s", broken), check),
        run_figure(
            Figure("fine", "s", "<= 1 s", lambda c: {"value": 0.5, "ok": c.judge(True)}), check
        ),
    ]
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == rows == [check.results["broken"], check.results["fine"]]
    assert {k: rows[0][k] for k in ("figure", "value", "ok", "error")} == {
        "figure": "broken",
        "value": None,
        "ok": False,
        "error": "RuntimeError: no GPU memory left",
    }
    assert rows[1]["value"] == 0.5 and rows[1]["ok"] is None  # a dry run judges nothing
    assert verdict(rows) == {"verdict": "fail", "failed": ["broken"]}


def test_the_verdict_fails_on_a_missed_goal_only():
    rows = [
        {"figure": "a", "ok": True},
        {"figure": "b", "ok": None},
        {"figure": "c", "ok": False},
    ]
    assert verdict(rows) == {"verdict": "fail", "failed": ["c"]}
    assert verdict(rows[:2]) == {"verdict": "pass", "failed": []}
    assert [verdict_word(r) for r in rows] == ["met", "not judged", "missed"]
    assert verdict_word({"ok": False, "error": "x"}) == "error"


@pytest.mark.parametrize(
    ("output", "counts"),
    [
        ("..\n11 skipped in 3.20s\n", {"skipped": 11}),
        (
            "FAILED tests/gpu/x.py::t - AssertionError\n"
            "9 passed, 1 failed, 1 error, 2 warnings in 81.5s (0:01:21)\n",
            {"passed": 9, "failed": 1, "errors": 1, "warnings": 2},
        ),
        ("ERROR: file or directory not found: tests/gpu\n", {}),
    ],
)
def test_pytest_counts_reads_the_summary_line(output, counts):
    assert pytest_counts(output) == counts


def test_the_report_holds_the_context_a_table_the_verdict_and_the_output():
    rows = [
        {"figure": "a", "value": 1.02345, "unit": "ratio", "goal": "<= 1.05", "ok": True, "n": 16},
        {
            "figure": "b",
            "value": None,
            "unit": "s",
            "goal": "<= 3 s",
            "ok": False,
            "error": "E: x|y",
        },
        {"figure": "c", "value": 9, "unit": "passed", "goal": "all pass", "ok": None},
    ]
    text = markdown(rows, verdict(rows), {"date": "2026-01-02 03:04 UTC", "device": "NVIDIA H200"})
    assert text == "\n".join(
        [
            "# GPU check (`python -m benchmarks.gpu_check`)",
            "",
            "- date: 2026-01-02 03:04 UTC",
            "- device: NVIDIA H200",
            "",
            "| figure | value | goal | verdict | details |",
            "| --- | --- | --- | --- | --- |",
            "| a | 1.023 | <= 1.05 | met | n: 16 |",
            "| b | — | <= 3 s | error | error: E: x\\|y |",
            "| c | 9 passed | all pass | not judged |  |",
            "",
            "**Verdict: fail** (failed: b)",
            "",
            "The script's output:",
            "",
            "```",
            *(json.dumps(r) for r in rows),
            '{"verdict": "fail", "failed": ["b"]}',
            "```",
            "",
        ]
    )


def test_only_a_real_run_writes_the_default_report():
    assert report_path(None, dry_run=False) == DEFAULT_OUT
    assert DEFAULT_OUT == ROOT / "benchmarks" / "results" / "GPU.md"
    assert report_path(None, dry_run=True) is None
    assert report_path(Path("x.md"), dry_run=True) == Path("x.md")


def test_cifar10_is_looked_for_where_named_else_in_the_shared_folders(monkeypatch, tmp_path):
    from benchmarks.epoch_time import find_cifar10

    assert data_candidates(tmp_path) == [tmp_path]
    monkeypatch.setenv("ACTCOOL_DATA_DIR", str(tmp_path))
    assert data_candidates(None) == [tmp_path, ROOT / "shared/data", ROOT.parent / "shared/data"]
    assert find_cifar10([None, tmp_path]) is None
    for split in ("train", "test"):
        (tmp_path / "cifar10-jpeg" / split).mkdir(parents=True)
    assert find_cifar10([None, tmp_path / "elsewhere", tmp_path]) == tmp_path


def test_precision_figure_judges_the_largest_deviations():
    from benchmarks.precision_temperature import summarise

    def row(t_fp32, t_bf16, lambda0_fp32, lambda0_read, lambda0_bf16):
        return {
            "t_fp32": t_fp32,
            "t_bf16": t_bf16,
            "lambda0_fp32": lambda0_fp32,
            "lambda0_read": lambda0_read,
            "lambda0_bf16": lambda0_bf16,
        }

    rows = [
        row(0.01, 0.5, 0.01, 0.0105, 0.008),
        row(2.0, 2.1, 0.02, 0.019, 0.02),
        row(1.0, 0.96, None, 0.03, 0.03),
    ]
    figure = summarise(rows)  # the first row's temperature is under 0.05 bits: not judged
    assert figure == {
        "temperature_deviation": 0.05,
        "lambda0_deviation": 0.05,  # as read: a bf16 step, the scan in float32
        "lambda0_deviation_bf16_scan": 0.2,  # the scan under autocast: shown, not judged
        "steps_judged": 2,
        "met": True,
    }
    rows[1]["t_bf16"] = 2.4
    assert summarise(rows)["temperature_deviation"] == 0.2 and not summarise(rows)["met"]
    rows[1]["t_bf16"], rows[0]["lambda0_read"] = 2.1, 0.012
    assert summarise(rows)["lambda0_deviation"] == 0.2 and not summarise(rows)["met"]
