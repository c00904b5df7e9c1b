"""Section 4: how closely T̄ follows the target."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.colors import TARGET_COLOR

from .markdown import HEADINGS, _f, _table, _verdict
from .plots import COLORS, PNGS, _plt, _save


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
