"""Section 2: ActCoolLR with no tuning against the best tuned baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import figures as F
from ..plan import AUTO, CALIBRATIONS, HINT_LR, SEEDS
from .markdown import (
    HEADINGS,
    NAMES,
    _behind,
    _f,
    _missing_line,
    _seed,
    _stat,
    _table,
    _v,
    _verdict,
)
from .plots import COLORS, PNGS, _axes_lr_t, _curves, _plt, _save


def section_no_tuning(fig: dict, runs: dict[str, F.Run], plan: Sequence, out: Path) -> list[str]:
    best, ref = fig["best_baseline"], fig["best_baseline_error"]
    ref_text = (
        f"the best tuned baseline ({NAMES[best]}, {ref:.2f}% over {fig['best_baseline_n']} "
        f"seed{'s' if fig['best_baseline_n'] != 1 else ''})"
        if best
        else "the best tuned baseline"
    )
    lines = [
        HEADINGS["no_tuning"],
        "",
        f"Claim: ActCoolLR with no tuning at all (the optimizer's default rate {HINT_LR:g} as its "
        "only hint and rate ceiling, the calibrated default target) matches the best tuned "
        f"baseline. Goal: within {fig['goal_points']} points of it (aim: beat it); mean over "
        f"seeds {', '.join(map(str, SEEDS))}.",
        "",
    ]
    lines += _table(
        [
            "calibration",
            "seed 0",
            "seed 1",
            "mean (range)",
            "T_start (bits)",
            "vs best baseline",
            "verdict",
        ],
        (
            [
                cal,
                _seed(c["test_error"], 0),
                _seed(c["test_error"], 1),
                _stat(c["test_error"]),
                ", ".join(_f(v) for v in c["t_start_bits"].values()) or "n/a",
                _f(c["gap_points"], "+.2f"),
                _v(c["ok"]),
            ]
            for cal, c in fig["calibrations"].items()
        ),
    )
    lines.append("")
    for cal, c in fig["calibrations"].items():
        if c["test_error"]["n"] == 0:
            lines.append(f"- `{cal}`: no finished run yet.")
            continue
        lines.append(f"- `{cal}`: {_behind(c['gap_points'], ref_text)} → {_verdict(c['ok'])}.")
    better, diff = fig["better_calibration"], fig["fixed_minus_ramp"]
    lines.append("")
    if better is None:
        lines.append(
            "Which calibration is better: "
            + (
                "not known yet (a calibration has no finished run)."
                if diff is None
                else "neither; both have the same mean error."
            )
        )
    else:
        other = "fixed" if better == "ramp" else "ramp"
        text = (
            f"Which calibration is better: `{better}` had the lower mean error, by {abs(diff):.2f} "
            f"points against `{other}`. "
        )
        beyond = fig["difference_beyond_seed_noise"]
        default = AUTO
        if beyond is None:
            text += "With one seed per calibration the seed noise is unknown, so this does not settle the default."
        elif beyond:
            text += (
                "The difference is larger than the seed-to-seed range of either calibration, so these runs "
                f"favour `{better}` as the default"
            )
            text += (
                f" (the default, `auto`, is `{default}`: "
                + (
                    "the runs support it)."
                    if default == better
                    else "the runs argue for changing it)."
                )
                if default
                else "."
            )
        else:
            text += (
                "That is within the seed-to-seed range of a calibration, so these runs do not separate the "
                "two: no evidence to choose the default either way"
                + (f" (the default, `auto`, is `{default}`)." if default else ".")
            )
        lines.append(text)
    lines += _missing_line(fig["missing"])
    one = F.best_onecycle_keys(runs, plan)
    curves = [
        (runs[k], f"actcool-{cal}")
        for cal in CALIBRATIONS
        for k in [f"actcool/{cal}/seed0"]
        if k in runs
    ]
    if curves:
        plt = _plt()
        fg, ax = plt.subplots(1, 2, figsize=(13, 4.2))
        if one:
            r = runs[one[0]]
            _curves(ax[0], ax[1], r, COLORS["onecycle"], f"best 1-cycle (lr {r.lr:g})")
        for r, label in curves:
            _curves(ax[0], ax[1], r, COLORS[label], NAMES[label], target=True)
        _axes_lr_t(ax[0], ax[1], " (seed 0)")
        _save(fg, out / PNGS["no_tuning"])
        lines += ["", f"![no tuning]({PNGS['no_tuning']})"]
    return lines + [""]
