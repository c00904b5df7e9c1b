"""Section 8: test error against the typed rate, the sweep of :mod:`benchmarks.rates`.

The sweep trains in plain PyTorch loops, outside the store, into ``benchmarks/results/
rates.jsonl``; this section renders those rows with :mod:`benchmarks.rates_report`'s tables,
verdicts and figure (the ones of ``RATES.md``), each setup's heading one level down.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..rates_report import GOALS, _order, figure, group, section
from .markdown import HEADINGS

RATES_PNG = "rates.png"


def section_rates(rows: Iterable[dict], out: Path) -> list[str]:
    """The sweep's rows (one dict per run, as ``rates.jsonl`` holds them): per setup the error at
    every typed rate, 1-cycle peaking there beside ActCoolLR taking it as a hint, and the
    verdict per rate; the plot of error against the typed rate as ``out/rates.png``."""
    groups = group(rows)
    lines = [
        HEADINGS["rates"],
        "",
        "Claim: a user types one number, the optimizer's rate, and does not know the good one. "
        "1-cycle peaks at the typed rate; ActCoolLR's default takes it as a hint (its finder sets "
        "the peak from the step-0 scan, docs/algorithm.md §4.8) and guards against a rate that "
        "breaks the network (§4.7). Goal: ActCoolLR at most "
        + ", ".join(f"{goal:g} points ({model})" for model, goal in GOALS.items())
        + " behind the best tuned 1-cycle at every typed rate, and never at chance where a "
        "schedule at that rate trains. Plain "
        "PyTorch loops outside the store (`python -m benchmarks.rates`, runs in "
        "`benchmarks/results/rates.jsonl`, also written up in `RATES.md`); a run that diverged "
        "counts as chance (90%).",
        "",
    ]
    if not groups:
        return lines + [
            "No run of the rate sweep in this report: `python -m benchmarks.reproduce --rates` "
            "trains it (hours on 2 CPU cores; it has no `--quick` miniature).",
            "",
        ]
    figure(groups, out / RATES_PNG)
    lines += [f"![error against the typed rate]({RATES_PNG})", ""]
    for key in sorted(groups, key=_order):
        lines += [
            "#" + line if line.startswith("## ") else line
            for line in section(key[0], key[1], groups[key], key[2])
        ]
    return lines
