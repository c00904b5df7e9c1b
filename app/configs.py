"""Pure helpers of the Launch page: parse typed lists, build validated run configs, the demo.

Typed text is only ever parsed as numbers (``int``/``float`` of each comma-separated
item), never evaluated. Every config goes through :class:`trainer.config.RunConfig`, whose
``ValueError``/``TypeError`` names the bad field; the page shows that message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actcool import Calibration
from actcool.granularity import DEFAULT_PATTERN_LENGTH, Granularity
from trainer.config import RunConfig

__all__ = [
    "CALIBRATION_LABELS",
    "DEFAULT_PATTERN_LENGTH",
    "DEMO_TAG",
    "GRANULARITY_LABELS",
    "SCHEDULE_LABELS",
    "schedule_order",
    "build_configs",
    "calibration_spec",
    "demo_configs",
    "granularity_spec",
    "parse_floats",
    "parse_seeds",
    "target_spec",
]

# Display order and names of trainer.config.SCHEDULES on the Launch page.
SCHEDULE_LABELS: dict[str, str] = {
    "actcool": "ActCoolLR",
    "onecycle": "1-cycle",
    "cosine": "cosine",
    "step": "step decay",
    "constant": "constant",
    "schedulefree": "schedule-free",
}
DEMO_TAG = "demo"
NEW_RUN_GRANULARITY: str = RunConfig().granularity  # "unit:64"
# The Launch page's granularity choices (actcool.granularity), default first.
GRANULARITY_LABELS: dict[str, str] = {
    "unit": "unit: L units per pattern (default)",
    "position": "position: one pattern per conv position",
    "sample": "sample: one pattern per sample",
}

# The Launch page's calibrations of the default target (RunConfig.calibration), default first.
CALIBRATION_LABELS: dict[str, str] = {
    "auto": "auto: fixed for unit granularities, ramp otherwise",
    "fixed": "fixed: start at a set temperature",
    "ramp": "ramp: warm up, then read T_start off the measurements",
}


def schedule_order(schedules: Iterable[str]) -> list[str]:
    """The trainer's schedules in display order (ActCoolLR first); unknown ones last."""
    known = list(SCHEDULE_LABELS)
    return sorted(schedules, key=lambda s: known.index(s) if s in known else len(known))
MAX_SEEDS = 32


def parse_seeds(text: str) -> list[int]:
    """``"0, 1, 2"`` or ``"0-3"`` (inclusive range) → distinct seeds in the given order.

    Raises:
        ValueError: anything but non-negative integers, or more than 32 seeds.
    """
    seeds: list[int] = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        low, dash, high = item.partition("-")
        try:
            values = range(int(low), int(high) + 1) if dash else [int(item)]
        except ValueError:
            raise ValueError(
                f"seed {item!r} is not a whole number; write seeds like 0, 1, 2 or 0-4"
            ) from None
        for seed in values:
            if seed < 0:
                raise ValueError(f"seeds must be >= 0, got {seed}")
            if seed not in seeds:
                seeds.append(seed)
    if not seeds:
        raise ValueError("give at least one seed, e.g. 0")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"at most {MAX_SEEDS} seeds at once, got {len(seeds)}")
    return seeds


def parse_floats(text: str, what: str) -> tuple[float, ...]:
    """``"0.5, 0.75"`` → ``(0.5, 0.75)``; ValueError naming ``what`` for anything else."""
    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"{what}: {item!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{what}: {item!r} is not a finite number")
        values.append(value)
    return tuple(values)


def target_spec(
    source: str,
    designed: Mapping[str, Any] | None = None,
    saved_name: str | None = None,
    t_start: float = 3.17,
    gamma: float = 1.0,
) -> str:
    """The ``RunConfig.target`` string for a target source of the Launch page.

    ``source`` is ``"default"`` (the calibrated default: a linear cool-down whose start is
    calibrated for the run, see ``RunConfig.calibration``), ``"designed"`` (the curve
    definition from the Design page, as JSON), ``"saved"`` (a saved curve's name) or
    ``"power"`` (``power:T_start,gamma``).
    """
    if source == "default":
        return "default"
    if source == "designed":
        if not designed:
            raise ValueError("no curve designed yet: shape one on the Design page first")
        return json.dumps(dict(designed), sort_keys=True)
    if source == "saved":
        if not saved_name:
            raise ValueError("choose a saved curve (save one on the Design page)")
        return saved_name
    if source == "power":
        return f"power:{t_start:g},{gamma:g}"
    raise ValueError(
        f"unknown target source {source!r}; choose one of: default, designed, saved, power"
    )


