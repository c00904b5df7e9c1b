"""Where the implied rate's response model comes from: a quick LR range scan at
initialisation (the run's model, data, batch and granularity) or a past run's scan, the
control law and the ceiling, and a finished run whose measured rate is drawn over the preview."""

from __future__ import annotations

import dataclasses
import logging
import math

import pandas as pd
import streamlit as st

from app import configs, data, preview, summary, ui
from app.design.common import NO_RUN
from trainer.config import RunConfig
from trainer.data.locate import missing_dataset
from trainer.models.names import MODEL_NAMES

log = logging.getLogger(__name__)


@st.cache_data(show_spinner=False, max_entries=32)
def scan_fit(
    model: str, dataset: str, batch_size: int, granularity: str, data_dir: str
) -> preview.PreviewFits | str:
    """Both response models of a quick LR range scan at initialisation, as a run's step-0
    scan would measure them (the run's model, data, batch and granularity), or why there are
    none. The one step before the scan trains at the default rate, so changing the ceiling
    redraws the preview without a new scan."""
    try:
        # download=False: a dataset missing from the data folder is reported at once, where
        # a download attempt could hang the page on a machine without internet.
        if problem := missing_dataset(dataset, data_dir):
            return problem
        config = RunConfig(
            model=model,
            dataset=dataset,
            batch_size=batch_size,
            granularity=granularity,
            data_dir=data_dir,
            download=False,
        )
        fits = preview.quick_fits(config)
    except Exception as exc:  # a missing dataset, no memory...: a message, not a traceback
        log.warning("quick scan of %s on %s failed", model, dataset, exc_info=True)
        return f"the quick scan failed: {type(exc).__name__}: {exc}"
    if fits.gaussian is None and fits.weibull is None:
        return "the quick scan showed too little signal to fit either response model"
    return fits


def run_fits(fits: pd.DataFrame, step: int, batch: int) -> preview.PreviewFits:
    """A past run's fits of the mean temperature at one scan, as the preview reads them."""
    fits = summary.normalize_fits(fits)
    gaussian, why_gaussian = summary.model_fit(fits, step, "mean", "gaussian")
    weibull, why_weibull = summary.model_fit(fits, step, "mean", "weibull")
    reasons = {m: why for m, why in (("gaussian", why_gaussian), ("weibull", why_weibull)) if why}
    return preview.PreviewFits(
        {"mu": gaussian["mu"], "sigma": gaussian["sigma"]} if gaussian else None,
        {"lambda0": weibull["lambda0"], "k": weibull["k"]} if weibull else None,
        batch,
        reasons,
    )


def fit_line(fits: preview.PreviewFits, law: str, in_use: bool = True) -> str:
    """Both models' parameters, the chosen law first, marked "in use" where ``in_use``."""
    parts = {}
    if fits.weibull:
        parts["weibull"] = (
            f"Weibull: λ0 = **{fits.weibull['lambda0']:.3g}** (T = 1.44 bits "
            f"there) · k = **{fits.weibull['k']:.2f}**"
        )
    else:
        parts["weibull"] = f"Weibull: no fit ({fits.reasons.get('weibull', 'not recorded')})"
    if fits.gaussian:
        mu = fits.gaussian["mu"]
        parts["gaussian"] = (
            f"Gaussian CDF: μ = **{mu:.2f}** (critical rate e^μ = "
            f"**{math.exp(mu):.3g}**, where T = 1 bit) · σ = "
            f"**{fits.gaussian['sigma']:.2f}**"
        )
    else:
        parts["gaussian"] = f"Gaussian CDF: no fit ({fits.reasons.get('gaussian', 'not recorded')})"
    other = "gaussian" if law == "weibull" else "weibull"
    mark = " ← in use" if in_use else ""
    return f"{parts[law]}{mark}  \n{parts[other]}  \nbatch B = **{fits.batch_size}**"


@dataclasses.dataclass
class PreviewInputs:
    """What the source section chose: the run the preview is for and its response model."""

    law: str
    lr_max: float
    fits: preview.PreviewFits | None  # the chosen scan's fits, None without one
    law_fit: dict | None  # the law's parameters in ``fits``, None without a fit
    source_label: str
    model: str
    dataset: str
    granularity: str
    batch: int
    data_dir: str
    fit_slot: object  # st.empty(): the fits' line, written once the warm-up is known
    check_run: str  # a finished run whose measured rate is drawn, or NO_RUN


