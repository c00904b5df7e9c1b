"""Chart builders: traces, axes and data of each figure, without a browser."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pandas as pd
import pytest

from actcool.curves import PAPER_T_START
from actcool.pattern_model import change_probability
from actcool.weibull_model import weibull_probability
from app import charts
from trainer.config import SCHEDULES


def steps_frame(n: int = 50) -> pd.DataFrame:
    step = np.arange(n)
    return pd.DataFrame(
        {
            "step": step,
            "epoch": step / 10,
            "lr": np.linspace(0.1, 0.001, n),
            "loss": np.linspace(2, 0.1, n),
            "mean_temperature": np.where(step % 5 == 0, np.linspace(3, 0.5, n), np.nan),
            "target_temperature": np.linspace(PAPER_T_START, 0, n),
            "wall_time": 1000.0 + step,
        }
    )


def scans_frame() -> pd.DataFrame:
    rates = np.logspace(-4, 2, 7)
    rows = []
    for step in (0, 20, 40):
        for site in ("mean", "relu1"):
            for k, rate in enumerate(rates):
                rows.append(
                    {
                        "step": step,
                        "epoch": step / 20,
                        "rate": rate,
                        "site": site,
                        "site_index": None if site == "mean" else 0,
                        "probability": k / 7,
                        "temperature": float(k) + step / 100,
                    }
                )
    return pd.DataFrame(rows)


def fits_frame(sites: tuple[str, ...] = ("relu1", "relu2", "relu3", "relu4")) -> pd.DataFrame:
    rows = []
    for step, mu in ((0, -3.0), (20, -4.0), (40, math.nan)):
        for site in (*sites, "mean"):
            rows.append(
                {
                    "step": step,
                    "site": site,
                    "mu": mu,
                    "sigma": 1.5,
                    "rmse": 0.01,
                    "n_informative": 9,
                }
            )
    return pd.DataFrame(rows)


def test_every_schedule_has_its_own_colour():
    colors = [charts.schedule_color(s) for s in SCHEDULES]
    assert len(set(colors)) == len(SCHEDULES)
    assert charts.schedule_color("nonsense") == charts.OTHER_COLOR
    assert charts.schedule_color(None) == charts.OTHER_COLOR


def test_no_colour_is_a_streamlit_placeholder():
    # Streamlit's front end rewrites #000001-#000040 in figure JSON (theme placeholders).
    import json

    fig = charts.site_heatmap(["a"], np.array([0, 1]), np.array([[0.0, 1.0]]))
    assert "#0000" not in json.dumps(fig.to_plotly_json()["data"], default=str)
    for color in charts.SCHEDULE_COLORS.values():
        assert not color.startswith("#0000")


def test_lr_figure_is_log_scaled_and_keeps_the_data():
    fig = charts.lr_figure(steps_frame(), "onecycle")
    assert fig.layout.yaxis.type == "log"
    (trace,) = fig.data
    assert list(trace.x) == list(range(50))
    assert trace.y[0] == pytest.approx(0.1)
    assert trace.line.color == charts.SCHEDULE_COLORS["onecycle"]


def test_lr_figure_drops_non_positive_rates():
    frame = steps_frame(5)
    frame.loc[0, "lr"] = 0.0
    frame.loc[1, "lr"] = np.nan
    (trace,) = charts.lr_figure(frame).data
    assert list(trace.x) == [2, 3, 4]


def test_temperature_figure_draws_measured_points_and_target():
    fig = charts.temperature_figure(steps_frame(), "actcool")
    measured, target = fig.data
    assert list(measured.x) == list(range(0, 50, 5))
    assert measured.y[0] == pytest.approx(3.0)
    assert target.name == "target" and target.line.dash == "dash"
    assert len(target.x) == 50
    assert fig.layout.yaxis.title.text == "temperature (bits)"


def test_temperature_figure_without_target_has_one_trace():
    frame = steps_frame()
    frame["target_temperature"] = np.nan
    assert len(charts.temperature_figure(frame).data) == 1


def test_empty_inputs_give_an_explaining_figure():
    empty = steps_frame().iloc[:0]
    fig = charts.lr_figure(empty)
    assert len(fig.data) == 0
    assert "no steps" in fig.layout.annotations[0].text
    assert charts.scan_heatmap(scans_frame().iloc[:0]).layout.annotations
    assert charts.fit_figure(fits_frame().iloc[:0]).layout.annotations
    assert charts.site_heatmap([], np.array([]), np.empty((0, 0))).layout.annotations


def test_site_heatmap_puts_the_first_site_at_the_bottom():
    matrix = np.array([[0.1, 0.2, np.nan], [1.0, 1.5, 2.0]])  # (S=2, T=3)
    fig = charts.site_heatmap(["conv1", "fc"], np.array([0, 10, 20]), matrix)
    (heat,) = fig.data
    assert list(heat.y) == ["conv1", "fc"]  # row 0 is drawn at the bottom of a y axis
    assert fig.layout.yaxis.autorange in (None, True)  # not reversed
    np.testing.assert_array_equal(np.asarray(heat.z, dtype=float), matrix)
    assert list(heat.x) == [0, 10, 20]
    assert (heat.zmin, heat.zmax) == (0, 2.0)  # 0 bits is black, whatever the data


def test_error_figure_shows_percent_and_the_final_test_error():
    evals = pd.DataFrame(
        {
            "step": [9, 19, 19],
            "epoch": [1.0, 2.0, 2.0],
            "train_loss": [1.0, 0.5, np.nan],
            "train_error": [30.0, 10.0, np.nan],
            "val_loss": [1.1, 0.6, np.nan],
            "val_error": [32.0, 12.0, np.nan],
            "test_error": [np.nan, np.nan, 11.5],
            "wall_time": [1.0, 2.0, 2.0],
        }
    )
    fig = charts.error_figure(evals, "cosine")
    names = [t.name for t in fig.data]
    assert names == ["validation", "training", "test"]
    assert list(fig.data[0].y) == [32.0, 12.0]
    assert list(fig.data[2].y) == [11.5] and fig.data[2].marker.symbol == "star"
    assert fig.layout.yaxis.title.text == "error (%)"


def test_scan_heatmap_uses_mean_rows_on_a_log_rate_axis():
    fits = fits_frame()
    fig = charts.scan_heatmap(scans_frame(), steps_frame(), fits, total_steps=60)
    heat, used, critical = fig.data
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == (7, 3)  # rates x scans: only the 'mean' site
    assert z[3, 1] == pytest.approx(3.2)  # 4th rate, scan at step 20
    assert list(heat.x) == [0, 20, 40, 49]  # each scan spans to the next, the last to now
    np.testing.assert_allclose(heat.y, np.log10(np.logspace(-4, 2, 7)))
    assert fig.layout.yaxis.ticktext[0] == "10<sup>−4</sup>"
    np.testing.assert_allclose(used.y, np.log10(steps_frame()["lr"]))
    # e^μ drawn at μ / ln 10 in log10 units, NaN fits dropped
    assert list(critical.x) == [0, 20]
    np.testing.assert_allclose(critical.y, np.array([-3.0, -4.0]) / math.log(10))
    np.testing.assert_allclose(critical.customdata, np.exp([-3.0, -4.0]))


def test_scan_heatmap_with_a_single_scan_spans_the_run():
    scans = scans_frame()
    scans = scans[scans["step"] == 0]
    fig = charts.scan_heatmap(scans, total_steps=100)
    assert list(fig.data[0].x) == [0, 100]  # without steps, to the planned end


def test_fit_figure_has_mean_and_depth_bands_in_three_rows():
    fig = charts.fit_figure(fits_frame(), "actcool")
    names = {t.name for t in fig.data}
    assert {"early sites", "middle sites", "late sites", "mean temperature fit"} <= names
    mean_mu = next(t for t in fig.data if t.name == "mean temperature fit" and t.yaxis == "y")
    assert list(mean_mu.y) == [-3.0, -4.0]
    assert mean_mu.line.color == charts.SCHEDULE_COLORS["actcool"]
    assert {t.yaxis for t in fig.data} == {"y", "y2", "y3"}  # μ, σ, RMSE
    # sites of a band are one trace, separated by gaps, named in the hover text
    early = next(t for t in fig.data if t.name == "early sites" and t.yaxis == "y")
    assert np.isnan(np.asarray(early.x, dtype=float)).sum() == 1  # relu1 | gap | relu2
    assert list(early.text) == ["relu1", "relu1", "", "relu2", "relu2"]


def test_fit_figure_few_sites_get_their_own_lines():
    fig = charts.fit_figure(fits_frame(("relu1", "relu2")))
    assert {"site relu1", "site relu2"} <= {t.name for t in fig.data}


def test_overlay_figure_colours_by_schedule_and_dashes_repeats():
    aligned = pd.DataFrame(
        {
            "run_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "x": [0.0, 0.5, 1.0] * 3,
            "value": [0.1, 0.05, 0.01, 0.2, 0.1, 0.0, 0.3, 0.2, 0.1],
        }
    )
    labels = {"a": "run a", "b": "run b", "c": "run c"}
    schedules = {"a": "actcool", "b": "onecycle", "c": "actcool"}
    fig = charts.overlay_figure(aligned, "lr", "fraction", labels, schedules)
    a, b, c = fig.data
    assert (a.name, b.name, c.name) == ("run a", "run b", "run c")
    assert a.line.color == charts.SCHEDULE_COLORS["actcool"]  # the first: its own colour
    assert c.line.color != a.line.color and hue(c.line.color) == pytest.approx(
        hue(a.line.color), abs=0.01
    )
    assert b.line.color == charts.SCHEDULE_COLORS["onecycle"]
    assert a.line.dash != c.line.dash
    assert fig.layout.yaxis.type == "log"
    assert list(b.y) == [0.2, 0.1]  # a zero rate cannot sit on a log axis
    assert fig.layout.xaxis.tickformat == ".0%"


def hue(color: str) -> float:
    rgb = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hls(*rgb)[0]


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #RRGGBB colours."""

    def luminance(color: str) -> float:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_runs_of_one_schedule_get_distinct_shades_of_its_colour():
    for schedule in ("actcool", "onecycle", "cosine"):
        shades = charts.schedule_shades(schedule, 6)
        assert shades[0] == charts.SCHEDULE_COLORS[schedule]
        assert len(set(shades)) == 6
        assert [hue(c) for c in shades] == pytest.approx([hue(shades[0])] * 6, abs=0.01)
        for a in shades:  # told apart on screen, and from the white background
            assert contrast(a, "#FFFFFF") > 1.5
    assert charts.schedule_shades("actcool", 1) == [charts.SCHEDULE_COLORS["actcool"]]


