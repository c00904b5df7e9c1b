"""What a training loop measured, written into the store: one step's row, its per-site
temperatures and counts, an LR range scan with both response models' fits, evaluations and
the divergence guard's cuts of the rate.

:class:`Recorder` knows nothing of the trainer's runs: it takes what any PyTorch loop has
(the step, its rate and loss, a :class:`~actcool.Measurement` from a ``TemperatureMonitor``
or ``ActCoolLR``, the guard's events) and a :class:`storage.RunWriter`, so ``actcool.track`` (a
user's own loop) writes the rows the trainer writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # storage never imports actcool: it stores what actcool measured
    from actcool import GuardEvent, Measurement

    from .writer import RunWriter

__all__ = ["Recorder", "fit_rows", "site_counts"]


class Recorder:
    """Rows for one run, written through ``writer`` (buffered; the writer flushes them).

    Args:
        writer: the run's writer (``Store.writer(run_id)``).
        guard_events_recorded: how many of the guard's events are already stored (after a
            resume, those restored with the checkpoint): only later ones are written.
    """

    def __init__(self, writer: RunWriter, guard_events_recorded: int = 0) -> None:
        self.writer = writer
        self.guard_events_recorded = guard_events_recorded

    def step(
        self,
        step: int,
        epoch: float,
        lr: float,
        loss: float | None,
        measurement: Measurement | None = None,
        target_temperature: float | None = None,
    ) -> None:
        """One training step: its row (rate, loss, mean and target temperature), and on a
        measurement step its sites' temperatures and counts, and on a scan step the scan and
        its fits. A loss of ``None`` records a step that did not finish (a diverged one)."""
        m = measurement
        self.writer.log_step(
            step,
            epoch,
            lr,
            loss,
            mean_temperature=m.mean_temperature if m is not None else None,
            target_temperature=target_temperature,
        )
        if m is None:
            return
        self.writer.log_sites(
            step,
            list(m.sites),
            list(m.changed),
            m.batch_size,
            list(m.temperatures),
            **site_counts(m),
        )
        if m.scan is not None:
            self._scan(step, epoch, m)

    def _scan(self, step: int, epoch: float, m: Measurement) -> None:
        s = m.scan
        assert s is not None
        self.writer.log_scan(
            step,
            epoch,
            s.lrs,
            list(s.sites),
            s.probabilities,
            s.temperatures,
            s.mean_probabilities,
            s.mean_temperatures,
            changed=s.changed,
            total=s.total,
            flipped_bits=s.counts["bits"],
            total_bits=s.totals["bits"],
            changed_samples=s.counts.get("samples"),
            batch_size=s.totals.get("samples"),
            changed_positions=s.counts.get("positions"),
            total_positions=s.totals.get("positions"),
        )
        self.writer.log_fits(step, fit_rows(m))

    def evaluation(self, step: int, epoch: float, **metrics: float | None) -> None:
        """One evaluation after ``step`` (``RunWriter.log_eval``'s metrics: ``train_loss``,
        ``train_error``, ``val_loss``, ``val_error``, ``test_error``)."""
        self.writer.log_eval(step, epoch, **metrics)

    def guard_events(self, events: Sequence[GuardEvent]) -> None:
        """Write the divergence guard's cuts of the rate that are new since the last call (one
        ``guard_events`` row each): ``events`` is all of them so far, oldest first
        (``ActCoolLR.guard_events``)."""
        for event in events[self.guard_events_recorded :]:
            self.writer.log_guard_event(**event.to_dict())
        self.guard_events_recorded = len(events)


def fit_rows(m: Measurement) -> list[dict[str, Any]]:
    """The ``fits`` rows of a scan step: per site and for the mean, one Gaussian and one
    Weibull row (``RunWriter.log_fits``), with the reason where a model has no fit."""
    fits = m.fits
    if fits is None:
        raise ValueError(f"the measurement of step {m.step} has no LR range scan to take fits of")
    names = [*fits.sites, "mean"]
    gaussian = [*fits.per_site, fits.mean]
    weibull = [*fits.weibull_per_site, fits.weibull_mean] if fits.weibull_per_site else []
    rows: list[dict[str, Any]] = []
    for model, found in (("gaussian", gaussian), ("weibull", weibull)):
        for name, fit in zip(names, found, strict=True):
            row: dict[str, Any] = {"site": name, "model": model}
            if fit is None:
                row["reason"] = fits.reasons.get(f"{model}:{name}", "no fit")
            elif model == "gaussian":
                row.update(
                    mu=fit.mu, sigma=fit.sigma, rmse=fit.rmse, n_informative=fit.n_informative
                )
            else:
                row.update(
                    lambda0=fit.lambda0, k=fit.k, rmse=fit.rmse, n_informative=fit.n_informative
                )
            rows.append(row)
    return rows


def site_counts(m: Measurement) -> dict[str, Any]:
    """The keyword counts of ``RunWriter.log_sites`` for one measurement; a counter that was
    not counted (samples, positions: see ``compare_granularities``) stays out (NULL)."""
    counts: dict[str, Any] = {
        "total": list(m.total),
        "flipped_bits": list(m.counts["bits"]),
        "total_bits": list(m.totals["bits"]),
    }
    if "samples" in m.counts:
        counts["changed_samples"] = list(m.counts["samples"])
    if "positions" in m.counts:
        counts["changed_positions"] = list(m.counts["positions"])
        counts["total_positions"] = list(m.totals["positions"])
    return counts
