"""What a benchmark run measures of itself: temperatures per site and three LR range scans.

Under ``ActCoolLR`` the scheduler's own measurements are read (it measures anyway); under any
other schedule a :class:`~actcool.TemperatureMonitor` measures every 10 steps and scans at 10%,
50% and 90% of training. Each measurement keeps the step's rate, the unit:64 temperature per
site, the sample-granularity temperature per site against its cap ``log2(2B)`` (where a conv
site saturates first), and on scan steps both response models' fit errors per site.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actcool.granularity import Granularity

SAMPLE = Granularity.parse("sample")
SCAN_AT = (0.1, 0.5, 0.9)  # scans at these fractions of training (non-ActCoolLR runs)


class MeasureLog:
    """Records one run's measurements; :meth:`close` returns them as plain JSON values."""

    def __init__(self, net, opt, sched, total: int, measure_every: int = 10) -> None:
        from actcool import ActCoolLR, TemperatureMonitor

        self.monitor = None
        if isinstance(sched, ActCoolLR):
            self.source = sched
        else:
            self.monitor = TemperatureMonitor(
                net, measure_every, optimizer=opt, compare_with=("sample",)
            )
            last = (total - 1) // measure_every * measure_every  # the last measured step
            for fraction in SCAN_AT:
                step = round(fraction * total / measure_every) * measure_every
                self.monitor.request_scan(min(step, last))
            self.source = self.monitor
        self._modules = dict(net.named_modules())
        self.sites: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.fits: list[dict[str, Any]] = []
        self._seen = None

    def record(self, lr: float) -> None:
        """Call once per training step, after the scheduler, with the rate the step trained at."""
        if self.monitor is not None:
            self.monitor.step()
        m = self.source.last_measurement
        if m is None or m is self._seen:
            return
        self._seen = m
        self.sites = list(m.sites)
        row: dict[str, Any] = {
            "step": m.step,
            "lr": lr,
            "mean": float(m.mean_temperature),
            "sites": [float(t) for t in m.temperatures],
        }
        if "samples" in m.counts:
            row["sample"] = [float(t) for t in m.temperatures_at("sample")]
            row["sample_cap"] = SAMPLE.cap(m.batch_size)
        self.rows.append(row)
        if m.fits is not None:
            f = m.fits
            self.fits.append(
                {
                    "step": m.step,
                    "gaussian": [_rmse(g) for g in f.per_site],
                    "weibull": [_rmse(w) for w in f.weibull_per_site],
                }
            )

    def close(self) -> dict[str, Any]:
        """The run's measurements; removes the monitor's hooks."""
        if self.monitor is not None:
            self.monitor.close()
        types = [type(self._modules[s]).__name__ if s in self._modules else "?" for s in self.sites]
        return {"sites": self.sites, "types": types, "measurements": self.rows, "fits": self.fits}


def _rmse(fit) -> float | None:
    return None if fit is None or not np.isfinite(fit.rmse) else float(fit.rmse)