def test_overlay_legends_of_many_runs_sit_below_the_chart():
    aligned = pd.DataFrame(
        {"run_id": [f"r{i}" for i in range(6) for _ in range(3)], "x": [0, 1, 2] * 6, "value": 1.0}
    )
    labels = {f"r{i}": f"demo-actcool-s{i} · 0000000{i}" for i in range(6)}
    fig = charts.overlay_figure(
        aligned, "val_error", "step", labels, {r: "actcool" for r in labels}
    )
    legend = fig.layout.legend
    assert (legend.yref, legend.yanchor, legend.y, legend.orientation) == (
        "container",
        "bottom",
        0,
        "v",
    )
    # one line per run in the bottom margin, which grows with them; the title keeps the top
    assert fig.layout.margin.b >= 55 + charts.LEGEND_ROW * 6
    assert fig.layout.height == charts.HEIGHT + charts.LEGEND_ROW * 6


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (
            1e-4,
            0.3,
            ["10<sup>−4</sup>", "10<sup>−3</sup>", "10<sup>−2</sup>", "10<sup>−1</sup>", "1"],
        ),
        (
            0.012,
            0.09,
            ["10<sup>−2</sup>", "2×10<sup>−2</sup>", "5×10<sup>−2</sup>", "10<sup>−1</sup>"],
        ),
        (
            0.03,
            0.05,
            [
                "2×10<sup>−2</sup>",
                "3×10<sup>−2</sup>",
                "4×10<sup>−2</sup>",
                "5×10<sup>−2</sup>",
                "6×10<sup>−2</sup>",
                "7×10<sup>−2</sup>",
            ],
        ),
    ],
)
def test_log_axes_name_every_tick_with_its_decade(low, high, expected):
    steps = pd.DataFrame({"step": [0, 1], "lr": [low, high]})
    fig = charts.lr_figure(steps)
    assert list(fig.layout.yaxis.ticktext) == expected
    np.testing.assert_allclose(
        fig.layout.yaxis.tickvals,
        [
            float(
                t.replace("×10<sup>", "e")
                .replace("10<sup>", "1e")
                .replace("</sup>", "")
                .replace("−", "-")
            )
            for t in expected
        ],
    )


