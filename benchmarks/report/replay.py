"""Section 3: ActCoolLR replaying 1-cycle's measured T̄."""

from __future__ import annotations

from pathlib import Path

from .. import figures as F
from .markdown import HEADINGS, _behind, _f, _missing_line, _table, _verdict
from .plots import COLORS, PNGS, _axes_lr_t, _curves, _plt, _save


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
