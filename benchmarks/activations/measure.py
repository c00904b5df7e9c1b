"""The measure's figures from one run's recorded temperatures: cap, late/peak, depth and fits."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def late_over_peak(steps: list[int], means: list[float], total: int, window: int = 5) -> float:
    """T̄ near 90% of training over its peak, both of the running mean over ``window``
    measurements (one measurement is noisy; fewer measurements, a shorter window)."""
    window = max(1, min(window, len(means)))
    smooth = np.convolve(np.asarray(means, dtype=float), np.ones(window) / window, mode="valid")
    centres = np.asarray(steps[window // 2 : window // 2 + len(smooth)], dtype=float)
    late = smooth[int(np.argmin(np.abs(centres - 0.9 * total)))]
    return float(late / smooth.max())


def spearman(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman's rank correlation (average ranks on ties); NaN for fewer than 3 points."""
    from scipy.stats import spearmanr

    x, y = list(x), list(y)
    return float(spearmanr(x, y).statistic) if len(x) >= 3 else math.nan


def measure_figures(measure: dict, total: int) -> dict[str, dict]:
    """Per activation type present: sites, the hottest unit:64 reading and its flip fraction
    (the measure's clip is a fraction near 1), the share of sample-granularity readings at ≥ 95%
    of their cap ``log2(2B)`` (why the measure counts units), late/peak of the type's T̄, Spearman ρ of its sites'
    mean temperature (10-90% of training) against depth, and the median fit error of each model."""
    rows = measure["measurements"]
    steps = [r["step"] for r in rows]
    temps = np.asarray([r["sites"] for r in rows], dtype=float)  # (measurements, sites)
    middle = [(0.1 * total <= s <= 0.9 * total) for s in steps]
    out = {}
    for kind in sorted(set(measure["types"])):
        idx = [i for i, t in enumerate(measure["types"]) if t == kind]
        means = temps[:, idx].mean(axis=1)
        hottest = float(temps[:, idx].max())
        figures: dict = {
            "sites": len(idx),
            "hottest_unit64_bits": hottest,
            "hottest_flip_fraction": 1.0 - 2.0 ** (-hottest / 64),
        }
        if rows and "sample" in rows[0]:
            sample = np.asarray([r["sample"] for r in rows], dtype=float)[:, idx]
            caps = np.asarray([r["sample_cap"] for r in rows], dtype=float)[:, None]
            figures["at_sample_cap"] = float(np.mean(sample >= 0.95 * caps))
        figures["peak_bits"] = float(means.max())
        figures["late_over_peak"] = late_over_peak(steps, list(means), total)
        per_site = temps[middle][:, idx].mean(axis=0)
        figures["depth_rho"] = spearman(range(len(idx)), per_site)
        figures["site_means"] = [round(float(v), 3) for v in per_site]
        for model in ("gaussian", "weibull"):
            errors = [f[model][i] for f in measure["fits"] for i in idx if f[model][i] is not None]
            figures[f"{model}_rmse"] = float(np.median(errors)) if errors else math.nan
        out[kind] = figures
    return out