def section(defaults: RunConfig) -> PreviewInputs:
    """The "Implied learning rate" column's inputs (in the source column of the page)."""
    st.subheader("Implied learning rate")
    law_col, ceiling_col = st.columns(2)
    law = law_col.radio(
        "Control law",
        list(preview.LAWS),
        format_func=preview.LAWS.get,
        key="design_law",
        help="Weibull: T = (λ/λ0)^k / ln 2, so λ(f) = λ0·(C(f)·ln 2)^(1/k). Gaussian CDF: "
        "λ(f) = exp(μ + σ·Φ⁻¹(1 − 2^(−C(f)))), probabilities clipped to [1/(2B), 1 − 1/(2B)].",
    )
    lr_max = ceiling_col.number_input(
        "Learning rate (the run's ceiling)",
        defaults.lr_min,
        100.0,
        defaults.lr,
        format="%.4g",
        key="design_lr",
        help="A run's highest rate is the optimizer's learning rate (Launch: highest rate 0); "
        "the preview is clamped there and at the lowest rate "
        f"{defaults.lr_min:g}, as a run clamps it.",
    )
    source = st.radio(
        "Response model from",
        ("quick LR range scan", "a past run"),
        horizontal=True,
        key="design_source",
    )
    fits: preview.PreviewFits | None = None
    source_label = ""
    model, dataset, granularity = defaults.model, defaults.dataset, defaults.granularity
    batch, data_dir = defaults.batch_size, defaults.data_dir
    if source == "quick LR range scan":
        model_col, dataset_col, batch_col = st.columns(3)
        model = model_col.selectbox("Model", MODEL_NAMES, key="design_model")
        with dataset_col:
            dataset = ui.dataset_input("design_dataset", defaults.dataset)
        batch = int(batch_col.number_input("Batch size", 1, 4096, 128, key="design_batch"))
        if dataset not in ("digits", "synthetic"):
            data_dir = st.text_input(
                "Data folder",
                defaults.data_dir,
                key="design_data_dir",
                help="Where fashion-mnist, cifar10 and relative image folders are read from; "
                "defaults to $ACTCOOL_DATA_DIR, else ./data. Nothing is downloaded here.",
            )
        kind_col, length_col = st.columns(2)
        granularity_kind = kind_col.selectbox(
            "Pattern granularity",
            list(configs.GRANULARITY_LABELS),
            format_func=configs.GRANULARITY_LABELS.get,
            key="design_granularity",
            help="The scan measures temperatures at this granularity, as a run would.",
        )
        pattern_length = length_col.number_input(
            "Units per pattern (L)",
            1,
            1_000_000,
            configs.DEFAULT_PATTERN_LENGTH,
            key="design_pattern_length",
            disabled=granularity_kind != "unit",
        )
        granularity = configs.granularity_spec(granularity_kind, int(pattern_length))
        with st.spinner(f"Quick LR range scan of {model} on {dataset} ({granularity})…"):
            data_dir = data_dir.strip()
            result = scan_fit(model, dataset, batch, granularity, data_dir)
        if isinstance(result, str):
            st.warning(f"No implied rate: {result}.")
        else:
            fits, source_label = result, f"quick scan, {model} on {dataset}, {granularity}"
    else:
        with data.guard():
            all_runs = data.runs()
        if len(all_runs) == 0:
            st.info("No runs yet: use the quick scan, or launch a run first.")
        else:
            fit_run = ui.run_picker(all_runs, "Run", key="design_fit_run")
            with data.guard():
                run_fit_rows = summary.normalize_fits(data.fits(fit_run))
                config = data.get_run(fit_run)["config"] or {}
            model = config.get("model", model)
            dataset = config.get("dataset", dataset)
            granularity = summary.granularity_of(config)
            batch = int(config.get("batch_size") or batch)
            data_dir = config.get("data_dir") or data_dir
            mean_fits = run_fit_rows[
                (run_fit_rows["site"] == "mean")
                & (run_fit_rows["mu"].notna() | run_fit_rows["lambda0"].notna())
            ]
            if len(mean_fits) == 0:
                st.info("This run has no fit of the mean temperature yet (one per LR range scan).")
            else:
                fit_steps = sorted(int(x) for x in pd.unique(mean_fits["step"]))
                ui.drop_stale("design_fit_step", fit_steps)
                fit_step = st.selectbox("Fit at step", fit_steps, key="design_fit_step")
                fits = run_fits(run_fit_rows, fit_step, batch)
                source_label = f"run {fit_run}, step {fit_step}, {granularity}"
    law_fit = fits.law(law) if fits is not None else None
    scan_fits = fits  # the chosen scan's, whose line is written once the warm-up is known
    fit_slot = st.empty()
    if fits is not None:
        if law_fit is None:
            st.warning(
                f"No implied rate under the {preview.LAWS[law]} law: "
                f"{fits.reasons.get(law, 'no fit')}. Choose the other law."
            )

    # a finished ActCoolLR run's measured rate, to draw over the preview
    with data.guard():
        checkable = data.runs()
    if len(checkable):
        checkable = checkable[
            (checkable["status"] == "finished") & (checkable["schedule"] == "actcool")
        ]
    check_run = NO_RUN
    if len(checkable):
        records = checkable.to_dict("records")

        def same(run: dict) -> bool:
            setup = run.get("config") or {}
            return (setup.get("model"), setup.get("dataset"), summary.granularity_of(setup)) == (
                model,
                dataset,
                granularity,
            )

        records.sort(key=lambda r: not same(r))  # same model, data and granularity first
        labels = {
            r["id"]: summary.run_label(r) + ("" if same(r) else " (other setup)") for r in records
        }
        options = [NO_RUN, *labels]
        ui.drop_stale("design_check_run", options)
        check_run = st.selectbox(
            "Draw a finished run's measured rate over the preview",
            options,
            format_func=lambda i: labels.get(i, "—"),
            key="design_check_run",
            help="Finished ActCoolLR runs, those of this model, dataset and granularity first.",
        )
    return PreviewInputs(
        law,
        lr_max,
        scan_fits,
        law_fit,
        source_label,
        model,
        dataset,
        granularity,
        batch,
        data_dir,
        fit_slot,
        check_run,
    )