def test_scan_legend_marks_are_visible_on_its_ground():
    fig = charts.scan_heatmap(scans_frame(), steps_frame(), fits_frame())
    ground = fig.layout.legend.bgcolor
    for trace in fig.data[1:]:  # the rate used, e^μ and λ0 (the heatmap has no legend mark)
        assert contrast(trace.line.color, ground) > 3, trace.name
    assert contrast(fig.layout.legend.font.color, ground) > 4.5


def test_overlay_figure_of_errors_is_linear_in_percent():
    aligned = pd.DataFrame({"run_id": ["a", "a"], "x": [10, 20], "value": [20.0, 10.0]})
    fig = charts.overlay_figure(aligned, "val_error", "step", {}, {})
    assert fig.layout.yaxis.type in (None, "linear", "-")
    assert fig.layout.yaxis.title.text == "validation error (%)"
    assert fig.layout.xaxis.title.text == "step"


def test_design_figure_draws_with_the_lasso_on_fixed_axes():
    points = pd.DataFrame({"fraction": [0.0, 1.0], "temperature": [3.0, 0.0]})
    curve = pd.DataFrame({"fraction": [0.0, 0.5, 1.0], "temperature": [3.0, 1.5, 0.0]})
    fig = charts.design_figure(points, curve, y_max=4.0)
    assert fig.layout.dragmode == "lasso"
    assert tuple(fig.layout.yaxis.range) == (0, 4.0)
    assert fig.layout.xaxis.fixedrange and fig.layout.yaxis.fixedrange
    line, markers = fig.data
    assert list(line.y) == [3.0, 1.5, 0.0] and markers.mode == "markers"
    assert len(charts.design_figure(points, None, 4.0).data) == 1


