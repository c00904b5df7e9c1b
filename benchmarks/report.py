"""The reproduction report: ``REPORT.md``, its PNG figures and ``results.json`` from stored runs.

This module reads the store and renders; the numbers come from :mod:`benchmarks.figures`
(pure functions of the loaded runs). Every sentence that states a result is chosen from those
numbers: a gap is written "behind" only when it is positive, a winner named only when the
numbers give one. A partial reproduction renders too: each section says which runs it lacks.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.colors import SCHEDULE_COLORS, TARGET_COLOR
from app.summary import MODEL_LABELS

from . import figures as F
from .analysis import smooth
from .plan import AUTO, CALIBRATIONS, HINT_LR, SEEDS

# A schedule has the dashboard's colour (app/colors.py); the report's ActCoolLR variants add two.
COLORS: dict[str, str] = {
    **{s: SCHEDULE_COLORS[s] for s in ("onecycle", "cosine", "step", "schedulefree")},
    "actcool-ramp": SCHEDULE_COLORS["actcool"],  # ActCoolLR's default (calibration auto)
    "actcool-fixed": "#8C2D04",  # dark vermillion
    "replay": "#56B4E9",  # sky blue: ActCoolLR following 1-cycle's T̄
}
NAMES = {
    "onecycle": "1-cycle",
    "cosine": "cosine",
    "step": "step decay",
    "schedulefree": "schedule-free",
    "actcool-fixed": "ActCoolLR (fixed start)",
    "actcool-ramp": "ActCoolLR (ramp)",
    "replay": "ActCoolLR replaying 1-cycle's T̄",
}
PNGS = {
    "baselines": "baselines.png",
    "no_tuning": "no_tuning.png",
    "replay": "replay.png",
    "tracking": "tracking.png",
    "gamma": "gamma.png",
    "claims": "claims.png",
    "cifar": "cifar.png",
}
OLD_PNGS = (
    "schedules.png",
    "onecycle_linearity.png",
    "depth.png",
    "fits.png",
)  # the previous plan's
HEADINGS = {
    "baselines": "## 1. Baselines at their best rate",
    "no_tuning": "## 2. ActCoolLR with no tuning vs the best tuned baseline",
    "replay": "## 3. Replaying 1-cycle's measured T̄",
    "tracking": "## 4. Tracking: how closely T̄ follows the target",
    "gamma": "## 5. γ sweep: hotter for longer?",
    "claims": "## 6. The paper's claims at unit:64",
    "cifar": "## 7. ResNet-20 on CIFAR-10",
}


# ----------------------------------------------------------------------------- loading
def load_runs(store, plan: Sequence, found: dict[str, dict]) -> tuple[list[F.Run], list[str]]:
    """The plan's finished runs, and one line per expected run that is missing (not run, not
    finished, or not planned yet because the runs it depends on have not finished)."""
    loaded, missing = [], []
    planned = {p.key: p for p in plan}
    for key in F.expected_keys(plan):
        p = planned.get(key)
        row = found.get(key)
        if p is None:
            missing.append(f"{key}: not planned yet ({_waits_for(key)} has not finished)")
            continue
        if row is None or row["status"] != "finished":
            missing.append(
                f"{key}: " + ("not run" if row is None else f"{row['status']} (run {row['id']})")
            )
            continue
        rid = row["id"]
        names, _, temps = store.site_matrix(rid)
        loaded.append(
            F.Run(
                p.key,
                p.group,
                p.label,
                p.seed,
                rid,
                row["summary"] or {},
                row["config"],
                store.steps(rid),
                store.fits(rid),
                list(names),
                np.asarray(temps, dtype=float),
                getattr(p, "replay_of", None),
            )
        )
    return loaded, missing


def _waits_for(key: str) -> str:
    if key.startswith("best/"):
        return f"the {key.split('/')[1]} rate grid"
    if key == "replay/onecycle/seed1":
        return "the 1-cycle rate grid or best/onecycle/seed1"
    if key.startswith("replay/"):
        return "the 1-cycle rate grid"
    return "the CIFAR-10 1-cycle rate grid"


# ----------------------------------------------------------------------------- words
def _v(ok: bool | None) -> str:
    return {True: "✅", False: "❌", None: "–"}[ok]


def _verdict(ok: bool | None) -> str:
    return {True: "✅ goal met", False: "❌ goal missed", None: "– no verdict (not enough runs)"}[
        ok
    ]


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def _behind(gap: float | None, what: str) -> str:
    """A signed gap in points of test error, in words chosen by its sign."""
    if gap is None:
        return f"not comparable with {what} yet"
    if abs(gap) < 0.005:
        return f"level with {what}"
    if gap > 0:
        return f"{gap:.2f} points behind {what}"
    return f"{-gap:.2f} points ahead of {what}"


def _cell(text: str) -> str:
    """Text for a markdown table cell (a bare | would split it)."""
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table: the header, its rule and one line per row; every table of the report."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(_cell(str(c)) for c in cells) + " |"

    return [line(header), "|---" * len(header) + "|", *(line(r) for r in rows)]


def _stat(st: dict) -> str:
    if st["n"] == 0:
        return "n/a"
    if st["n"] == 1:
        return f"{st['mean']:.2f} (1 seed)"
    return f"{st['mean']:.2f} ({st['low']:.2f}–{st['high']:.2f}, {st['n']} seeds)"


def _seed(st: dict, seed: int) -> str:
    return _f(st["by_seed"].get(str(seed)))


def _missing_line(keys: list[str]) -> list[str]:
    return ["", "Missing here: " + ", ".join(f"`{k}`" for k in keys) + "."] if keys else []


# ----------------------------------------------------------------------------- plotting
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def _curves(
    ax_lr,
    ax_t,
    run: F.Run,
    color: str,
    label: str,
    target: bool = False,
    target_label: str = "target",
) -> None:
    """A run's learning rate and its smoothed measured T̄ (and its target, dashed)."""
    f = run.steps["step"].to_numpy() / run.total_steps
    ax_lr.plot(f, run.steps["lr"], color=color, label=label)
    m = run.measured()
    ax_t.plot(
        m["fraction"], smooth(m["mean_temperature"].to_numpy(), F.SMOOTH), color=color, label=label
    )
    if target and m["target_temperature"].notna().any():
        ax_t.plot(
            m["fraction"],
            m["target_temperature"],
            "--",
            color=color,
            lw=1.2,
            label=f"{label}: {target_label}",
        )


