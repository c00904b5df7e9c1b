"""Pure summaries of runs for the pages: labels, progress and ETA, the comparison table.

Functions of catalog rows (:meth:`storage.Store.list_runs` / ``get_run``) and metric
frames; no Streamlit, no store access.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from actcool.calibration import Calibration, cooldown_after
from actcool.granularity import Granularity
from storage.status import LIVE, RESUMABLE

__all__ = [
    "FIT_MODELS",
    "actcool_details",
    "LIVE",
    "MODEL_LABELS",
    "RESUMABLE",
    "STATUS_ICONS",
    "Progress",
    "compare_table",
    "fit_table",
    "format_duration",
    "granularity_groups",
    "grid_edge_fits",
    "hardware_details",
    "granularity_of",
    "known_granularity",
    "recorded_by_trainer",
    "recorded_t_start",
    "model_fit",
    "normalize_fits",
    "picker_label",
    "progress",
    "run_label",
    "seed_spread",
    "stop_acknowledged",
    "tracked_source",
]

# Material icons (rendered by Streamlit in markdown, headers and alerts; no emoji font needed).
STATUS_ICONS: dict[str, str] = {
    "queued": ":material/schedule:",
    "running": ":material/play_circle:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "failed": ":material/error:",
    "diverged": ":material/warning:",
    "lost": ":material/help:",
}
#: What a run recorded before measurement granularities existed measured: one pattern per sample.
LEGACY_GRANULARITY = "sample"
#: The response models fitted to every LR range scan, and their names in legends and tables.
FIT_MODELS = ("gaussian", "weibull")
MODEL_LABELS = {"gaussian": "Gaussian CDF", "weibull": "Weibull"}
_MODEL_PARAMETERS = {"gaussian": ("mu", "sigma"), "weibull": ("lambda0", "k")}
ETA_WINDOW = 200  # most recent step rows used for the speed behind the ETA
#: Keys every config the trainer records has had (RunConfig fields since the first store): a
#: run whose config lacks one was recorded from outside the trainer (storage's RunWriter, the
#: tracking API), and the trainer's defaults say nothing about it.
TRAINER_KEYS = frozenset({"model", "dataset", "epochs", "batch_size", "schedule", "measure_every"})


def run_label(run: Mapping[str, Any]) -> str:
    """``"convnet4-digits-actcool · 1a2b3c4d · finished"``: name, id and status, as plain
    text (select boxes show no icons)."""
    return f"{run.get('name') or '(unnamed)'} · {run.get('id')} · {run.get('status')}"


def picker_label(run: Mapping[str, Any]) -> str:
    """:func:`run_label` plus, for a run that has ended, the steps it trained
    (``"… · finished · 120/120 steps"``); a live run's step changes every second, so the
    Runs page shows it beside the picker instead."""
    label = run_label(run)
    summary = run.get("summary") or {}
    steps, total = summary.get("steps"), summary.get("total_steps")
    if run.get("status") in ("finished", "stopped", "diverged") and steps is not None:
        label += f" · {steps}" + (f"/{total}" if total else "") + " steps"
    return label


def format_duration(seconds: float | None) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"12 s"``; an em dash for unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class Progress:
    """How far a run is: steps done of the total, speed, time left."""

    done: int  # steps recorded
    total: int | None  # planned steps (summary total_steps), None before the run starts
    steps_per_second: float | None
    eta_seconds: float | None  # None unless running with a measurable speed

    @property
    def fraction(self) -> float:
        if not self.total:
            return 0.0
        return min(1.0, self.done / self.total)


def progress(run: Mapping[str, Any], steps: pd.DataFrame) -> Progress:
    """Progress of a run from its summary (``total_steps``, ``steps``) and its steps table
    (``step``, ``wall_time``; downsampled is fine, first and last rows are kept).

    The speed is measured over the latest :data:`ETA_WINDOW` rows, so a resumed run's
    pause does not count; the ETA is only given while the run is running.
    """
    summary = run.get("summary") or {}
    total = summary.get("total_steps")
    total = int(total) if isinstance(total, (int, float)) and total > 0 else None
    done = int(steps["step"].max()) + 1 if len(steps) else 0
    if isinstance(summary.get("steps"), (int, float)) and run.get("status") not in LIVE:
        done = max(done, int(summary["steps"]))
    speed = None
    tail = steps.tail(ETA_WINDOW)
    if len(tail) >= 2:
        span = float(tail["wall_time"].iloc[-1] - tail["wall_time"].iloc[0])
        advanced = float(tail["step"].iloc[-1] - tail["step"].iloc[0])
        if span > 0 and advanced > 0:
            speed = advanced / span
    eta = None
    if run.get("status") == "running" and speed and total:
        eta = max(0.0, (total - done) / speed)
    return Progress(done, total, speed, eta)


def compare_table(
    runs: pd.DataFrame,
    evaluations: Mapping[str, pd.DataFrame],
    steps: Mapping[str, pd.DataFrame],
) -> pd.DataFrame:
    """One row per run: its temperature granularity, what recorded it (``trainer``, or the
    script or Lightning of a tracked run), final and best test error (%), best validation
    error (%), wall time (s) and steps.

    Args:
        runs: catalog rows (id, name, status, schedule, summary, config).
        evaluations: :meth:`Store.evaluations` per run id.
        steps: :meth:`Store.steps` per run id (downsampled is fine).

    The final test error is the summary's, else the last measured one; the best is the
    lowest measured. Wall time is the summary's, else the span of the logged wall times.
    """
    rows = []
    for run in runs.to_dict("records"):
        summary = run.get("summary") or {}
        evals = evaluations.get(run["id"], pd.DataFrame())
        run_steps = steps.get(run["id"], pd.DataFrame())
        test = _column(evals, "test_error")
        val = _column(evals, "val_error")
        final = summary.get("test_error")
        if not isinstance(final, (int, float)):
            final = float(test[-1]) if len(test) else np.nan
        wall = summary.get("wall_time")
        if not isinstance(wall, (int, float)):
            times = _column(run_steps, "wall_time")
            wall = float(times[-1] - times[0]) if len(times) >= 2 else np.nan
        done = summary.get("steps")
        if not isinstance(done, (int, float)):
            step_column = _column(run_steps, "step")
            done = int(step_column[-1]) + 1 if len(step_column) else 0
        rows.append(
            {
                "run": run.get("name"),
                "id": run["id"],
                "schedule": run.get("schedule"),
                "granularity": granularity_of(run.get("config")),
                "status": run.get("status"),
                "recorded by": tracked_source(run) or "trainer",
                "final test error (%)": float(final),
                "best test error (%)": float(np.min(test)) if len(test) else float(final),
                "best val error (%)": float(np.min(val)) if len(val) else np.nan,
                "wall time (s)": float(wall),
                "steps": int(done),
            }
        )
    return pd.DataFrame(rows)


def seed_spread(
    table: pd.DataFrame, seeds: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> str | None:
    """Each schedule's final test error over its runs (mean, lowest–highest, the seeds), and
    whether the schedules' means differ by more than the runs of one schedule differ from
    seed to seed; None unless some schedule has two runs with a test error.

    Args:
        table: :func:`compare_table` rows (id, schedule, final test error (%)).
        seeds: run id -> its seed (from its config).
        labels: schedule -> display name.
    """
    column = "final test error (%)"
    done = (
        table[np.isfinite(pd.to_numeric(table[column], errors="coerce"))] if len(table) else table
    )
    if len(done) == 0:
        return None
    groups = list(done.groupby("schedule", sort=False))
    if max(len(rows) for _, rows in groups) < 2:
        return None
    parts, means, spreads = [], [], []
    for schedule, rows in groups:
        errors = rows[column].to_numpy(np.float64)
        run_seeds = sorted({seeds.get(i) for i in rows["id"]} - {None})
        means.append(float(errors.mean()))
        spreads.append(float(errors.max() - errors.min()))
        name = (labels or {}).get(schedule, schedule)
        parts.append(
            f"**{name}** {errors.mean():.2f}% ({errors.min():.2f}–{errors.max():.2f}%, "
            f"{len(errors)} run{'s' if len(errors) > 1 else ''}"
            + (
                f", seed{'s' if len(run_seeds) > 1 else ''} {', '.join(map(str, run_seeds))}"
                if run_seeds
                else ""
            )
            + ")"
        )
    text = "Final test error by schedule, mean (lowest–highest): " + "; ".join(parts) + "."
    if len(groups) > 1:
        gap, spread = max(means) - min(means), max(spreads)
        verdict = (
            "less than or as much as the runs of one schedule differ from seed to seed "
            f"(up to {spread:.2f} points): these runs do not tell the schedules apart"
            if gap <= spread
            else f"more than the runs of one schedule differ from seed to seed (up to "
            f"{spread:.2f} points)"
        )
        text += f" The means differ by {gap:.2f} points, {verdict}."
    return text


def _column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.empty(0)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
    return values[np.isfinite(values)]


# ---------------------------------------------------------------------- granularity
def recorded_by_trainer(run: Mapping[str, Any]) -> bool:
    """Whether the trainer recorded ``run`` (a catalog row): its config has the keys of a
    RunConfig (:data:`TRAINER_KEYS`). Runs recorded from outside the trainer (storage's
    RunWriter, the tracking API) have only what their author wrote."""
    config = run.get("config")
    return isinstance(config, Mapping) and TRAINER_KEYS <= set(config) and not config.get("tracked")


def tracked_source(run: Mapping[str, Any]) -> str | None:
    """Where a run recorded by ``actcool.track`` (or its Lightning callback) came from, as its
    headline says it: ``"Lightning (train.py)"``, ``"script /home/me/train.py"``; None for
    every other run. The dashboard does not own such a run's process: it can ask it to stop,
    not resume it."""
    config = run.get("config")
    if not isinstance(config, Mapping) or not config.get("tracked"):
        return None
    script = config.get("script")
    if config.get("source") == "lightning":
        return "Lightning" + (f" ({Path(str(script)).name})" if script else "")
    return f"script {script}" if script else f"{config.get('source') or 'a Python process'}"


def stop_acknowledged(run: Mapping[str, Any]) -> int | None:
    """The step at which a tracked run's script saw the dashboard's Stop, or None."""
    step = (run.get("summary") or {}).get("stop_acknowledged_step")
    return int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else None


def known_granularity(run: Mapping[str, Any]) -> str | None:
    """The granularity a run's temperatures were measured at, where it is known: from its
    config or summary, else (an old trainer run) ``sample``; None for a run recorded from
    outside the trainer that did not say."""
    config = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    written = config.get("granularity") or (run.get("summary") or {}).get("granularity")
    if written or recorded_by_trainer(run):
        return granularity_of({"granularity": written} if written else config)
    return None


def granularity_of(config: Mapping[str, Any] | None) -> str:
    """The granularity a run measured its temperatures at: ``"unit:64"``, ``"position"`` or
    ``"sample"`` (see :mod:`actcool.granularity`).

    Runs recorded before the config had the field measured per sample. A value the current
    code cannot parse is returned as written, so it still labels the run.
    """
    value = config.get("granularity", LEGACY_GRANULARITY) if isinstance(config, Mapping) else None
    if not value:
        return LEGACY_GRANULARITY
    try:
        return str(Granularity.parse(value))
    except (TypeError, ValueError):
        return str(value)


def hardware_details(config: Mapping[str, Any] | None, fp32: bool = True) -> list[str]:
    """How a run computes, in words read off its config: the precision (``"fp32"``,
    ``"bf16"``, or ``"fp16 mixed precision"`` for ``amp``), then ``"channels-last"`` and
    ``"torch.compile"`` where chosen. ``fp32=False`` leaves out the default precision. Empty
    for a config without these fields (a run recorded from outside the trainer)."""
    config = config if isinstance(config, Mapping) else {}
    if not {"precision", "amp"} & set(config):
        precision = None
    elif config.get("amp"):
        precision = "fp16 mixed precision"
    else:
        precision = str(config.get("precision") or "fp32")
    words = [precision] if precision and (fp32 or precision != "fp32") else []
    if config.get("channels_last"):
        words.append("channels-last")
    if config.get("compile"):
        words.append("torch.compile")
    return words


def actcool_details(run: Mapping[str, Any], steps: pd.DataFrame | None = None) -> list[str]:
    """What an ActCoolLR run steers by, for its headline: the target (the calibrated default
    with its calibration and T_start, or the curve given), and the control law with its
    fitted shape. Empty for other schedules.

    Read from the run's summary (``calibration``, ``t_start``, ``response``, ``k``/``sigma``,
    recorded by the trainer) and, before the trainer wrote them, from its config. Where the
    summary has no T_start, it is read off the target recorded in ``steps``
    (:func:`recorded_t_start`), as after a resume. Only what is known is said: for a run
    recorded from outside the trainer (:func:`recorded_by_trainer`) the trainer's defaults
    (the calibrated default target, a law fitted at step 0) are not assumed.
    """
    config = run.get("config") or {}
    if (run.get("schedule") or config.get("schedule")) != "actcool":
        return []
    trainer = recorded_by_trainer(run)
    summary = run.get("summary") or {}
    details = []
    target = config.get("target", "default" if trainer else None)
    if summary.get("calibration") or target == "default":
        calibration = summary.get("calibration")
        if not calibration:
            asked = config.get("calibration", "auto")
            details.append(
                f"calibrated default target, calibration {asked} (resolved when the run starts)"
            )
        else:
            t_start = summary.get("t_start")
            if not (isinstance(t_start, (int, float)) and math.isfinite(t_start)):
                t_start = recorded_t_start(run, steps)
                source = " (read off its recorded target)"
            else:
                source = ""
            if t_start is not None:
                start = f"T_start {t_start:.2f} bits{source}"
            elif str(calibration).startswith("ramp") and run.get("status") in LIVE:
                start = "T_start pending until the warm-up ends"
            elif str(calibration).startswith("ramp"):
                start = "T_start not reached (the run ended during the warm-up)"
            else:
                start = "T_start unknown"
            details.append(f"calibrated default target, calibration {calibration}, {start}")
    elif target is not None:
        details.append(f"target {_target_name(target)}")
    found = summary.get("found_lr")
    # the branch search moves the step-0 scan's peak half-way through the warm-up
    how = "the step-0 scan" + (" and a branch search" if config.get("branch_search") else "")
    if isinstance(found, (int, float)) and math.isfinite(found):
        typed = config.get("lr")
        if not isinstance(typed, (int, float)):
            hint = ""
        elif typed == found:
            hint = f", the typed {typed:g} kept"
        else:
            hint = f" (typed {typed:g})"
        details.append(f"peak rate {found:.3g} found from {how}{hint}")
    elif config.get("branch_search"):
        details.append(f"peak rate from {how} half-way through the warm-up")
    # a trainer config without a response is an old run's: the Gaussian law (RunConfig.LEGACY)
    response = (
        summary.get("response") or config.get("response") or ("gaussian" if trainer else None)
    )
    if response is not None:
        name, fitted = ("k", summary.get("k", config.get("k")))
        if response != "weibull":
            name, fitted = ("σ", summary.get("sigma", config.get("sigma")))
        if isinstance(fitted, (int, float)):
            shape = f" {name} = {fitted:.2f}"
        else:
            shape = f" {name} fitted at step 0" if trainer else ""
        smoothing = config.get("smoothing")
        smoothed = f", smoothing {smoothing:g}" if isinstance(smoothing, (int, float)) else ""
        details.append(f"law {response}{shape}{smoothed}")
    return details


def recorded_t_start(run: Mapping[str, Any], steps: pd.DataFrame | None) -> float | None:
    """A ramp-calibrated run's T_start read off the target it recorded after its warm-up:
    the target is ``cooldown_after(T_start, fraction, γ)`` of the fraction of training, so
    its first recorded value divided by that curve's shape there (T_start 1) is T_start.
    None without a ramp calibration, a total of steps or a recorded target."""
    summary = run.get("summary") or {}
    total = summary.get("total_steps")
    if steps is None or "target_temperature" not in steps or not total:
        return None
    try:
        calibration = Calibration.parse(str(summary.get("calibration")))
    except (TypeError, ValueError):
        return None
    if calibration.kind != "ramp":
        return None
    target = pd.to_numeric(steps["target_temperature"], errors="coerce").to_numpy(np.float64)
    after = steps["step"].to_numpy(np.float64) >= calibration.fraction * float(total)
    recorded = steps[np.isfinite(target) & after]  # the warm-up records no target
    if len(recorded) == 0:
        return None
    first = recorded.iloc[0]
    shape = float(
        cooldown_after(1.0, calibration.fraction, calibration.gamma)(
            min(float(first["step"]) / float(total), 1.0)
        )
    )
    if not shape > 0:
        return None
    return float(first["target_temperature"]) / shape


def _target_name(target: Any) -> str:
    """A target spec in a few words: a curve's kind and numbers, or the spec as written."""
    if isinstance(target, str) and target.strip().startswith("{"):
        try:
            curve = json.loads(target)
        except ValueError:
            return "curve (unreadable)"
        kind = curve.get("kind", "curve")
        if kind == "power":
            hold = curve.get("hold", 0)
            after = f" after {100 * hold:.0f}% of training" if hold else ""
            return (
                f"power cool-down from {curve.get('t_start', 0):g} bits{after}, "
                f"γ {curve.get('gamma', 1):g}"
            )
        return f"{kind} curve"
    return str(target)