def test_implied_lr_figure_marks_the_critical_rate():
    implied = pd.DataFrame({"fraction": [0.0, 0.5, 1.0], "lr": [0.1, 0.01, 0.001]})
    fig = charts.implied_lr_figure(implied, mu=math.log(0.02), source="a test")
    assert fig.layout.title.subtitle.text == "μ and σ from a test"
    rate, critical = fig.data
    assert list(rate.y) == [0.1, 0.01, 0.001]
    assert critical.y[0] == pytest.approx(0.02)
    assert fig.layout.yaxis.type == "log"


def test_run_figures_builds_every_runs_page_chart():
    names = ["relu1", "relu2"]
    figures = charts.run_figures(
        steps_frame(),
        (names, np.array([0, 5]), np.ones((2, 2))),
        pd.DataFrame(columns=["step", "val_error", "train_error", "test_error"]),
        scans_frame(),
        fits_frame(),
        schedule="actcool",
        total_steps=50,
    )
    assert set(figures) == {"lr", "temperature", "sites", "error", "scans", "fits"}


def test_result_bars_in_schedule_colours_best_on_top():
    table = pd.DataFrame(
        {
            "run": ["a", "b", "c"],
            "id": ["1", "2", "3"],
            "schedule": ["actcool", "onecycle", "cosine"],
            "final test error (%)": [5.0, 3.0, np.nan],
        }
    )
    (bars,) = charts.result_bars(table).data
    assert list(bars.x) == [5.0, 3.0]  # the last bar is drawn at the top: the best run
    assert list(bars.y) == ["a · 1", "b · 2"]
    assert list(bars.marker.color) == [
        charts.SCHEDULE_COLORS["actcool"],
        charts.SCHEDULE_COLORS["onecycle"],
    ]
    assert charts.result_bars(table.iloc[2:]).layout.annotations


# ---------------------------------------------------------------------- granularity, two models
def two_model_fits(weibull_reason: str | None = None) -> pd.DataFrame:
    """Gaussian and Weibull rows of fits_frame's scans (the Weibull fit at step 40 failed
    with ``weibull_reason`` when given)."""
    rows = []
    for step, mu in ((0, -3.0), (20, -4.0), (40, -5.0)):
        for site in ("relu1", "mean"):
            rows.append(
                {
                    "step": step,
                    "site": site,
                    "model": "gaussian",
                    "mu": mu,
                    "sigma": 1.5,
                    "lambda0": np.nan,
                    "k": np.nan,
                    "rmse": 0.041,
                    "n_informative": 7,
                    "reason": None,
                }
            )
            failed = weibull_reason is not None and step == 40
            rows.append(
                {
                    "step": step,
                    "site": site,
                    "model": "weibull",
                    "mu": np.nan,
                    "sigma": np.nan,
                    "lambda0": np.nan if failed else math.exp(mu + 0.5),
                    "k": np.nan if failed else 0.9,
                    "rmse": np.nan if failed else 0.012,
                    "n_informative": 2 if failed else 7,
                    "reason": weibull_reason if failed else None,
                }
            )
    return pd.DataFrame(rows)