def _axes_lr_t(ax_lr, ax_t, what: str = "") -> None:
    ax_lr.set(
        xlabel="fraction of training",
        ylabel="learning rate",
        yscale="log",
        title=f"learning rate{what}",
    )
    ax_t.set(
        xlabel="fraction of training",
        ylabel="mean temperature (bits, unit:64)",
        title=f"T̄ ({F.SMOOTH}-measurement average; dashed: target){what}",
    )
    ax_lr.legend(fontsize=7)
    ax_t.legend(fontsize=7)


# ----------------------------------------------------------------------------- sections
def section_baselines(fig: dict, runs: dict[str, F.Run], out: Path) -> list[str]:
    sch = fig["schedules"]
    rates = sorted({r for v in sch.values() for r in v["rates"]})
    lines = [
        HEADINGS["baselines"],
        "",
        "Claim: every baseline got a fair chance: a grid of peak rates (seed 0), its best rate "
        "repeated with seed 1, and its best rate inside the grid (not at an end, where a rate "
        "outside the grid might do better).",
        "",
    ]
    rows = []
    for s, v in sch.items():
        cells = [_f(v["test_error"].get(f"{r:g}")) for r in rates]
        if v["best_rate"] is not None:
            i = next(i for i, r in enumerate(rates) if math.isclose(r, v["best_rate"]))
            cells[i] = f"**{cells[i]}**"
        rows.append(
            [
                NAMES[s],
                *cells,
                _f(v["best_rate"], "g"),
                _seed(v["at_best"], 0),
                _seed(v["at_best"], 1),
                _stat(v["at_best"]),
            ]
        )
    lines += _table(
        [
            "schedule",
            *(f"lr {r:g}" for r in rates),
            "best rate",
            "seed 0",
            "seed 1",
            "mean at best rate",
        ],
        rows,
    )
    best = fig["best_baseline"]
    lines += [
        "",
        "Test error in %. "
        + (
            f"The best tuned baseline is **{NAMES[best]}** at rate {sch[best]['best_rate']:g}: "
            f"{_stat(sch[best]['at_best'])}."
            if best
            else "No baseline has finished yet."
        ),
    ]
    if best and fig["best_n"] < 2:
        lines.append(f"Its mean is over {fig['best_n']} seed: its seed-1 run is missing.")
    edge = [s for s, v in sch.items() if v["at_edge"]]
    incomplete = [s for s, v in sch.items() if v["rates"] and not v["complete"]]
    goal = "Goal: every grid complete and no best rate at an end of the grid"
    if incomplete:
        lines += [
            "",
            f"{goal} → {_verdict(fig['grid_ok'])}: the grid of "
            + ", ".join(NAMES[s] for s in incomplete)
            + " is not complete.",
        ]
    elif edge:
        lines += [
            "",
            f"{goal} → {_verdict(fig['grid_ok'])}: the best rate of "
            + ", ".join(f"{NAMES[s]} ({sch[s]['best_rate']:g})" for s in edge)
            + " is at an end of the grid, so a rate outside it might do better and that "
            "baseline may be under-tuned here.",
        ]
    else:
        lines += ["", f"{goal} → {_verdict(fig['grid_ok'])}."]
    lines += _missing_line(fig["missing"])
    if any(
        v["test_error"] and any(e is not None for e in v["test_error"].values())
        for v in sch.values()
    ):
        plt = _plt()
        fg, ax = plt.subplots(figsize=(7, 4.2))
        for s, v in sch.items():
            pts = [
                (r, v["test_error"][f"{r:g}"])
                for r in v["rates"]
                if v["test_error"][f"{r:g}"] is not None
            ]
            if not pts:
                continue
            ax.plot(*zip(*pts, strict=True), "o-", color=COLORS[s], label=NAMES[s])
            seed1 = v["at_best"]["by_seed"].get("1")
            if seed1 is not None:
                ax.plot([v["best_rate"]], [seed1], "s", mfc="none", color=COLORS[s], ms=9)
        ax.set(
            xscale="log",
            xlabel="peak learning rate",
            ylabel="test error (%)",
            title="baselines: test error vs rate (seed 0; hollow square: seed 1 at the best rate)",
        )
        ax.set_xticks(rates)
        ax.set_xticklabels([f"{r:g}" for r in rates])
        ax.minorticks_off()
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        _save(fg, out / PNGS["baselines"])
        lines += ["", f"![baselines]({PNGS['baselines']})"]
    return lines + [""]


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


