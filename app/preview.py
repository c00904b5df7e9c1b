"""The Design page's implied learning rate, computed as a run would: pure logic, plus the
quick LR range scan it reads its response models from.

A run's ActCoolLR steers the mean temperature through a response model (docs/algorithm.md
§2, §4) and clamps the chosen rate to ``[lr_min, lr_max]``, ``lr_max`` being the optimizer's
learning rate unless set. The preview inverts the same model, fitted to a scan at
initialisation:

- Weibull (the default law): ``T(λ) = (λ/λ0)^k / ln 2`` bits, so a target of ``C`` bits
  implies ``λ = λ0·(C·ln 2)^(1/k)`` (:func:`actcool.weibull_model.weibull_lr_at`).
- Gaussian CDF (the paper's law): ``λ = exp(μ + σ·Φ⁻¹(clip(1 − 2^(−C), B)))``
  (:func:`actcool.pattern_model.gaussian_lr_at`).

The calibrated default target (``RunConfig.target = "default"``, actcool/calibration.py) is
previewed too: ``fixed`` is a linear cool-down from ``start_bits·L/64`` bits, known before
the run; ``ramp`` reads its start temperature off the run's own warm-up, so its preview
trains that warm-up (:func:`warmup_preview`: the run's seed, data, model and ActCoolLR, up to
the calibration and an LR range scan there) and draws the warm-up's rates, then the law
fitted to that scan. Finally, a finished run's measured rate is compared with the preview
over the bulk of training (:func:`measured_ratio`), so users learn how far to trust it.

Everything but :func:`quick_fits` and :func:`warmup_preview` is pure: they train with torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from actcool import Calibration, Granularity, Measurement, TargetCurve
from actcool.pattern_model import gaussian_lr_at
from actcool.weibull_model import weibull_lr_at
from trainer.config import RunConfig

if TYPE_CHECKING:
    from trainer.warmup import (
        TrainedWarmup,
    )  # imports torch; the page holds one only after training

__all__ = [
    "LAWS",
    "RATIO_WINDOW",
    "PreviewFits",
    "WarmupPreview",
    "calibrated_default",
    "clamp_lr",
    "fits_of",
    "implied_rates",
    "measured_lr",
    "measured_ratio",
    "quick_fits",
    "warmup_preview",
    "warmup_window",
    "span_text",
    "with_warmup",
]

#: The control laws of RunConfig.response, as the pages name them.
LAWS: dict[str, str] = {
    "weibull": "Weibull (default)",
    "gaussian": "Gaussian CDF (the paper's)",
}
#: The stretch of training (fractions) over which a measured rate is compared with the
#: preview: the start (step-0 rate, first corrections) and the very end (near 0 bits) are left out.
RATIO_WINDOW = (0.1, 0.9)
LR_MIN = RunConfig().lr_min  # a run's lowest rate unless set


@dataclass(frozen=True)
class PreviewFits:
    """The response models of one LR range scan, as plain numbers.

    Attributes:
        gaussian: ``{"mu", "sigma"}`` of the Gaussian CDF, or None (no fit).
        weibull: ``{"lambda0", "k"}`` of the Weibull model, or None (no fit).
        batch_size: B of the scan's batch (bounds the Gaussian law's probabilities).
        reasons: why a model has no fit, keyed ``"gaussian"``/``"weibull"``.
    """

    gaussian: dict[str, float] | None
    weibull: dict[str, float] | None
    batch_size: int
    reasons: dict[str, str] = field(default_factory=dict)

    def law(self, response: str) -> dict[str, float] | None:
        """The parameters of the law ``response`` (``"weibull"`` or ``"gaussian"``)."""
        return self.weibull if response == "weibull" else self.gaussian


def quick_fits(config: RunConfig) -> PreviewFits:
    """Both response models of a quick LR range scan of ``config``'s model and data at
    initialisation, at ``config.granularity`` (:func:`trainer.scan.scan_at_init`).

    One training step at ``config.lr`` on one batch, then the scan of the run's grid
    (``config.scan_low``/``scan_high``/``scan_count``), as a run's step-0 scan.
    """
    from trainer.scan import scan_at_init  # imports torch: only when a scan is asked for

    try:
        m = scan_at_init(config)
    except RuntimeError:
        m = None
    return fits_of(m, config.batch_size)


def fits_of(m: Measurement | None, batch_size: int) -> PreviewFits:
    """The response models fitted to the mean temperature of a measurement's LR range scan,
    as plain numbers, with the reason for each one missing."""
    if m is None or m.fits is None:
        return PreviewFits(None, None, batch_size, {"gaussian": "no scan", "weibull": "no scan"})
    reasons = {
        model_name: text
        for key, text in m.fits.reasons.items()
        for model_name, _, site in [key.partition(":")]
        if site == "mean"
    }
    g, w = m.fits.mean, m.fits.weibull_mean
    gaussian = (
        {"mu": float(g.mu), "sigma": float(g.sigma)}
        if g is not None and math.isfinite(g.mu) and math.isfinite(g.sigma)
        else None
    )
    weibull = (
        {"lambda0": float(w.lambda0), "k": float(w.k)}
        if w is not None and math.isfinite(w.lambda0) and math.isfinite(w.k)
        else None
    )
    for name, fit in (("gaussian", gaussian), ("weibull", weibull)):
        if fit is None:
            reasons.setdefault(name, "too little signal to fit")
    return PreviewFits(gaussian, weibull, int(m.batch_size), reasons)


# ---------------------------------------------------------------------- the warm-up preview
@dataclass(frozen=True)
class WarmupPreview:
    """A run's ``ramp`` warm-up, trained ahead of it, as the Design page shows it.

    Attributes:
        trained: what the warm-up found (:class:`trainer.warmup.TrainedWarmup`: ``t_start``,
            ``fraction``, ``lr_peak``, ``ramp_steps``, ``end_step``, ``total_steps``,
            ``calibration``, ``seconds``, its :meth:`~trainer.warmup.TrainedWarmup.target` and
            :meth:`~trainer.warmup.TrainedWarmup.warmup_lr`); read from it, never copied.
        fits: the response models of its LR range scan at ``end_step``, as plain numbers:
            what the controller meets as the cool-down begins.
        trained_steps: how many steps were trained (steps 0 to ``end_step``), as the progress
            bar counted them.

    The Design page prints every number of a warm-up from this one object (:meth:`steps_text`,
    :meth:`scan_text`), so that its sentences and its progress bar agree.
    """

    trained: TrainedWarmup
    fits: PreviewFits
    trained_steps: int = 0  # 0: end_step + 1

    def __post_init__(self) -> None:
        if not self.trained_steps:
            object.__setattr__(self, "trained_steps", self.trained.end_step + 1)

    def steps_text(self) -> str:
        """``"the first 21 of the run's 50 steps (its rate warms up over 12; the calibration
        ends at the first measurement after them)"``."""
        return (
            f"the first {self.trained_steps} of the run's {self.trained.total_steps} steps (its "
            f"rate warms up over {self.trained.ramp_steps}; the calibration ends at the first "
            "measurement after them)"
        )

    def scan_text(self) -> str:
        """Where the scan the law is fitted to ran: ``"the scan after step 21 of 50"``."""
        return f"the scan after step {self.trained_steps} of {self.trained.total_steps}"

    def warmup_lr(self, fractions: np.ndarray) -> np.ndarray:
        """The warm-up's rate at ``fractions`` of training (the optimizer's rate after it)."""
        steps = np.floor(np.asarray(fractions, dtype=np.float64) * self.trained.total_steps)
        return np.array([self.trained.warmup_lr(int(s)) for s in steps])


