"""The report's top table: one row per claim, its measured value, goal and verdict."""

from __future__ import annotations

from typing import Any

from app.summary import MODEL_LABELS

from .markdown import NAMES, _f


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