def section_replay(fig: dict, runs: dict[str, F.Run], out: Path, setups: dict) -> list[str]:
    lines = [
        HEADINGS["replay"],
        "",
        "Claim: what a schedule sets is its temperature curve: ActCoolLR made to follow the T̄ that the "
        "best 1-cycle run measured (averaged over 20 bins of 5% of training; rate ceiling = "
        "that run's peak rate; the first step cold, like every ActCoolLR run with a target from the "
        "start) ends where that 1-cycle ends. "
        f"Goal: the replay at most {fig['fmnist']['goal_points']} points behind its 1-cycle on "
        f"{setups['main']} (mean over seeds), at most {fig['cifar']['goal_points']} on {setups['cifar']} "
        "(one seed).",
        "",
    ]
    lines += _table(
        [
            "setup",
            "seed",
            "1-cycle replayed (rate)",
            "its error",
            "replay's error",
            "replay − 1-cycle",
        ],
        (
            [
                name,
                p["seed"],
                f"`{p['source']}` ({p['rate']:g})",
                _f(p["source_error"]),
                _f(p["replay_error"]),
                _f(p["gap_points"], "+.2f"),
            ]
            for setup, name in (("fmnist", setups["main"]), ("cifar", setups["cifar"]))
            for p in fig[setup]["pairs"]
        ),
    )
    lines.append("")
    for setup, name in (("fmnist", setups["main"]), ("cifar", setups["cifar"])):
        g = fig[setup]
        if not g["pairs"]:
            lines.append(f"- {name}: no finished replay with its 1-cycle yet.")
            continue
        n = len(g["pairs"])
        lines.append(
            f"- {name}: the replay is {_behind(g['gap_points'], 'the 1-cycle it replays')} "
            f"({f'mean over {n} seeds' if n > 1 else 'one seed'}) → {_verdict(g['ok'])}."
        )
    lines += _missing_line(fig["missing"])
    shown = [(k, runs[k]) for k in ("replay/onecycle/seed0", "cifar/replay/seed0") if k in runs]
    if shown:
        plt = _plt()
        fg, ax = plt.subplots(len(shown), 2, figsize=(13, 4.2 * len(shown)), squeeze=False)
        for row, (k, r) in enumerate(shown):
            src = runs.get(r.replay_of)
            if src is not None:
                _curves(
                    ax[row][0],
                    ax[row][1],
                    src,
                    COLORS["onecycle"],
                    f"1-cycle replayed (lr {src.lr:g})",
                )
            _curves(
                ax[row][0],
                ax[row][1],
                r,
                COLORS["replay"],
                "replay",
                target=True,
                target_label="target = 1-cycle's T̄",
            )
            _axes_lr_t(ax[row][0], ax[row][1], f" ({k})")
        _save(fg, out / PNGS["replay"])
        lines += ["", f"![replay]({PNGS['replay']})"]
    return lines + [""]


def section_tracking(fig: dict, out: Path) -> list[str]:
    per = fig["runs"]
    lines = [
        HEADINGS["tracking"],
        "",
        f"Claim: ActCoolLR makes T̄ follow its target. Figure: mean |T̄ − C| / mean C over 10–90% of "
        f"training (measurements with a target), per ActCoolLR run; also on a {fig['window']}-measurement "
        "moving average of T̄, since a single measurement is noisy. Goal: ≤ "
        f"{fig['goal']} for every run.",
        "",
    ]
    if not per:
        return lines + ["No finished ActCoolLR run yet.", ""]
    lines += _table(
        [
            "run",
            "measurements",
            "mean target (bits)",
            "relative, raw",
            f"relative, {fig['window']}-avg",
            "mean abs. (bits)",
            "out of reach",
            "relative, in reach",
        ],
        (
            [
                f"`{k}`",
                v["measurements"],
                _f(v["mean_target_bits"]),
                _f(v["relative"], ".3f"),
                _f(v["relative_smoothed"], ".3f"),
                _f(v["absolute_bits"], ".3f"),
                "n/a" if v["out_of_reach"] is None else f"{100 * v['out_of_reach']:.0f}%",
                _f(v["relative_in_reach"], ".3f"),
            ]
            for k, v in per.items()
        ),
    )
    lines += [
        "",
        "Out of reach: the share of the 10–90% measurements trained at the rate ceiling while "
        "colder than the target (or at the floor while hotter), where no rate the controller may "
        "choose could close the gap; relative, in reach: the raw figure over the other "
        "measurements. The goal is judged on the raw figure over all of them.",
    ]
    n = len(per)
    few = [
        k for k, v in per.items() if v["relative_smoothed"] is None and v["relative"] is not None
    ]
    if few:
        lines += [
            "",
            f"No moving average for {', '.join(f'`{k}`' for k in few)}: fewer than "
            f"{fig['min_measurements_smoothed']} measurements, so a {fig['window']}-measurement window would "
            "span much of the run.",
        ]
    n_sm = fig["smoothed_runs"]
    lines += [
        "",
        f"Raw: {fig['met_raw']} of {n} runs within {fig['goal']} (median {_f(fig['median_raw'], '.3f')}) "
        f"→ {_verdict(fig['ok_raw'])}. On the moving average: {fig['met_smoothed']} of {n_sm} (median "
        f"{_f(fig['median_smoothed'], '.3f')}) → {_verdict(fig['ok_smoothed'])}.",
    ]
    raw, sm = fig["median_raw_paired"], fig["median_smoothed"]  # over the same runs
    if raw is not None and sm is not None and raw > 0:
        if sm >= raw:
            lines.append(
                f"Averaging does not lower the median ({raw:.3f} raw, {sm:.3f} averaged): the error is "
                "not the noise of single measurements."
            )
        elif sm <= 0.5 * raw:
            lines.append(
                f"Averaging lowers the median by {100 * (1 - sm / raw):.0f}%: most of the raw figure is "
                "the noise of single measurements, not the controller."
            )
        else:
            lines.append(
                f"Averaging lowers the median by only {100 * (1 - sm / raw):.0f}%: most of the error "
                "is systematic (an offset or a lag between T̄ and its target), not measurement noise."
            )
    plt = _plt()
    fg, ax = plt.subplots(figsize=(max(7, 0.6 * n + 3), 4.2))
    x = np.arange(n)
    ax.bar(
        x - 0.2, [v["relative"] or np.nan for v in per.values()], 0.4, label="raw", color="#999999"
    )
    ax.bar(
        x + 0.2,
        [v["relative_smoothed"] or np.nan for v in per.values()],
        0.4,
        label=f"{fig['window']}-measurement average",
        color=COLORS["actcool-fixed"],
    )
    ax.axhline(fig["goal"], color=TARGET_COLOR, ls="--", lw=1, label=f"goal {fig['goal']}")
    ax.set_xticks(x)
    ax.set_xticklabels(list(per), rotation=35, ha="right", fontsize=7)
    ax.set(ylabel="mean |T̄ − C| / mean C (10–90%)", title="tracking error per ActCoolLR run")
    ax.legend(fontsize=8)
    _save(fg, out / PNGS["tracking"])
    return lines + ["", f"![tracking]({PNGS['tracking']})", ""]


