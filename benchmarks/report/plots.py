"""What every figure of the report shares: colours, file names, curves of a run, axes."""

from __future__ import annotations

from pathlib import Path

from app.colors import SCHEDULE_COLORS

from .. import figures as F
from ..analysis import smooth

# A schedule has the dashboard's colour (app/colors.py); the report's ActCoolLR variants add two.
COLORS: dict[str, str] = {
    **{s: SCHEDULE_COLORS[s] for s in ("onecycle", "cosine", "step", "schedulefree")},
    "actcool-ramp": SCHEDULE_COLORS["actcool"],  # ActCoolLR's default (calibration auto)
    "actcool-fixed": "#8C2D04",  # dark vermillion
    "replay": "#56B4E9",  # sky blue: ActCoolLR following 1-cycle's T̄
}
PNGS = {
    "baselines": "baselines.png",
    "no_tuning": "no_tuning.png",
    "replay": "replay.png",
    "tracking": "tracking.png",
    "gamma": "gamma.png",
    "claims": "claims.png",
    "cifar": "cifar.png",
}
OLD_PNGS = (
    "schedules.png",
    "onecycle_linearity.png",
    "depth.png",
    "fits.png",
)  # the previous plan's


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def _curves(
    ax_lr,
    ax_t,
    run: F.Run,
    color: str,
    label: str,
    target: bool = False,
    target_label: str = "target",
) -> None:
    """A run's learning rate and its smoothed measured T̄ (and its target, dashed)."""
    f = run.steps["step"].to_numpy() / run.total_steps
    ax_lr.plot(f, run.steps["lr"], color=color, label=label)
    m = run.measured()
    ax_t.plot(
        m["fraction"], smooth(m["mean_temperature"].to_numpy(), F.SMOOTH), color=color, label=label
    )
    if target and m["target_temperature"].notna().any():
        ax_t.plot(
            m["fraction"],
            m["target_temperature"],
            "--",
            color=color,
            lw=1.2,
            label=f"{label}: {target_label}",
        )


def _axes_lr_t(ax_lr, ax_t, what: str = "") -> None:
    ax_lr.set(
        xlabel="fraction of training",
        ylabel="learning rate",
        yscale="log",
        title=f"learning rate{what}",
    )
    ax_t.set(
        xlabel="fraction of training",
        ylabel="mean temperature (bits, unit:64)",
        title=f"T̄ ({F.SMOOTH}-measurement average; dashed: target){what}",
    )
    ax_lr.legend(fontsize=7)
    ax_t.legend(fontsize=7)