def warmup_preview(
    config: RunConfig, on_step: Callable[[int, int], None] | None = None
) -> WarmupPreview:
    """Train ``config``'s ``ramp`` warm-up (trains torch; see :func:`trainer.warmup.train_warmup`
    for what it needs and raises) and keep what the Design page draws."""
    from trainer.warmup import train_warmup  # imports torch: only when a warm-up is asked for

    counted = [0]

    def count(done: int, to_do: int) -> None:
        counted[0] = done
        if on_step is not None:
            on_step(done, to_do)

    w = train_warmup(config, count)
    return WarmupPreview(w, fits_of(w.scan, config.batch_size), trained_steps=counted[0])


def with_warmup(implied: pd.DataFrame, warmup: WarmupPreview) -> pd.DataFrame:
    """``implied`` with the warm-up's rates over the warm-up: a run with the ramp calibration
    trains there at its linear warm-up whatever the law says (columns ``model_lr`` and
    ``lr``), and follows the law after it."""
    out = implied.copy()
    during = out["fraction"].to_numpy(np.float64) < warmup.trained.fraction
    rates = warmup.warmup_lr(out["fraction"].to_numpy(np.float64)[during])
    out.loc[during, "model_lr"] = rates
    out.loc[during, "lr"] = rates
    return out