def section_gamma(fig: dict, runs: dict[str, F.Run], out: Path) -> list[str]:
    err, hot = fig["test_error"], fig["mean_temperature"]
    lines = [
        HEADINGS["gamma"],
        "",
        "Claim (paper): a target that stays hot for longer helps. The default target (calibration "
        f"`{AUTO}`, rate hint {HINT_LR:g}) cooling along the power curve C = T_start·(1 − x^γ), x the "
        "fraction of the cool-down done, stays hotter for longer as γ grows; γ = 1 is the default "
        f"run (`actcool/{AUTO}/seed0`). Seed 0 only. Goal: error falls with γ (Spearman ρ(γ, error) "
        "< 0) by more than the seed-to-seed difference of the γ = 1 run.",
        "",
    ]
    if not err:
        return lines + ["No finished run yet."] + _missing_line(fig["missing"]) + [""]
    lines += _table(
        ["γ", "test error %", "mean T̄ over 10–90% (bits)"],
        ([g, _f(e), _f(hot.get(g))] for g, e in err.items()),
    )
    rho, rho_hot = fig["spearman_gamma_error"], fig["spearman_gamma_temperature"]
    lines.append("")
    if rho is None:
        lines.append("Too few γ values finished for a rank correlation.")
    else:
        strength = "" if abs(rho) >= 0.8 else "tends to "
        direction = (
            f"{strength}fall as γ grows"
            if rho < 0
            else f"{strength}rise as γ grows"
            if rho > 0
            else "show no trend with γ"
        )
        text = f"ρ(γ, error) = {rho:+.2f}: the errors {direction}"
        span, noise = fig["error_span_points"], fig["seed_noise_points"]
        if noise is not None and span is not None:
            text += (
                f"; the errors span {span:.2f} points against a seed-to-seed difference of {noise:.2f} at γ = 1"
                + (
                    ", so the spread is larger than seed noise"
                    if fig["span_beyond_seed_noise"]
                    else ", so the differences between γ are within seed noise"
                )
            )
        else:
            text += "; the seed noise at γ = 1 is unknown (a seed of the default run is missing)"
        lines.append(text + f" → {_verdict(fig['ok'])}.")
        spread = fig["temperature_spread"]
        if spread is not None and spread < 0.05:
            lines.append(
                f"The runs' mean T̄ over 10–90% differs by only {100 * spread:.0f}% across γ: a hotter "
                "target did not make a hotter run (a rate at its ceiling cannot rise)."
            )
        elif rho_hot is not None:
            lines.append(
                f"Larger γ did {'' if rho_hot > 0 else 'not '}run hotter over 10–90% of training "
                f"(ρ(γ, mean T̄) = {rho_hot:+.2f}; the means differ by "
                f"{100 * (spread or 0):.0f}%)."
            )
        if fig["best_gamma"] is not None:
            lines.append(f"Lowest error at γ = {fig['best_gamma']:g}.")
    lines += _missing_line(fig["missing"])
    plt = _plt()
    fg, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    cmap = plt.get_cmap("viridis")
    keys = F.gamma_keys()
    gs = [g for g in sorted(keys) if keys[g] in runs]
    for i, g in enumerate(gs):
        r = runs[keys[g]]
        m = r.measured()
        c = cmap(i / max(len(gs) - 1, 1))
        ax[0].plot(
            m["fraction"],
            smooth(m["mean_temperature"].to_numpy(), F.SMOOTH),
            color=c,
            label=f"γ={g:g}",
        )
        ax[0].plot(m["fraction"], m["target_temperature"], "--", color=c, lw=1)
    pts = [(float(g), e) for g, e in err.items() if e is not None]
    ax[1].plot(*zip(*pts, strict=True), "o-", color=COLORS["actcool-fixed"])
    ax[0].set(
        xlabel="fraction of training",
        ylabel="mean temperature (bits, unit:64)",
        title=f"T̄ ({F.SMOOTH}-avg, solid) vs target (dashed)",
    )
    ax[1].set(xlabel="γ", ylabel="test error (%)", xscale="log", title="test error by γ (seed 0)")
    ax[0].legend(fontsize=8)
    _save(fg, out / PNGS["gamma"])
    return lines + ["", f"![gamma]({PNGS['gamma']})", ""]


