"""Section 6: the paper's claims at unit:64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from app.colors import TARGET_COLOR
from app.summary import MODEL_LABELS

from .. import figures as F
from ..analysis import smooth
from .markdown import HEADINGS, NAMES, _f, _missing_line, _table, _verdict
from .plots import COLORS, PNGS, _plt, _save


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