def test_temperature_axes_and_colour_bars_name_the_granularity():
    fig = charts.temperature_figure(steps_frame(), "actcool", granularity="unit:64")
    assert fig.layout.yaxis.title.text == "temperature (bits, unit:64)"
    fig = charts.site_heatmap(["a"], np.array([0, 1]), np.array([[0.0, 1.0]]), "position")
    assert fig.data[0].colorbar.title.text == "bits<br>position"
    assert "(position)" in fig.data[0].hovertemplate
    fig = charts.scan_heatmap(scans_frame(), granularity="sample")
    assert fig.data[0].colorbar.title.text == "bits<br>sample"
    names = ["relu1"]
    figures = charts.run_figures(
        steps_frame(),
        (names, np.array([0, 5]), np.ones((1, 2))),
        pd.DataFrame(columns=["step", "val_error", "train_error", "test_error"]),
        scans_frame(),
        fits_frame(),
        schedule="actcool",
        total_steps=50,
        granularity="unit:32",
    )
    assert figures["temperature"].layout.yaxis.title.text == "temperature (bits, unit:32)"
    assert figures["sites"].data[0].colorbar.title.text == "bits<br>unit:32"
    assert figures["scans"].data[0].colorbar.title.text == "bits<br>unit:32"
    # without a granularity: bits alone, as before
    assert charts.temperature_figure(steps_frame()).layout.yaxis.title.text == "temperature (bits)"


def test_overlay_of_temperatures_names_the_granularity():
    aligned = pd.DataFrame({"run_id": ["a", "a"], "x": [10, 20], "value": [2.0, 1.0]})
    fig = charts.overlay_figure(aligned, "mean_temperature", "step", {}, {}, granularity="unit:64")
    assert fig.layout.title.text == "Mean temperature (bits, unit:64)"
    assert fig.layout.yaxis.title.text == "mean temperature (bits, unit:64)"
    lr = charts.overlay_figure(aligned, "lr", "step", {}, {}, granularity="unit:64")
    assert lr.layout.yaxis.title.text == "learning rate"  # only temperatures are labelled


def test_scan_heatmap_marks_e_mu_and_the_weibull_scale():
    fig = charts.scan_heatmap(scans_frame(), steps_frame(), two_model_fits("no data"))
    heat, used, critical, scale = fig.data
    assert critical.name == "critical rate e<sup>μ</sup>"
    np.testing.assert_allclose(critical.y, np.array([-3.0, -4.0, -5.0]) / math.log(10))
    assert scale.name == "Weibull scale λ<sub>0</sub>"
    assert list(scale.x) == [0, 20]  # the failed Weibull fit at step 40 is not drawn
    np.testing.assert_allclose(scale.y, np.array([-2.5, -3.5]) / math.log(10))


def test_scan_fit_figure_draws_both_models_with_their_rmse():
    scans = scans_frame()
    fig = charts.scan_fit_figure(scans, two_model_fits(), 20, "relu1", "unit:64")
    assert fig.layout.title.text == "Scan at step 20: site relu1"
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["measured", "Gaussian CDF (RMSE 0.041)", "Weibull (RMSE 0.012)"]
    measured, gaussian, gaussian_mark, weibull, weibull_mark = fig.data
    expected = scans[(scans["step"] == 20) & (scans["site"] == "relu1")]
    assert list(measured.y) == expected["probability"].tolist()
    # the curves are the models' maths over the scanned range
    np.testing.assert_allclose(gaussian.y, change_probability(np.asarray(gaussian.x), -4.0, 1.5))
    np.testing.assert_allclose(
        weibull.y, weibull_probability(np.asarray(weibull.x), math.exp(-3.5), 0.9)
    )
    assert gaussian_mark.x[0] == pytest.approx(math.exp(-4.0)) and gaussian_mark.y[0] == 0.5
    assert weibull_mark.x[0] == pytest.approx(math.exp(-3.5))
    assert weibull_mark.y[0] == pytest.approx(1 - math.exp(-1))
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.title.text == "change probability P (unit:64)"
    assert not fig.layout.annotations


