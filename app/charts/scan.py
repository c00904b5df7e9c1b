"""Charts of LR range scans: the scans over training as a heatmap, and one scan with its
fitted response models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from actcool.pattern_model import change_probability
from actcool.weibull_model import weibull_probability
from app.charts.common import (
    HEIGHT,
    LEGEND_DARK,
    MODEL_COLORS,
    MODEL_DASHES,
    TEMPERATURE_SCALE,
    _bits_colorbar,
    _empty,
    _finite,
    _hover_granularity,
    _layout,
    _legend_below,
    _log10_ticks,
    log_ticks,
)
from app.colors import TARGET_COLOR
from app.summary import FIT_MODELS, MODEL_LABELS, model_fit, normalize_fits


def scan_heatmap(
    scans: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    fits: pd.DataFrame | None = None,
    total_steps: int | None = None,
    title: str = "LR range scans",
    zmax: float | None = None,
    height: int = HEIGHT,
    granularity: str | None = None,
) -> go.Figure:
    """The paper's LR range heatmap: training time × log learning rate, colour = mean
    temperature (docs/algorithm.md §3), with the learning rate actually used, ``e^μ`` of the
    Gaussian fit and ``λ0`` of the Weibull fit drawn over it.

    Each scan colours the stretch of training from its step to the next scan (the last one
    to the latest step in ``steps``, else to ``total_steps``). The y axis is log10 of the rate, labelled in powers of ten.

    Args:
        scans: :meth:`Store.scans` rows; only ``site == "mean"`` is drawn.
        steps: :meth:`Store.steps` rows (step, lr), for the rate actually used.
        fits: :meth:`Store.fits` rows; ``site == "mean"`` gives the critical rate e^μ
            (Gaussian rows) and the Weibull scale λ0 (Weibull rows, when recorded).
        total_steps: end of training, for the last scan's stretch when ``steps`` is not given.
        zmax: top of the colour scale (bits); default the data's maximum.
        granularity: what one pattern is (e.g. ``"unit:64"``), named on the colour bar.
    """
    mean = scans[scans["site"] == "mean"] if len(scans) else scans
    mean = _finite(mean, "temperature") if len(mean) else mean
    if len(mean) == 0:
        return _empty(title, "no LR range scan yet (one at the start and every epoch)", height)
    grid = mean.pivot_table(index="rate", columns="step", values="temperature", aggfunc="last")
    scan_steps = grid.columns.to_numpy(np.float64)  # (K,)
    log_rates = np.log10(grid.index.to_numpy(np.float64))  # (R,)
    if steps is not None and len(steps):  # the last scan reaches the latest recorded step
        last = max(float(scan_steps[-1]) + 1.0, float(steps["step"].max()))
    else:
        last = max(float(scan_steps[-1]) + 1.0, float(total_steps or 0))
    edges = np.append(scan_steps, last)  # (K + 1,): each scan spans to the next one
    top = float(zmax) if zmax is not None else max(1.0, float(np.nanmax(grid.to_numpy())))
    traces: list[go.BaseTraceType] = [
        go.Heatmap(
            z=grid.to_numpy(),
            x=edges,
            y=log_rates,
            colorscale=TEMPERATURE_SCALE,
            zmin=0,
            zmax=top,
            colorbar=_bits_colorbar(granularity),
            customdata=np.repeat(10.0 ** log_rates[:, None], len(scan_steps), axis=1),
            hovertemplate="scan from step %{x}<br>λ = %{customdata:.3g}: %{z:.2f} bits"
            + _hover_granularity(granularity)
            + "<extra></extra>",
            name="mean temperature",
        )
    ]
    if steps is not None and len(steps):
        used = _finite(steps, "lr")
        used = used[used["lr"] > 0]
        if len(used):
            traces.append(
                go.Scatter(
                    x=used["step"],
                    y=np.log10(used["lr"].to_numpy(np.float64)),
                    mode="lines",
                    name="rate used",
                    line={"color": "#00E5FF", "width": 2.5},
                    customdata=used["lr"],
                    hovertemplate="step %{x}: λ = %{customdata:.3g}<extra>rate used</extra>",
                )
            )
    if fits is not None and len(fits):
        fits = normalize_fits(fits)
        mean_fits = fits[fits["site"] == "mean"]
        fitted = _finite(mean_fits[mean_fits["model"] == "gaussian"], "mu")
        if len(fitted):
            mu = fitted["mu"].to_numpy(np.float64)
            traces.append(
                go.Scatter(
                    x=fitted["step"],
                    y=mu / math.log(10),
                    mode="lines+markers",
                    name="critical rate e<sup>μ</sup>",
                    line={"color": "#FFFFFF", "width": 2, "dash": "dash"},
                    marker={
                        "size": 7,
                        "symbol": "diamond",
                        "color": "#FFFFFF",
                        "line": {"color": "#000000", "width": 1},
                    },
                    customdata=np.exp(mu),
                    hovertemplate="step %{x}: e^μ = %{customdata:.3g}<extra>Gaussian fit</extra>",
                )
            )
        scales = _finite(mean_fits[mean_fits["model"] == "weibull"], "lambda0")
        scales = scales[scales["lambda0"] > 0]
        if len(scales):
            lambda0 = scales["lambda0"].to_numpy(np.float64)
            traces.append(
                go.Scatter(
                    x=scales["step"],
                    y=np.log10(lambda0),
                    mode="lines+markers",
                    name="Weibull scale λ<sub>0</sub>",
                    line={"color": "#FFFFFF", "width": 1.5, "dash": "dot"},
                    marker={
                        "size": 8,
                        "symbol": "circle-open",
                        "color": "#FFFFFF",
                        "line": {"width": 2},
                    },
                    customdata=lambda0,
                    hovertemplate="step %{x}: λ0 = %{customdata:.3g}<extra>Weibull fit</extra>",
                )
            )
    fig = go.Figure(traces)
    low, high = float(log_rates.min()), float(log_rates.max())
    ticks, labels = _log10_ticks(low, high)
    _layout(fig, title, "step", "learning rate", height)
    fig.update_yaxes(tickvals=ticks, ticktext=labels, range=[low - 0.15, high + 0.15])
    fig.update_xaxes(range=[float(edges[0]), float(edges[-1])])
    _legend_below(fig)
    # the white marks of e^μ and λ0 need a dark ground in the legend too
    fig.update_layout(legend={"bgcolor": LEGEND_DARK, "font": {"color": "#FFFFFF"}})
    return fig


def scan_fit_figure(
    scans: pd.DataFrame,
    fits: pd.DataFrame,
    step: int,
    site: str = "mean",
    granularity: str | None = None,
) -> go.Figure:
    """One LR range scan with both response models fitted to it: the measured change
    probability P against the rate (log axis), the Gaussian CDF ``Φ((ln λ − μ)/σ)`` and the
    Weibull ``1 − exp(−(λ/λ0)^k)``, each named with its RMSE in the legend, e^μ (P = ½) and
    λ0 (P = 1 − 1/e) marked on them. A model without a fit is named in a note on the figure,
    with the reason the fit gives.

    Args:
        scans: :meth:`Store.scans` rows (every scan; this draws one).
        fits: :meth:`Store.fits` rows, one per (step, site, model); stores from before the
            Weibull model have Gaussian rows only.
        step: the scan's step.
        site: ``"mean"`` (the mean over sites) or a site name.
        granularity: what one pattern is (e.g. ``"unit:64"``), named on the probability axis.
    """
    where = "mean over sites" if site == "mean" else f"site {site}"
    title = f"Scan at step {step}: {where}"
    rows = scans[(scans["step"] == step) & (scans["site"] == site)] if len(scans) else scans
    rows = _finite(rows, "probability") if len(rows) else rows
    rows = rows[rows["rate"] > 0] if len(rows) else rows
    if len(rows) == 0:
        return _empty(title, f"no LR range scan of {where} at step {step}")
    rates = rows["rate"].to_numpy(np.float64)
    grid = np.logspace(np.log10(rates.min()) - 0.25, np.log10(rates.max()) + 0.25, 200)
    traces: list[go.BaseTraceType] = [
        go.Scatter(
            x=rows["rate"],
            y=rows["probability"],
            mode="markers",
            name="measured",
            marker={"color": TARGET_COLOR, "size": 8},
            customdata=rows["temperature"] if "temperature" in rows else None,
            hovertemplate="λ = %{x:.3g}: P = %{y:.3f} (%{customdata:.2f} bits)<extra>measured</extra>",
        )
    ]
    fits = normalize_fits(fits)
    notes = []
    for model in FIT_MODELS:
        params, reason = model_fit(fits, step, site, model)
        label = MODEL_LABELS[model]
        if params is None:
            notes.append(f"{label} — no fit: {reason}")
            continue
        rmse = f"{params['rmse']:.3f}" if math.isfinite(params["rmse"]) else "—"
        if model == "gaussian":
            curve = change_probability(grid, params["mu"], params["sigma"])
            mark, mark_p = math.exp(params["mu"]), 0.5
            mark_text = f"e^μ = {mark:.3g} (μ = {params['mu']:.2f}, σ = {params['sigma']:.2f})"
        else:
            curve = weibull_probability(grid, params["lambda0"], params["k"])
            mark, mark_p = params["lambda0"], 1.0 - math.exp(-1.0)
            mark_text = f"λ0 = {mark:.3g} (k = {params['k']:.2f})"
        style = {"color": MODEL_COLORS[model], "width": 2.5, "dash": MODEL_DASHES[model]}
        traces.append(
            go.Scatter(
                x=grid,
                y=curve,
                mode="lines",
                name=f"{label} (RMSE {rmse})",
                line=style,
                legendgroup=model,
                hovertemplate=f"λ = %{{x:.3g}}: P = %{{y:.3f}}<extra>{label}</extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=[mark],
                y=[mark_p],
                mode="markers",
                name=mark_text,
                legendgroup=model,
                showlegend=False,
                marker={
                    "color": MODEL_COLORS[model],
                    "size": 11,
                    "symbol": "diamond",
                    "line": {"color": "#FFFFFF", "width": 1},
                },
                hovertemplate=f"{mark_text}<extra>{label}</extra>",
            )
        )
    fig = go.Figure(traces)
    _layout(
        fig,
        title,
        "learning rate",
        "change probability P" + (f" ({granularity})" if granularity else ""),
    )
    _legend_below(fig)
    tickvals, ticktext = log_ticks(grid)
    fig.update_xaxes(type="log", tickvals=tickvals, ticktext=ticktext)
    fig.update_yaxes(range=[-0.03, 1.03])
    for i, note in enumerate(notes):
        fig.add_annotation(
            text=note,
            x=0.01,
            y=0.98 - 0.09 * i,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="top",
            showarrow=False,
            align="left",
            font={"size": 12, "color": "#B00020"},
            bgcolor="rgba(255,255,255,0.85)",
        )
    return fig