def section_claims(fig: dict, runs: dict[str, F.Run], out: Path, setups: dict) -> list[str]:
    lin, dep, fits, dr = fig["linearity"], fig["depth"], fig["fits"], fig["drift"]
    lines = [
        HEADINGS["claims"],
        "",
        f"The paper's claims rerun on the default measure (unit:64) with {setups['main']}.",
        "",
        f"**Claim (paper): T̄ falls linearly under 1-cycle** (best 1-cycle rate, both seeds). R² of a straight line through "
        f"the {F.SMOOTH}-measurement average of T̄ from the end of warm-up to 90% of training (the claim), and "
        f"through every raw measurement of the whole run. Goal: R² ≥ {lin['goal']} with a falling slope.",
        "",
    ]
    if lin["runs"]:
        lines += _table(
            [
                "run",
                "rate",
                "R², warm-up → 90% (avg)",
                "slope there (bits/run)",
                "R², whole run (raw)",
                "peak T̄",
                "T̄ last 5%",
            ],
            (
                [
                    f"`{x['key']}`",
                    f"{x['rate']:g}",
                    _f(x["r2_warmup_to_90pct_smoothed"], ".3f"),
                    _f(x["slope_warmup_to_90pct"], "+.2f"),
                    _f(x["r2_whole_run"], ".3f"),
                    _f(x["peak_bits"]),
                    _f(x["end_bits"]),
                ]
                for x in lin["runs"]
            ),
        )
        lines += [
            "",
            f"Mean R² (warm-up → 90%) {_f(lin['mean_r2'], '.3f')} → {_verdict(lin['ok'])}.",
        ]
    else:
        lines.append("No finished 1-cycle run at its best rate yet.")
    lines += [
        "",
        "**Claim (paper): deeper layers are hotter.** Spearman ρ(site index, site temperature averaged over the run), "
        f"each baseline at its best rate (seed 0). Goal: mean ρ ≥ {dep['goal']}.",
        "",
    ]
    if dep["runs"]:
        lines += _table(
            ["run", "site temperatures, input → output (bits)", "ρ"],
            (
                [
                    f"`{d['key']}`",
                    ", ".join(_f(t) for t in d["mean_temperature"]),
                    _f(d["spearman"], "+.2f"),
                ]
                for d in dep["runs"]
            ),
        )
        lines += ["", f"Mean ρ {_f(dep['mean_spearman'], '+.2f')} → {_verdict(dep['ok'])}."]
    else:
        lines.append("No finished baseline run yet.")
    med = fits["median_rmse"]
    lines += [
        "",
        "**The response model of an LR range scan**: the paper's Gaussian CDF P(λ) = Φ((ln λ − μ)/σ) "
        "against the Weibull P(λ) = 1 − exp(−(λ/λ0)^k), both fitted to every stored scan (per site and "
        f"the mean over sites) of the {setups['main']} runs; medians over the curves both models fitted. "
        f"Goal for the paper's claim: median Gaussian RMSE ≤ {fits['goal']}.",
        "",
    ]
    if fits["paired"]:
        lines += [
            f"Curves fitted by both: {fits['paired']} (fitted/refused: Gaussian "
            f"{fits['fitted'].get('gaussian', 0)}/{fits['not_fitted'].get('gaussian', 0)}, Weibull "
            f"{fits['fitted'].get('weibull', 0)}/{fits['not_fitted'].get('weibull', 0)}). Median RMSE: "
            f"Gaussian {_f(med['gaussian'], '.4f')} → {_verdict(fits['gaussian_ok'])}; Weibull "
            f"{_f(med['weibull'], '.4f')}."
        ]
        if fits["better"] is not None:
            share = fits["weibull_wins_share"]
            lines.append(
                f"{MODEL_LABELS[fits['better']]} fits better: its "
                f"median RMSE is {_f(fits['ratio'])}× lower; Weibull has the lower RMSE on "
                f"{100 * share:.0f}% of the curves."
            )
        else:
            lines.append("The two medians are equal: neither model fits better.")
    else:
        lines.append("No scan was fitted by both models.")
    lines += [
        "",
        f"**Claim (paper): σ drifts little and μ follows the schedule** (the fit of the mean over sites at each scan, "
        f"best-rate runs of 1-cycle and step decay, seed 0). Goals: σ std/mean ≤ {dr['sigma_goal']}; "
        f"Spearman ρ(μ, ln rate used) ≥ {dr['mu_goal']} under both. The Weibull analogues (k's std/mean, "
        "ρ(ln λ0, ln rate)) for comparison.",
        "",
    ]
    if dr["runs"]:
        lines += _table(
            [
                "run",
                "scans",
                "σ range",
                "σ std/mean",
                "ρ(μ, ln rate)",
                "k std/mean",
                "ρ(ln λ0, ln rate)",
            ],
            (
                [
                    f"`{d['key']}`",
                    d["scans"],
                    "–".join(_f(x) for x in (d.get("sigma_range") or [None, None])),
                    _f(d["sigma_cv"]),
                    _f(d["spearman_mu_ln_lr"], "+.2f"),
                    _f(d["k_cv"]),
                    _f(d["spearman_ln_lambda0_ln_lr"], "+.2f"),
                ]
                for d in dr["runs"].values()
            ),
        )
        against = [
            NAMES[s]
            for s, d in dr["runs"].items()
            if d["spearman_mu_ln_lr"] is not None and d["spearman_mu_ln_lr"] < 0
        ]
        lines += [
            "",
            f"σ drifts little → {_verdict(dr['sigma_ok'])}. μ follows the schedule → {_verdict(dr['mu_ok'])}"
            + (
                ": the critical rate e^μ does not rise and fall with the rate used"
                + (f" (under {', '.join(against)} it moves the opposite way)" if against else "")
                + "."
                if dr["mu_ok"] is False
                else "."
            ),
        ]
    else:
        lines.append("No finished 1-cycle or step-decay run at its best rate yet.")
    lines += _missing_line(fig["missing"])
    if lin["runs"] or dep["runs"] or fits["paired"] or dr["runs"]:
        plt = _plt()
        fg, ax = plt.subplots(2, 2, figsize=(13, 8.5))
        a = ax[0][0]
        for i, x in enumerate(lin["runs"]):
            r = runs[x["key"]]
            m = r.measured()
            f = m["fraction"].to_numpy()
            a.plot(f, m["mean_temperature"], ".", ms=3, alpha=0.4, color=COLORS["onecycle"])
            a.plot(
                f,
                smooth(m["mean_temperature"].to_numpy(), F.SMOOTH),
                ("-", "-.", ":")[i % 3],
                color=COLORS["onecycle"],
                label=f"seed {x['seed']} ({F.SMOOTH}-avg)",
            )
            if x["intercept_warmup_to_90pct"] is not None:
                ff = np.linspace(x["warmup_end"], 0.9, 20)
                a.plot(
                    ff,
                    x["intercept_warmup_to_90pct"] + x["slope_warmup_to_90pct"] * ff,
                    "k--",
                    lw=1,
                    label=f"seed {x['seed']} line, R²={_f(x['r2_warmup_to_90pct_smoothed'])}",
                )
        a.set(
            xlabel="fraction of training",
            ylabel="T̄ (bits, unit:64)",
            title="1-cycle: T̄ and a line from warm-up to 90%",
        )
        a.legend(fontsize=7)
        a = ax[0][1]
        for d in dep["runs"]:
            label = runs[d["key"]].label
            a.plot(
                range(len(d["mean_temperature"])),
                [np.nan if t is None else t for t in d["mean_temperature"]],
                "o-",
                color=COLORS.get(label),
                label=f"{NAMES.get(label, label)} (ρ={_f(d['spearman'], '+.2f')})",
            )
        if dep["runs"]:
            names = dep["runs"][0]["sites"]
            a.set_xticks(range(len(names)))
            a.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        a.set(
            xlabel="ReLU site, input → output",
            ylabel="time-averaged temperature (bits)",
            title="temperature by depth",
        )
        a.legend(fontsize=7)
        a = ax[1][0]
        rows = [
            r.fits.assign(run=k) for k, r in runs.items() if r.group != "cifar" and not r.fits.empty
        ]
        if rows:
            allfits = pd.concat(rows, ignore_index=True)
            model = allfits["model"].fillna("gaussian")
            data = [
                allfits.loc[model == m, "rmse"].dropna().to_numpy() for m in ("gaussian", "weibull")
            ]
            if all(len(d) for d in data):
                a.boxplot(data)
                a.set_xticks([1, 2])
                a.set_xticklabels(["Gaussian CDF", "Weibull"])
        a.axhline(fits["goal"], color=TARGET_COLOR, ls="--", lw=1, label=f"goal {fits['goal']}")
        a.set(yscale="log", ylabel="fit RMSE (probability)", title="scan fits: RMSE per curve")
        a.legend(fontsize=7)
        a = ax[1][1]
        for s, d in dr["runs"].items():
            if d["mu"]:
                a.plot(
                    d["fraction"],
                    np.exp(np.array(d["mu"], dtype=float)),
                    "o-",
                    color=COLORS[s],
                    label=f"{NAMES[s]}: e^μ",
                )
                a.plot(d["fraction"], d["lr"], ":", color=COLORS[s], label=f"{NAMES[s]}: rate used")
        a.set(
            yscale="log",
            xlabel="fraction of training",
            ylabel="learning rate",
            title="critical rate e^μ vs the rate used",
        )
        a.legend(fontsize=7)
        _save(fg, out / PNGS["claims"])
        lines += ["", f"![claims]({PNGS['claims']})"]
    return lines + [""]