def granularity_groups(granularities: Mapping[str, str]) -> dict[str, list[str]]:
    """Run ids by granularity (``{run_id: granularity}`` in), groups ordered by their first run."""
    groups: dict[str, list[str]] = {}
    for run_id, granularity in granularities.items():
        groups.setdefault(granularity, []).append(run_id)
    return groups


# ---------------------------------------------------------------------- scan fits
def normalize_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """:meth:`Store.fits` rows with every column of the two-model layout.

    Stores written before the Weibull model have only Gaussian rows and no ``model``,
    ``lambda0``, ``k`` or ``reason`` columns: they read as ``model == "gaussian"`` rows with
    empty Weibull parameters and no reason.
    """
    fits = fits.copy()
    for column in ("step", "site"):
        if column not in fits:
            fits[column] = pd.Series(dtype=object)
    if "model" not in fits:
        fits["model"] = "gaussian"
    for column in ("mu", "sigma", "lambda0", "k", "rmse"):
        if column not in fits:
            fits[column] = np.nan
        fits[column] = pd.to_numeric(fits[column], errors="coerce").astype(np.float64)
    if "reason" not in fits:
        fits["reason"] = None
    return fits


def model_fit(
    fits: pd.DataFrame, step: int, site: str, model: str
) -> tuple[dict[str, float] | None, str | None]:
    """One response model's fit to one scan: ``(parameters, None)``, or ``(None, why not)``
    where "why not" is the fit's recorded reason (e.g. too few informative points).

    Args:
        fits: :func:`normalize_fits` rows.
        step, site: the scan (``site`` is ``"mean"`` or a site name).
        model: ``"gaussian"`` (parameters mu, sigma, rmse) or ``"weibull"`` (lambda0, k, rmse).
    """
    rows = fits[(fits["step"] == step) & (fits["site"] == site) & (fits["model"] == model)]
    if len(rows) == 0:
        return None, "not recorded for this scan"
    row = rows.iloc[-1]
    names = (*_MODEL_PARAMETERS[model], "rmse")
    values = {name: float(row[name]) for name in names}
    if all(math.isfinite(values[name]) for name in _MODEL_PARAMETERS[model]):
        return values, None
    reason = row["reason"]
    if isinstance(reason, str) and reason.strip():
        return None, reason.strip()
    return None, "reason not recorded"


