"""The GPU check's verdict and its report: pure functions of the figures' rows.

A row is what ``benchmarks/gpu_check.py`` prints for one figure: ``figure``, ``value``,
``unit``, ``goal``, ``ok`` (``True`` met, ``False`` missed or failed, ``None`` not judged: a
dry run, or a figure without a goal) and any details; a figure that raised carries ``error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["markdown", "pytest_counts", "verdict", "verdict_word"]

#: The fields every row has; the rest are its details.
ROW_FIELDS = ("figure", "value", "unit", "goal", "ok")

_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?)")


def verdict(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"verdict": "pass" | "fail", "failed": [names]}``: the run fails when any figure
    missed its goal or raised (``ok`` is ``False``); figures not judged do not count."""
    failed = [str(r["figure"]) for r in rows if r["ok"] is False]
    return {"verdict": "fail" if failed else "pass", "failed": failed}


def verdict_word(row: Mapping[str, Any]) -> str:
    """One row's verdict in a word: ``error`` (it raised), ``met``, ``missed`` or
    ``not judged``."""
    if "error" in row:
        return "error"
    return {True: "met", False: "missed", None: "not judged"}[row["ok"]]


def pytest_counts(output: str) -> dict[str, int]:
    """The counts of pytest's summary line (the last line that has any), e.g.
    ``"3 passed, 1 failed, 2 warnings in 4.1s"`` -> ``{"passed": 3, "failed": 1,
    "warnings": 2}``; ``error``/``warning`` are counted as ``errors``/``warnings``."""
    for line in reversed(output.strip().splitlines()):
        found = _COUNT.findall(line)
        if found:
            counts: dict[str, int] = {}
            for number, word in found:
                key = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[key] = counts.get(key, 0) + int(number)
            return counts
    return {}


def _value(row: Mapping[str, Any]) -> str:
    value, unit = row["value"], row.get("unit", "")
    if value is None:
        return "—"
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{shown} {unit}".strip() if unit and unit != "ratio" else shown


def _details(row: Mapping[str, Any]) -> str:
    extra = {k: v for k, v in row.items() if k not in ROW_FIELDS}
    return "; ".join(f"{k}: {_short(v)}" for k, v in extra.items()).replace("|", "\\|")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return " ".join(value.split())[:300]
    return json.dumps(value)


def markdown(
    rows: Sequence[Mapping[str, Any]],
    outcome: Mapping[str, Any],
    context: Mapping[str, Any],
) -> str:
    """The report: a title, ``context`` (one bullet per item: date, device, torch, ...), a
    table of figures, values, goals, verdicts and details, the verdict, and the JSON lines
    the script printed."""
    lines = ["# GPU check (`python -m benchmarks.gpu_check`)", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += [
        "",
        "| figure | value | goal | verdict | details |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['figure']} | {_value(r)} | {r['goal']} | {verdict_word(r)} | {_details(r)} |"
        )
    failed = ", ".join(outcome["failed"])
    lines += ["", f"**Verdict: {outcome['verdict']}**" + (f" (failed: {failed})" if failed else "")]
    lines += ["", "The script's output:", "", "```"]
    lines += [json.dumps(dict(r)) for r in rows] + [json.dumps(dict(outcome)), "```", ""]
    return "\n".join(lines)
