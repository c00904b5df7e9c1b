"""One compact progress line: a live bar on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Prints ``epoch 2/5 [#####.....] step 120/250 loss 0.432 lr 4.21e-02 T 2.31 bit ETA 0:35``."""

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
        self._t0, self._s0 = time.monotonic(), start_step
        self._last = 0.0
        self.temperature: float | None = None

    def line(self, epoch: int, step: int, loss: float, lr: float) -> str:
        done = step - self._s0
        elapsed = time.monotonic() - self._t0
        eta = elapsed / done * (self.total - step) if done > 0 else float("nan")
        frac = step / self.total
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        temp = f" T {self.temperature:.2f} bit" if self.temperature is not None else ""
        eta_s = _duration(eta) if eta == eta else "?"
        return (
            f"epoch {epoch + 1}/{self.epochs} [{bar}] step {step}/{self.total} "
            f"loss {loss:.4f} lr {lr:.3g}{temp} ETA {eta_s}"
        )

    def update(self, epoch: int, step: int, loss: float, lr: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
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
