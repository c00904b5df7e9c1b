"""Section 7: ResNet-20 on CIFAR-10."""

from __future__ import annotations

from pathlib import Path

from .. import figures as F
from ..plan import HINT_LR, SEEDS
from .markdown import HEADINGS, NAMES, _behind, _f, _missing_line, _stat, _table, _verdict
from .plots import COLORS, PNGS, _axes_lr_t, _curves, _plt, _save


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