def section_cifar(fig: dict, runs: dict[str, F.Run], out: Path, setups: dict) -> list[str]:
    g, act = fig["grid"], fig["actcool"]
    lines = [
        HEADINGS["cifar"],
        "",
        f"Claim: the same holds on a deeper network ({setups['cifar']}): ActCoolLR's default (calibration "
        f"{fig['calibration']}, rate "
        f"{HINT_LR:g}, no tuning; seeds {', '.join(map(str, SEEDS))}) against 1-cycle at its best rate of a "
        f"grid (seed 0). Goal: within {fig['goal_points']} points of the best 1-cycle.",
        "",
    ]
    if g["rates"]:
        lines += _table(
            ["1-cycle rate", *(f"{r:g}" for r in g["rates"])],
            [["test error %", *(_f(g["test_error"][f"{r:g}"]) for r in g["rates"])]],
        ) + [""]
    lines.append(
        f"ActCoolLR default on {setups['cifar']}: {_stat(act)}; T_start "
        + (", ".join(f"seed {s}: {_f(v)} bits" for s, v in fig["t_start_bits"].items()) or "n/a")
        + "."
    )
    if g["best_rate"] is not None:
        lines.append(
            f"Best 1-cycle: rate {g['best_rate']:g}, {_f(g['best_error'])}%"
            + (
                " (at an end of the grid: a rate outside it might do better)."
                if g["at_edge"]
                else "."
            )
        )
    lines += [
        "",
        f"ActCoolLR is {_behind(fig['gap_points'], 'the best 1-cycle')} → {_verdict(fig['ok'])}.",
    ]
    for cal, o in fig.get("other_calibrations", {}).items():
        if o["test_error"] is not None:
            lines.append(
                f"With calibration {cal} (seed 0): {_f(o['test_error'])}%, "
                f"{_behind(o['gap_points'], 'the best 1-cycle')}."
            )
    rp = fig["replay"]
    if rp["pairs"]:
        lines.append(
            f"The replay of that 1-cycle's T̄ (section 3) is {_behind(rp['gap_points'], 'it')} "
            f"(goal: at most {rp['goal_points']} points behind) → {_verdict(rp['ok'])}."
        )
    if fig["depth"]:
        rhos = [d["spearman"] for d in fig["depth"] if d["spearman"] is not None]
        trend = (
            "deeper layers hotter"
            if rhos and min(rhos) > 0
            else "deeper layers colder"
            if rhos and max(rhos) < 0
            else "no consistent depth trend"
        )
        lines.append(
            f"Site temperature against depth on {setups['cifar']} ({trend}): "
            + "; ".join(f"`{d['key']}` ρ = {_f(d['spearman'], '+.2f')}" for d in fig["depth"])
            + "."
        )
    lines += _missing_line(fig["missing"])
    cal = fig["calibration"]
    shown = [
        (runs[k], lab)
        for k, lab in (
            (g["best_key"], "onecycle"),
            (f"cifar/actcool/{cal}/seed0", f"actcool-{cal}"),
            ("cifar/replay/seed0", "replay"),
        )
        if k in runs
    ]
    if shown:
        plt = _plt()
        fg, ax = plt.subplots(1, 2, figsize=(13, 4.2))
        for r, lab in shown:
            _curves(
                ax[0],
                ax[1],
                r,
                COLORS[lab],
                NAMES[lab] + (f" (lr {r.lr:g})" if lab == "onecycle" else ""),
                target=lab != "onecycle",
            )
        _axes_lr_t(ax[0], ax[1], f" ({setups['cifar']}, seed 0)")
        _save(fg, out / PNGS["cifar"])
        lines += ["", f"![cifar]({PNGS['cifar']})"]
    return lines + [""]


