"""Section 5: the γ sweep (hotter for longer?)."""

from __future__ import annotations

from pathlib import Path

from .. import figures as F
from ..analysis import smooth
from ..plan import AUTO, HINT_LR
from .markdown import HEADINGS, _f, _missing_line, _table, _verdict
from .plots import COLORS, PNGS, _plt, _save


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
