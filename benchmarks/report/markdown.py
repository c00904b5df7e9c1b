"""Words and tables of the report: headings, schedule names, numbers and verdicts as text."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

NAMES = {
    "onecycle": "1-cycle",
    "cosine": "cosine",
    "step": "step decay",
    "schedulefree": "schedule-free",
    "actcool-fixed": "ActCoolLR (fixed start)",
    "actcool-ramp": "ActCoolLR (ramp)",
    "replay": "ActCoolLR replaying 1-cycle's T̄",
}

HEADINGS = {
    "baselines": "## 1. Baselines at their best rate",
    "no_tuning": "## 2. ActCoolLR with no tuning vs the best tuned baseline",
    "replay": "## 3. Replaying 1-cycle's measured T̄",
    "tracking": "## 4. Tracking: how closely T̄ follows the target",
    "gamma": "## 5. γ sweep: hotter for longer?",
    "claims": "## 6. The paper's claims at unit:64",
    "cifar": "## 7. ResNet-20 on CIFAR-10",
    "rates": "## 8. Test error against the typed rate",
}


def _v(ok: bool | None) -> str:
    return {True: "✅", False: "❌", None: "–"}[ok]


def _verdict(ok: bool | None) -> str:
    return {True: "✅ goal met", False: "❌ goal missed", None: "– no verdict (not enough runs)"}[
        ok
    ]


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def _behind(gap: float | None, what: str) -> str:
    """A signed gap in points of test error, in words chosen by its sign."""
    if gap is None:
        return f"not comparable with {what} yet"
    if abs(gap) < 0.005:
        return f"level with {what}"
    if gap > 0:
        return f"{gap:.2f} points behind {what}"
    return f"{-gap:.2f} points ahead of {what}"


def _cell(text: str) -> str:
    """Text for a markdown table cell (a bare | would split it)."""
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table: the header, its rule and one line per row; every table of the report."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(_cell(str(c)) for c in cells) + " |"

    return [line(header), "|---" * len(header) + "|", *(line(r) for r in rows)]


def _stat(st: dict) -> str:
    if st["n"] == 0:
        return "n/a"
    if st["n"] == 1:
        return f"{st['mean']:.2f} (1 seed)"
    return f"{st['mean']:.2f} ({st['low']:.2f}–{st['high']:.2f}, {st['n']} seeds)"


def _seed(st: dict, seed: int) -> str:
    return _f(st["by_seed"].get(str(seed)))


def _missing_line(keys: list[str]) -> list[str]:
    return ["", "Missing here: " + ", ".join(f"`{k}`" for k in keys) + "."] if keys else []