def fit_table(fits: pd.DataFrame, step: int) -> pd.DataFrame:
    """Both models' fits to one scan, one row per site (``mean`` first, then network order).

    Columns: site, e^μ, σ, Gaussian RMSE, λ0, k, Weibull RMSE, better (the model with the
    lower RMSE, when both fitted) and note (why a model has no fit).

    Args:
        fits: :meth:`Store.fits` rows (either layout, see :func:`normalize_fits`).
        step: the scan's step.
    """
    fits = normalize_fits(fits)
    at = fits[fits["step"] == step]
    sites = ["mean", *[s for s in pd.unique(at["site"]) if s != "mean"]]
    rows = []
    for site in sites:
        gaussian, why_not_gaussian = model_fit(at, step, site, "gaussian")
        weibull, why_not_weibull = model_fit(at, step, site, "weibull")
        better = ""
        if (
            gaussian
            and weibull
            and math.isfinite(gaussian["rmse"])
            and math.isfinite(weibull["rmse"])
        ):
            better = MODEL_LABELS["weibull" if weibull["rmse"] < gaussian["rmse"] else "gaussian"]
        notes = [
            f"{MODEL_LABELS[m]} — no fit: {why}"
            for m, why in (("gaussian", why_not_gaussian), ("weibull", why_not_weibull))
            if why
        ]
        rows.append(
            {
                "site": site,
                "e^μ": math.exp(gaussian["mu"]) if gaussian else np.nan,
                "σ": gaussian["sigma"] if gaussian else np.nan,
                "Gaussian RMSE": gaussian["rmse"] if gaussian else np.nan,
                "λ0": weibull["lambda0"] if weibull else np.nan,
                "k": weibull["k"] if weibull else np.nan,
                "Weibull RMSE": weibull["rmse"] if weibull else np.nan,
                "better": better,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows)


def grid_edge_fits(scans: pd.DataFrame, fits: pd.DataFrame) -> list[str]:
    """Where a scan's fit of the mean temperature lies at the edge of that scan's rate grid:
    e^μ (Gaussian) or λ0 (Weibull) at or beyond the second-lowest or second-highest rate
    scanned. Such a fit rests on one side of the transition only, so its value is little
    more than a bound. One message per fit, naming the step, the value, the grid, and a grid
    of the same span centred on the value to scan instead.

    Args:
        scans: :meth:`Store.scans` rows (step, rate, site...).
        fits: :meth:`Store.fits` rows (either layout, see :func:`normalize_fits`).
    """
    fits = normalize_fits(fits)
    mean = fits[fits["site"] == "mean"]
    messages = []
    for step, rows in mean.groupby("step", sort=True):
        rates = np.sort(pd.unique(scans.loc[scans["step"] == step, "rate"].astype(float)))
        if len(rates) < 3:
            continue
        low, high = float(rates[0]), float(rates[-1])
        for model, name in (("gaussian", "e^μ"), ("weibull", "λ0")):
            fit, _ = model_fit(rows, step, "mean", model)
            if fit is None:
                continue
            value = math.exp(fit["mu"]) if model == "gaussian" else fit["lambda0"]
            if rates[1] < value < rates[-2]:
                continue
            edge = "low" if value <= rates[1] else "high"
            span = math.log10(high / low)
            new_low = 10.0 ** round(math.log10(value) - span / 2)
            new_high = new_low * 10.0 ** round(span)
            messages.append(
                f"step {int(step)}: {name} = {value:.3g} lies at the {edge} edge of the scan "
                f"grid {low:.3g}–{high:.3g}, so it is little more than a bound; scan "
                f"{new_low:.3g}–{new_high:.3g} instead (scan_low={new_low:g}, "
                f"scan_high={new_high:g})"
            )
    return messages
