"""One compact progress line: a live bar on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

# Steps timed before an ETA is shown: the first steps (data loaders starting, kernels
# compiling, the first LR range scans) are far slower than the rest, and an ETA read off them
# promised minutes for a run of seconds.
ETA_AFTER_STEPS = 5


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Prints ``epoch 2/5 [#####.....] step 120/250 loss 0.432 lr 4.21e-02 T 2.31 bit ETA 0:35``.

    The ETA is timed from the first step reported (the set-up before it, and the first
    step itself, do not count) and shown once :data:`ETA_AFTER_STEPS` steps have been
    timed since; until then the line has no ETA.
    """

    def __init__(
        self,
        total_steps: int,
        epochs: int,
        start_step: int = 0,
        stream: TextIO | None = None,
        interval: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.total, self.epochs = total_steps, epochs
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.2 if self.tty else interval
        self.enabled = enabled
        self.start_step = start_step  # where a resumed run starts; the ETA times from
        # the first step reported, so that neither set-up nor the first step counts
        self._first: tuple[float, int] | None = None  # (time, step) of the first report
        self._last = 0.0
        self.temperature: float | None = None

    def eta(self, step: int, now: float | None = None) -> float | None:
        """Seconds left at ``step``, from the speed since the first step reported; None
        until :data:`ETA_AFTER_STEPS` steps have been timed."""
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = (now, step)
        t0, s0 = self._first
        timed = step - s0
        if timed < ETA_AFTER_STEPS:
            return None
        return (now - t0) / timed * max(self.total - step, 0)

    def line(self, epoch: int, step: int, loss: float, lr: float) -> str:
        eta = self.eta(step)
        frac = step / self.total
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        temp = f" T {self.temperature:.2f} bit" if self.temperature is not None else ""
        eta_s = f" ETA {_duration(eta)}" if eta is not None else ""
        return (
            f"epoch {epoch + 1}/{self.epochs} [{bar}] step {step}/{self.total} "
            f"loss {loss:.4f} lr {lr:.3g}{temp}{eta_s}"
        )

    def update(self, epoch: int, step: int, loss: float, lr: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self._first is None:  # every step passes here: the clock starts at the first
            self._first = (now, step)
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.line(epoch, step, loss, lr)
        if self.tty:
            self.stream.write("\r" + text.ljust(100))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