def warmup_window(warmup: WarmupPreview) -> tuple[float, float]:
    """Where a run with this warm-up is compared with the preview: :data:`RATIO_WINDOW`,
    starting no earlier than the end of the warm-up (whose rates are fixed, not predicted)."""
    return max(RATIO_WINDOW[0], warmup.trained.fraction), RATIO_WINDOW[1]


# ---------------------------------------------------------------------- implied rates
def clamp_lr(lrs: np.ndarray, lr_min: float, lr_max: float) -> np.ndarray:
    """Clamp rates to ``[lr_min, lr_max]`` as ActCoolLR does (non-finite rates too)."""
    values = np.nan_to_num(
        np.asarray(lrs, dtype=np.float64), nan=lr_min, posinf=lr_max, neginf=lr_min
    )
    return np.clip(values, lr_min, lr_max)


def implied_rates(
    curve: TargetCurve,
    response: str,
    fit: Mapping[str, float],
    batch_size: int,
    lr_max: float,
    lr_min: float = LR_MIN,
    fractions: np.ndarray | None = None,
) -> pd.DataFrame:
    """The rate a run would use to follow ``curve`` under the law ``response``.

    Args:
        curve: the target C(f) in bits.
        response: ``"weibull"`` (``fit`` has lambda0, k) or ``"gaussian"`` (mu, sigma).
        batch_size: B (the Gaussian law clips its probabilities to ``[1/(2B), 1 − 1/(2B)]``).
        lr_max: the run's highest rate (the optimizer's learning rate by default).
        lr_min: the run's lowest rate.
        fractions: where to evaluate, default 201 points over [0, 1].

    Returns:
        Columns ``fraction``, ``temperature`` (bits), ``model_lr`` (the law's rate before
        clamping) and ``lr`` (clamped to ``[lr_min, lr_max]``: what a run would use).
    """
    if not lr_min <= lr_max:
        raise ValueError(f"lr_min ({lr_min}) must not exceed lr_max ({lr_max})")
    if fractions is None:
        fractions = np.linspace(0.0, 1.0, 201)
    fractions = np.asarray(fractions, dtype=np.float64)
    if response not in LAWS:
        raise ValueError(f"unknown response {response!r}; choose one of: {', '.join(LAWS)}")
    temperatures = np.asarray(curve(fractions), dtype=np.float64)
    if response == "weibull":  # the models' own inverses (actcool.weibull_model, pattern_model)
        model_lr = weibull_lr_at(temperatures, fit["lambda0"], fit["k"])
    else:
        model_lr = gaussian_lr_at(temperatures, fit["mu"], fit["sigma"], batch_size)
    return pd.DataFrame(
        {
            "fraction": fractions,
            "temperature": temperatures,
            "model_lr": model_lr,
            "lr": clamp_lr(model_lr, lr_min, lr_max),
        }
    )


def span_text(fractions: pd.Series | np.ndarray, hit: pd.Series | np.ndarray) -> str:
    """Where ``hit`` holds, in words: ``"over 0%–23% of training"``, ``"at 100% of
    training"`` (one point), or ``"over 31% of training"`` (scattered)."""
    f = np.asarray(fractions, dtype=np.float64)[np.asarray(hit, dtype=bool)]
    if len(f) == 0:
        return "nowhere"
    if len(f) == 1:
        return f"at {f[0]:.0%} of training"
    all_f = np.asarray(fractions, dtype=np.float64)
    inside = (all_f >= f.min()) & (all_f <= f.max())
    if inside.sum() == len(f):  # one stretch
        return f"over {f.min():.0%}–{f.max():.0%} of training"
    return f"over {len(f) / len(all_f):.0%} of training"