def test_scan_fit_figure_gives_the_reason_for_a_missing_fit():
    fig = charts.scan_fit_figure(scans_frame(), two_model_fits("too few informative points"), 40)
    assert fig.layout.title.text == "Scan at step 40: mean over sites"
    assert [t.name for t in fig.data if t.showlegend is not False] == [
        "measured",
        "Gaussian CDF (RMSE 0.041)",
    ]
    (note,) = fig.layout.annotations
    assert note.text == "Weibull — no fit: too few informative points"


def test_scan_fit_figure_of_an_old_store_has_the_gaussian_only():
    fig = charts.scan_fit_figure(scans_frame(), fits_frame(("relu1",)), 0)
    assert [t.name for t in fig.data if t.showlegend is not False] == [
        "measured",
        "Gaussian CDF (RMSE 0.010)",
    ]
    assert fig.layout.annotations[0].text == "Weibull — no fit: not recorded for this scan"
    # a failed Gaussian fit without a recorded reason (NaN μ in an old store) says so
    fig = charts.scan_fit_figure(scans_frame(), fits_frame(("relu1",)), 40)
    assert [a.text for a in fig.layout.annotations] == [
        "Gaussian CDF — no fit: reason not recorded",
        "Weibull — no fit: not recorded for this scan",
    ]


def test_scan_fit_figure_without_that_scan_explains():
    fig = charts.scan_fit_figure(scans_frame(), two_model_fits(), 30)
    assert not fig.data
    assert "no LR range scan of mean over sites at step 30" in fig.layout.annotations[0].text


def test_implied_lr_figure_under_the_weibull_law_with_a_ceiling():
    implied = pd.DataFrame({"fraction": [0.0, 0.5, 1.0], "lr": [0.05, 0.01, 1e-6]})
    fig = charts.implied_lr_figure(
        implied, mu=-5.0, source="a scan", law="weibull", lambda0=0.02, lr_max=0.05
    )
    assert fig.layout.title.subtitle.text == "λ0 and k from a scan"
    assert [t.name for t in fig.data] == [
        "implied rate λ(f)",
        "Weibull scale λ<sub>0</sub> (1.44 bits)",
        "ceiling (learning rate)",
    ]
    assert fig.data[1].y[0] == 0.02 and fig.data[2].y[0] == 0.05
    assert not fig.layout.annotations


def test_implied_lr_figure_overlays_a_measured_rate_with_the_ratio():
    implied = pd.DataFrame({"fraction": [0.0, 0.5, 1.0], "lr": [0.1, 0.01, 0.001]})
    measured = pd.DataFrame({"fraction": [0.0, 0.25, 0.5, 0.75], "lr": [0.2, 0.05, 0.02, 0.006]})
    fig = charts.implied_lr_figure(
        implied,
        None,
        "a scan",
        law="weibull",
        lambda0=0.02,
        measured=measured,
        measured_name="measured · run-a",
        ratio=1.83,
    )
    preview_trace, _, run_trace = fig.data
    assert preview_trace.name == "implied rate λ(f)" and list(preview_trace.y) == [0.1, 0.01, 0.001]
    assert run_trace.name == "measured · run-a" and list(run_trace.y) == [0.2, 0.05, 0.02, 0.006]
    assert list(run_trace.x) == [0.0, 0.25, 0.5, 0.75]  # the same axes: fraction of training
    (note,) = fig.layout.annotations
    assert note.text == "measured / preview: median ×1.8 over 10%–90% of training"
    assert fig.layout.yaxis.type == "log"
    fig = charts.implied_lr_figure(implied, None, "a scan", measured=measured, ratio=None)
    assert "no measurement in 10%–90%" in fig.layout.annotations[0].text


def guard_frame() -> pd.DataFrame:
    """Two cuts of the rate by ActCoolLR's divergence guard (Store.guard_events)."""
    return pd.DataFrame(
        {
            "step": [12, 30],
            "reason": ["loss_rise", "temperature_collapse"],
            "detail": ["smoothed loss 2.1 is 1.62x its lowest (1.3)", "T/λ < 0.1x its median"],
            "lr_before": [0.08, 0.04],
            "lr_after": [0.04, 0.02],
        }
    )