# ----------------------------------------------------------------------------- summary
def summary_rows(figs: dict[str, Any]) -> list[dict[str, Any]]:
    """The top table: one row per claim, its measured value (text), goal and verdict."""
    rows: list[dict[str, Any]] = []
    main, deep = figs["setups"]["main"], figs["setups"]["cifar"]

    def add(section: str, claim: str, measured: str, goal: str, ok: bool | None) -> None:
        rows.append(
            {"section": section, "claim": claim, "measured": measured, "goal": goal, "ok": ok}
        )

    b = figs["baselines"]
    add(
        "baselines",
        f"baselines tuned: best rate inside each grid ({main})",
        ", ".join(
            f"{NAMES[s]} {_f(v['best_rate'], 'g')}{' (edge)' if v['at_edge'] else ''}"
            for s, v in b["schedules"].items()
        ),
        "complete grids, no best rate at an end",
        b["grid_ok"],
    )
    n = figs["no_tuning"]
    for cal, c in n["calibrations"].items():
        so_far = (
            ""
            if not n["provisional"]
            else " — provisional: only "
            + (", ".join(NAMES[t] for t in n["tuned_baselines"]) or "no baseline")
            + " tuned so far"
        )
        add(
            "no_tuning",
            f"ActCoolLR no tuning ({cal}) vs best tuned baseline ({main})",
            f"{_f(c['gap_points'], '+.2f')} points ({c['test_error']['n']} seeds){so_far}",
            f"≤ +{n['goal_points']} points",
            c["ok"],
        )
    if n["better_calibration"]:
        beyond = n["difference_beyond_seed_noise"]
        add(
            "no_tuning",
            "fixed vs ramp calibration",
            f"{n['better_calibration']} lower by {abs(n['fixed_minus_ramp']):.2f} points"
            + {
                True: " (beyond seed noise)",
                False: " (within seed noise)",
                None: " (seed noise unknown)",
            }[beyond],
            "informs the default",
            None,
        )
    r = figs["replay"]
    add(
        "replay",
        f"replay of 1-cycle's T̄ vs that 1-cycle ({main})",
        f"{_f(r['fmnist']['gap_points'], '+.2f')} points ({len(r['fmnist']['pairs'])} seeds)",
        f"≤ +{r['fmnist']['goal_points']} points",
        r["fmnist"]["ok"],
    )
    add(
        "replay",
        f"replay of 1-cycle's T̄ vs that 1-cycle ({deep})",
        f"{_f(r['cifar']['gap_points'], '+.2f')} points",
        f"≤ +{r['cifar']['goal_points']} points",
        r["cifar"]["ok"],
    )
    t = figs["tracking"]
    k = sum(v["relative"] is not None for v in t["runs"].values())
    k_sm = t["smoothed_runs"]
    add(
        "tracking",
        "tracking |T̄ − C| / C, 10–90%, raw",
        f"median {_f(t['median_raw'], '.3f')}; {t['met_raw']}/{k} runs ≤ {t['goal']}",
        f"≤ {t['goal']} every run",
        t["ok_raw"],
    )
    add(
        "tracking",
        f"tracking, {t['window']}-measurement average",
        f"median {_f(t['median_smoothed'], '.3f')}; {t['met_smoothed']}/{k_sm} runs ≤ {t['goal']}",
        f"≤ {t['goal']} every run",
        t["ok_smoothed"],
    )
    g = figs["gamma"]
    add(
        "gamma",
        "hotter for longer (larger γ) helps",
        f"ρ(γ, error) = {_f(g['spearman_gamma_error'], '+.2f')}; span {_f(g['error_span_points'])} vs seed noise "
        f"{_f(g['seed_noise_points'])}",
        "ρ < 0, span > seed noise",
        g["ok"],
    )
    c = figs["claims"]
    add(
        "claims",
        "T̄ linear under 1-cycle (warm-up → 90%)",
        f"mean R² {_f(c['linearity']['mean_r2'], '.3f')}",
        f"R² ≥ {c['linearity']['goal']}, falling",
        c["linearity"]["ok"],
    )
    add(
        "claims",
        f"deeper layers hotter ({main})",
        f"mean ρ {_f(c['depth']['mean_spearman'], '+.2f')}",
        f"ρ ≥ {c['depth']['goal']}",
        c["depth"]["ok"],
    )
    med = c["fits"]["median_rmse"]
    add(
        "claims",
        "Gaussian CDF fits the LR scans",
        f"median RMSE {_f(med['gaussian'], '.4f')}",
        f"≤ {c['fits']['goal']}",
        c["fits"]["gaussian_ok"],
    )
    add(
        "claims",
        "Weibull fits the scans better than the Gaussian CDF",
        (
            f"{MODEL_LABELS[c['fits']['better']]} {_f(c['fits']['ratio'])}× lower median RMSE ({_f(med['weibull'], '.4f')} vs "
            f"{_f(med['gaussian'], '.4f')})"
        )
        if c["fits"]["better"]
        else "n/a",
        "Weibull lower",
        c["fits"]["weibull_better"],
    )
    d = c["drift"]["runs"]
    add(
        "claims",
        "σ drifts little",
        ", ".join(f"{NAMES[s]} {_f(v['sigma_cv'])}" for s, v in d.items()) or "n/a",
        f"std/mean ≤ {c['drift']['sigma_goal']}",
        c["drift"]["sigma_ok"],
    )
    add(
        "claims",
        "μ follows the schedule",
        ", ".join(f"{NAMES[s]} ρ {_f(v['spearman_mu_ln_lr'], '+.2f')}" for s, v in d.items())
        or "n/a",
        f"ρ(μ, ln rate) ≥ {c['drift']['mu_goal']}",
        c["drift"]["mu_ok"],
    )
    cf = figs["cifar"]
    add(
        "cifar",
        f"ActCoolLR no tuning vs best 1-cycle ({deep})",
        f"{_f(cf['gap_points'], '+.2f')} points ({cf['actcool']['n']} seeds)",
        f"≤ +{cf['goal_points']} points",
        cf["ok"],
    )
    return rows