# ---------------------------------------------------------------------- calibrated default
def calibrated_default(calibration: str, granularity: str) -> tuple[TargetCurve | None, str]:
    """The default target of a run at ``granularity`` with ``calibration``, and what it is.

    ``fixed``: ``PowerCurve(start_bits·L/64, γ)`` from its start to 0 (γ = 1: linear). ``ramp``:
    ``None``; its start temperature is read during the run, off the warm-up's measurements.

    Raises:
        ValueError: a bad calibration, or ``fixed`` at a pattern granularity (as the run
            would refuse it), naming the calibration.
    """
    try:
        cal = Calibration.parse(calibration)  # what ActCoolLR makes of it ("auto" is ramp)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"calibration {calibration!r}: {exc}") from None
    g = Granularity.parse(granularity)
    if cal.kind == "fixed":
        try:
            t_start = cal.fixed_start(g)
        except ValueError:
            raise ValueError(
                f"calibration {str(cal)!r}: a fixed start is defined for the unit granularity, "
                f"not {str(g)!r}; choose ramp (or auto)"
            ) from None
        scaled = (
            f" ({cal.start_bits:g} bits of unit:64 × {g.pattern_length}/64)"
            if (g.pattern_length != 64)
            else ""
        )
        shape = "linear" if cal.gamma == 1.0 else f"a power curve (γ = {cal.gamma:g})"
        return cal.fixed_target(g), (
            f"calibration **{cal}** at {g}: {shape} from **{t_start:.3g} bits**{scaled} to 0"
        )
    cools = "linearly" if cal.gamma == 1.0 else f"along a power curve (γ = {cal.gamma:g})"
    return None, (
        f"calibration **{cal}** at {g}: the rate warms up linearly to the learning rate over the "
        f"first {cal.fraction:.0%} of training while the temperature is measured; T_start = "
        "λ_peak × median(T̄/λ) of the warm-up's second half is read **during the run**, then the "
        f"target cools {cools} to 0."
    )


# ---------------------------------------------------------------------- measured vs preview
def measured_lr(steps: pd.DataFrame, total_steps: int | None) -> pd.DataFrame:
    """A run's recorded rate against the fraction of training (``step / total_steps``);
    positive, finite rates only. Empty without a total."""
    if not total_steps or "lr" not in steps or len(steps) == 0:
        return pd.DataFrame({"fraction": [], "lr": []})
    lr = pd.to_numeric(steps["lr"], errors="coerce").to_numpy(np.float64)
    fraction = steps["step"].to_numpy(np.float64) / float(total_steps)
    keep = np.isfinite(lr) & (lr > 0)
    return pd.DataFrame({"fraction": fraction[keep], "lr": lr[keep]})


def measured_ratio(
    implied: pd.DataFrame,
    measured: pd.DataFrame,
    window: tuple[float, float] = RATIO_WINDOW,
) -> float | None:
    """Median of measured / preview rate over ``window`` (fractions of training), the
    preview interpolated linearly in log rate at the measured fractions; None when no
    measurement falls in the window."""
    preview = implied[np.isfinite(implied["lr"]) & (implied["lr"] > 0)].sort_values("fraction")
    if len(preview) < 2 or len(measured) == 0:
        return None
    f = measured["fraction"].to_numpy(np.float64)
    lr = measured["lr"].to_numpy(np.float64)
    inside = (f >= window[0]) & (f <= window[1]) & np.isfinite(lr) & (lr > 0)
    if not inside.any():
        return None
    at = np.exp(
        np.interp(
            f[inside],
            preview["fraction"].to_numpy(np.float64),
            np.log(preview["lr"].to_numpy(np.float64)),
        )
    )
    return float(np.median(lr[inside] / at))