def test_lr_figure_marks_each_guard_cut_and_the_lowered_ceiling():
    fig = charts.lr_figure(steps_frame(), "actcool", guard_frame())
    rate, ceiling, cuts = fig.data
    assert rate.name == "learning rate" and len(rate.x) == 50
    # a marker at (step, the rate it cut), hover: why, what the guard saw, the new rate
    assert list(cuts.x) == [12, 30] and list(cuts.y) == [0.08, 0.04]
    assert cuts.mode == "markers" and cuts.marker.color == charts.GUARD_COLOR
    assert cuts.hovertemplate == "%{text}<extra></extra>"
    assert list(cuts.text) == [
        "step 12: divergence guard, the loss rose<br>"
        "smoothed loss 2.1 is 1.62x its lowest (1.3)<br>"
        "rate cut to 0.04 (from 0.08), the ceiling from here on",
        "step 30: divergence guard, the temperature collapsed<br>"
        "T/λ &lt; 0.1x its median<br>"  # escaped: Plotly's hover text is HTML
        "rate cut to 0.02 (from 0.04), the ceiling from here on",
    ]
    # the ceiling: a dashed step line from each cut to the last recorded step
    assert list(ceiling.x) == [12, 30, 49] and list(ceiling.y) == [0.04, 0.02, 0.02]
    assert ceiling.line.shape == "hv" and ceiling.line.dash == "dash"
    assert ceiling.line.color == charts.GUARD_COLOR
    assert fig.layout.showlegend is True and fig.layout.yaxis.type == "log"


def test_lr_figure_without_guard_cuts_is_the_rate_alone():
    no_cuts = guard_frame().iloc[:0]
    for events in (None, no_cuts):
        fig = charts.lr_figure(steps_frame(), "actcool", events)
        assert len(fig.data) == 1 and fig.layout.showlegend is False
    bad = guard_frame().assign(lr_after=[0.0, 0.02])  # cannot sit on a log axis: left out
    (_, ceiling, cuts) = charts.lr_figure(steps_frame(), "actcool", bad).data
    assert list(cuts.x) == [30] and list(ceiling.x) == [30, 49]


def test_run_figures_pass_the_guard_cuts_to_the_rate_chart():
    figures = charts.run_figures(
        steps_frame(),
        (["relu1"], np.array([0, 5]), np.ones((1, 2))),
        pd.DataFrame(columns=["step", "val_error", "train_error", "test_error"]),
        scans_frame(),
        fits_frame(),
        schedule="actcool",
        guard_events=guard_frame(),
    )
    assert [trace.name for trace in figures["lr"].data] == [
        "learning rate",
        "ceiling after a cut",
        "cut by the divergence guard",
    ]


def test_overlay_of_rates_marks_the_guard_cuts_of_each_run():
    aligned = pd.DataFrame(
        {
            "run_id": ["a"] * 3 + ["b"] * 3,
            "x": [0.0, 0.5, 1.0] * 2,
            "value": [0.1, 0.05, 0.01, 0.2, 0.1, 0.05],
        }
    )
    cuts = guard_frame().assign(run_id=["a", "gone"], x=[0.25, 0.75])  # "gone": not drawn
    labels, schedules = {"a": "run a", "b": "run b"}, {"a": "actcool", "b": "onecycle"}
    fig = charts.overlay_figure(aligned, "lr", "fraction", labels, schedules, guard_events=cuts)
    *runs, marks = fig.data
    assert [trace.name for trace in runs] == ["run a", "run b"]
    assert marks.name == "cut by the divergence guard" and marks.mode == "markers"
    assert list(marks.x) == [0.25] and list(marks.y) == [0.08]
    assert marks.text[0].startswith("run a<br>step 12: divergence guard, the loss rose<br>")
    assert marks.text[0].endswith("rate cut to 0.04 (from 0.08), the ceiling from here on")
    errors = charts.overlay_figure(
        aligned.assign(value=[9.0] * 6), "val_error", "fraction", labels, schedules, None, cuts
    )
    assert len(errors.data) == 2  # cuts are marked on learning rates only
