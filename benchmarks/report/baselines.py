"""Section 1: the baselines at their best rate."""

from __future__ import annotations

import math
from pathlib import Path

from .. import figures as F
from .markdown import HEADINGS, NAMES, _f, _missing_line, _seed, _stat, _table, _verdict
from .plots import COLORS, PNGS, _plt, _save


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