# ----------------------------------------------------------------------------- the report
def _machine() -> str:
    import torch

    return (
        f"{platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPU cores, {'CUDA' if torch.cuda.is_available() else 'no GPU'}"
    )


def write_report(
    store,
    runs: Sequence,
    found: dict[str, dict],
    out: Path,
    quick: bool = False,
    train_seconds: float | None = None,
) -> Path:
    """Write ``REPORT.md``, the PNGs and ``results.json`` under ``out``; return the report path."""
    out.mkdir(parents=True, exist_ok=True)
    # A figure left by an earlier report (or by the report of the previous plan) would pass for
    # one of this report's.
    for png in (*PNGS.values(), *OLD_PNGS):
        (out / png).unlink(missing_ok=True)
    loaded, missing = load_runs(store, runs, found)
    figs = F.compute(loaded, runs)
    by_key = {r.key: r for r in loaded}
    body: list[str] = []
    body += section_baselines(figs["baselines"], by_key, out)
    body += section_no_tuning(figs["no_tuning"], by_key, runs, out)
    body += section_replay(figs["replay"], by_key, out, figs["setups"])
    body += section_tracking(figs["tracking"], out)
    body += section_gamma(figs["gamma"], by_key, out)
    body += section_claims(figs["claims"], by_key, out, figs["setups"])
    body += section_cifar(figs["cifar"], by_key, out, figs["setups"])
    rows = summary_rows(figs)
    walls = [r.wall for r in loaded if np.isfinite(r.wall)]
    total_wall = float(sum(walls))
    expected = len(F.expected_keys(runs))
    head = [
        "# ActCoolLR without tuning against tuned baselines, at CPU scale"
        + (" (quick pipeline check, digits)" if quick else ""),
        "",
        f"Written by `python -m benchmarks.reproduce{' --quick' if quick else ''}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({_machine()}). "
        f"{len(loaded)} of {expected} runs finished; their training wall times (from the stored summaries) add "
        f"up to {total_wall / 60:.1f} min"
        + (f" (this invocation: {train_seconds / 60:.1f} min)" if train_seconds is not None else "")
        + ". Every run is in the store (tag `reproduce`), so the dashboard's Compare page shows them. "
        "Test errors in %; a gap in points is ActCoolLR's error minus the reference's (negative: ahead).",
        "",
    ]
    if quick:
        head += [
            "This is the `--quick` miniature on scikit-learn digits: it checks the pipeline; its numbers "
            "say nothing about the claims.",
            "",
        ]
    head += _table(
        ["claim", "measured", "goal", "verdict"],
        ([r["claim"], r["measured"], r["goal"], _v(r["ok"])] for r in rows),
    )
    head.append("")
    if missing:
        head += (
            ["Missing runs (rerun the script to train or resume them):", ""]
            + [f"- {m}" for m in missing]
            + [""]
        )
    text = "\n".join(head + body)
    (out / "REPORT.md").write_text(text)
    pngs = {k: v for k, v in PNGS.items() if (out / v).exists()}
    results = {
        "quick": quick,
        "figures": figs,
        "summary": rows,
        "pngs": pngs,
        "missing": missing,
        "wall_seconds_total": total_wall,
        "train_seconds_this_invocation": train_seconds,
        "runs": {
            r.key: {
                "id": r.id,
                "group": r.group,
                "label": r.label,
                "seed": r.seed,
                "lr": r.lr,
                "test_error": F._num(r.test_error),
                "wall_seconds": F._num(r.wall),
            }
            for r in loaded
        },
    }
    (out / "results.json").write_text(json.dumps(_plain(results), indent=1, allow_nan=False))
    return out / "REPORT.md"


def _plain(x: Any) -> Any:
    """``x`` as plain JSON: NumPy scalars unwrapped, NaN and infinities as null."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)