def calibration_spec(kind: str, start_bits: float = 2.0, fraction: float = 0.25) -> str:
    """The ``RunConfig.calibration`` string of a Launch page choice: ``"auto"``,
    ``"fixed:<start bits of unit:64>"`` or ``"ramp:<warm-up fraction>"``.

    Raises:
        ValueError: an unknown kind or a number the calibration rejects, naming the field.
    """
    if kind == "auto":
        return "auto"
    if kind not in ("fixed", "ramp"):
        raise ValueError(f"calibration: unknown kind {kind!r}; choose one of: auto, fixed, ramp")
    spec = f"fixed:{start_bits:g}" if kind == "fixed" else f"ramp:{fraction:g}"
    try:
        return str(Calibration.parse(spec))
    except (TypeError, ValueError) as exc:
        field = "start temperature (bits)" if kind == "fixed" else "warm-up share"
        raise ValueError(f"calibration {field}: {exc}") from None


def granularity_spec(kind: str, pattern_length: int = DEFAULT_PATTERN_LENGTH) -> str:
    """The ``RunConfig.granularity`` string of a Launch page choice: ``"unit:64"``,
    ``"position"`` or ``"sample"`` (``pattern_length`` is L, used by ``unit`` only).

    Raises:
        ValueError: an unknown kind or an L below 1, as :class:`Granularity` words it.
    """
    length = int(pattern_length) if kind == "unit" else None
    return str(Granularity.parse(kind, length))


def build_configs(
    settings: Mapping[str, Any],
    schedules: Sequence[str],
    seeds: Iterable[int],
    name: str = "",
) -> list[RunConfig]:
    """One validated :class:`RunConfig` per schedule and seed, otherwise identical.

    A new run measures at RunConfig's default granularity unless ``settings`` name one
    (``RunConfig.from_dict`` alone would read a config without one as an old ``sample`` run).

    Args:
        settings: RunConfig fields shared by every run (no ``schedule``/``seed``).
        schedules: schedule names (one run each per seed).
        seeds: the seeds.
        name: a base name; each run is named ``name-<schedule>-s<seed>`` (default
            ``<model>-<dataset>-<schedule>`` plus the seed when there are several).

    Raises:
        ValueError, TypeError: the first invalid field, as RunConfig reports it.
    """
    seeds = list(seeds)
    if not schedules:
        raise ValueError("choose at least one schedule")
    configs = []
    for schedule in schedules:
        for seed in seeds:
            config = RunConfig.from_dict({"granularity": NEW_RUN_GRANULARITY, **settings,
                                          "schedule": schedule, "seed": seed})
            base = name or config.display_name
            if name and len(schedules) > 1:
                base = f"{name}-{schedule}"
            if len(seeds) > 1:
                base = f"{base}-s{seed}"
            configs.append(config.replace(name=base))
    return configs


def demo_configs() -> list[RunConfig]:
    """The one-click demo: ActCoolLR against 1-cycle on digits, about a minute on a laptop.

    80 steps each (8 epochs of 128 images), temperature measured every 2 steps. ActCoolLR
    follows the calibrated default target (a linear cool-down from 2 bits of unit:64, the
    Weibull law with k fitted at step 0) under the same highest rate as 1-cycle's peak, 0.1.
    """
    shared = {
        "model": "convnet4",
        "dataset": "digits",
        "epochs": 8,
        "batch_size": 128,
        "measure_every": 2,
        "lr": 0.1,
        "tags": (DEMO_TAG,),
    }
    return [
        RunConfig(**shared, schedule="actcool", target="default", name="demo-actcool"),
        RunConfig(**shared, schedule="onecycle", name="demo-onecycle"),
    ]
