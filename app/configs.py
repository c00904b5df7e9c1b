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

import numpy as np

from actcool import Calibration
from actcool.branches import BRANCH_MULTIPLES, BRANCH_STEPS, EVAL_BATCHES
from actcool.calibration import AUTO
from actcool.curves import PAPER_T_START
from actcool.granularity import DEFAULT_PATTERN_LENGTH, Granularity
from app.preview import calibrated_default
from app.summary import hardware_details
from trainer.config import RunConfig, new_run_defaults

__all__ = [
    "ACTCOOL_ONLY",
    "BRANCH_SEARCH_STEPS",
    "CALIBRATION_LABELS",
    "PRECISION_LABELS",
    "DEFAULT_PATTERN_LENGTH",
    "DEMO_TAG",
    "GRANULARITY_LABELS",
    "SCHEDULE_LABELS",
    "schedule_order",
    "branch_search_refusal",
    "build_configs",
    "calibration_spec",
    "DEMO_SEEDS",
    "demo_configs",
    "demo_description",
    "field_problem",
    "granularity_spec",
    "parse_floats",
    "parse_seeds",
    "precision_settings",
    "reach_problems",
    "settings_line",
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
# The Launch page's granularity choices (actcool.granularity), default first.
GRANULARITY_LABELS: dict[str, str] = {
    "unit": "unit: L units per pattern (default)",
    "position": "position: one pattern per conv position",
    "sample": "sample: one pattern per sample",
}

# The Launch page's calibrations of the default target (RunConfig.calibration), default first.
CALIBRATION_LABELS: dict[str, str] = {
    "auto": "auto: the recommended calibration (ramp)",
    "fixed": "fixed: start at a set temperature",
    "ramp": "ramp: warm up, then read T_start off the measurements",
}


# The Launch page's precisions: RunConfig.precision, and fp16 as RunConfig.amp (with precision
# fp32), so that one choice can never ask for amp and bf16 together.
PRECISION_LABELS: dict[str, str] = {
    "fp32": "fp32 (default)",
    "bf16": "bf16 autocast",
    "fp16": "fp16 mixed precision (AMP)",
}

#: RunConfig fields that only an ActCoolLR run takes (RunConfig refuses them for the others):
#: a comparison of schedules sets them on its actcool runs only.
ACTCOOL_ONLY = ("branch_search", "branch_warmup", "branch_draws")
#: What ActCoolLR's branch search costs, in training steps, once: each branch trains
#: BRANCH_STEPS steps and measures its loss on EVAL_BATCHES batches, forward passes only
#: (about a third of a step each; docs/algorithm.md §4.9: 7 × (60 + 16/3) ≈ 460).
BRANCH_SEARCH_STEPS = int(round(len(BRANCH_MULTIPLES) * (BRANCH_STEPS + EVAL_BATCHES / 3), -1))


def precision_settings(choice: str) -> dict[str, Any]:
    """The RunConfig fields of a Launch page precision: ``"fp32"``, ``"bf16"`` (bfloat16
    autocast) or ``"fp16"`` (float16 mixed precision with a gradient scaler: ``amp``).

    Raises:
        ValueError: another choice, naming the accepted ones.
    """
    if choice not in PRECISION_LABELS:
        raise ValueError(
            f"unknown precision {choice!r}; choose one of: {', '.join(PRECISION_LABELS)}"
        )
    return {"precision": "bf16" if choice == "bf16" else "fp32", "amp": choice == "fp16"}


def branch_search_refusal(target: str, calibration: str) -> str | None:
    """Why an ActCoolLR run with this ``target`` and ``calibration`` cannot take the branch
    search, in the Launch page's words; None where :class:`RunConfig` accepts it (the
    calibrated default target with a ramp calibration: the search runs in its warm-up)."""
    try:
        RunConfig(schedule="actcool", target=target, calibration=calibration, branch_search=True)
    except (TypeError, ValueError):
        if target != "default":
            return (
                "The branch search needs the calibrated default target: it runs in the warm-up "
                "of its ramp calibration."
            )
        return (
            f"The branch search needs calibration auto or ramp, not {calibration}: it runs "
            "half-way through the ramp's warm-up."
        )
    return None


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
    t_start: float = PAPER_T_START,
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


def calibration_spec(
    kind: str, start_bits: float = 2.0, fraction: float = 0.25, gamma: float = 1.0
) -> str:
    """The ``RunConfig.calibration`` string of a Launch page choice: ``"auto"``,
    ``"fixed:<start bits of unit:64>"`` or ``"ramp:<warm-up fraction>"``, with ``":<gamma>"``
    when the cool-down is not linear.

    Raises:
        ValueError: an unknown kind or a number the calibration rejects, naming the field.
    """
    if kind == "auto" and gamma == 1.0:
        return "auto"
    if kind not in ("auto", "fixed", "ramp"):
        raise ValueError(f"calibration: unknown kind {kind!r}; choose one of: auto, fixed, ramp")
    kind = AUTO if kind == "auto" else kind
    field, number = ("start_bits", start_bits) if kind == "fixed" else ("fraction", fraction)
    try:
        Calibration(kind, **{field: number})
    except (TypeError, ValueError) as exc:
        label = "start temperature (bits)" if kind == "fixed" else "warm-up share"
        raise ValueError(f"calibration {label}: {exc}") from None
    try:
        return str(Calibration(kind, **{field: number}, gamma=float(gamma)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"calibration γ: {exc}") from None


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
    The :data:`ACTCOOL_ONLY` settings go to the actcool runs only; the other schedules' runs
    take those fields' defaults.

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
        own = {k: v for k, v in settings.items() if schedule == "actcool" or k not in ACTCOOL_ONLY}
        for seed in seeds:
            config = RunConfig.from_dict(
                {**new_run_defaults(), **own, "schedule": schedule, "seed": seed}
            )
            base = name or config.display_name
            if name and len(schedules) > 1:
                base = f"{name}-{schedule}"
            if len(seeds) > 1:
                base = f"{base}-s{seed}"
            configs.append(config.replace(name=base))
    return configs


#: The demo's seeds: the first three, fixed before any result was seen, the same for both
#: schedules. On digits' small test set the schedules differ by single images from seed to
#: seed, so one seed each would show noise as a verdict.
DEMO_SEEDS = (0, 1, 2)
#: The demo's schedules, in the order they are queued and described.
DEMO_SCHEDULES = ("actcool", "onecycle")


def demo_configs() -> list[RunConfig]:
    """The one-click demo: ActCoolLR against 1-cycle on digits, each with the seeds
    :data:`DEMO_SEEDS`.

    80 steps each (8 epochs of 10 batches of 128 images), the temperature measured every 2
    steps: ActCoolLR's ramp warm-up (its first 20 steps) calibrates T_start from 10
    measurements, then the controller steers the cool-down. ActCoolLR follows the calibrated
    default target (calibration auto, the Weibull law with k fitted at step 0); its peak is
    found from its step-0 scan with 1-cycle's peak, 0.1, as the hint.

    Not longer: digits is fitted within a few hundred steps and the temperature collapses
    with the training loss. At 160 steps the temperature at the peak rate fell below the
    target for the cool-down (seed 0: 0.6 bits against 1.3 at half-way, 0.03 against 0.26 at
    90%), so the rate stayed at the peak to the last step (seeds 0 and 2: at every
    measurement; seed 1: at 52 of 60) and ActCoolLR hardly steered;
    at 80 steps it leaves the peak for the last quarter (seed 0: 10 of 30 measurements after
    the warm-up). Measured test error (%, seeds 0-4, ActCoolLR / 1-cycle): 80 steps
    0.84 1.11 0.84 1.11 1.11 / 0.56 1.11 0.84 0.84 0.56; 160 steps 0.84 0.56 0.84 0.28 1.11 /
    0.84 0.84 0.84 0.28 0.84; one test image is 0.28 points.
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
        RunConfig(
            **shared,
            schedule=schedule,
            seed=seed,
            name=f"demo-{schedule}-s{seed}",
            **({"target": "default"} if schedule == "actcool" else {}),
        )
        for schedule in DEMO_SCHEDULES
        for seed in DEMO_SEEDS
    ]


def demo_description(demo: Sequence[RunConfig]) -> str:
    """What the demo runs, in words read off its configs (``demo_configs()``): the data,
    the schedules with ActCoolLR's target and calibration, the rate, the length and the
    seeds, and what the Compare page will show."""
    first = demo[0]
    schedules = list(dict.fromkeys(c.schedule for c in demo))
    seeds = sorted({c.seed for c in demo})
    named = [f"**{SCHEDULE_LABELS.get(s, s)}**" for s in schedules]
    actcool = next((c for c in demo if c.schedule == "actcool"), None)
    steering = ""
    if actcool is not None and actcool.target == "default":
        _, words = calibrated_default(actcool.calibration, actcool.granularity)
        steering = f" ActCoolLR follows its calibrated default target: {words}"
    elif actcool is not None:
        steering = f" ActCoolLR follows the target {actcool.target}."
    peak = ""
    if actcool is not None and actcool.find_lr:
        peak = (
            f" Its peak rate is found from its LR range scan at step 0, {actcool.lr:g} being a "
            "hint; the other schedules peak at the learning rate."
        )
    return (
        f"{len(demo)} runs of {first.model} on {first.dataset}: "
        + " against ".join(named)
        + f", each with the seeds {', '.join(map(str, seeds))} (the same for both), "
        f"{first.epochs} epochs at batch {first.batch_size}, learning rate {first.lr:g}."
        f"{steering}{peak} Then the **Compare** page shows every "
        "run and each schedule's mean test error with its spread from seed to seed: the test "
        "set is small, so single images decide the differences."
    )


def field_problem(name: str, value: Any) -> str | None:
    """What :class:`RunConfig` says about ``value`` for its field ``name`` (every other field
    at its default), or None when it is accepted: the message shown under a Launch field."""
    try:
        RunConfig(**{name: value})
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def reach_problems(
    curve: Mapping[str, Any] | None, granularity: str, batch_size: int
) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` about whether the temperature can follow ``curve`` (a curve
    definition; None: the calibrated default, which is always reachable).

    Errors: the curve rises above the largest temperature the granularity can measure at
    this batch size (``sample``: log2(2·batch) bits; ``unit`` and ``position`` have no cap
    that a target reaches). Warnings: a curve that never cools (as high at the end as at
    the start) keeps the rate near its ceiling to the last step.
    """
    if not curve:
        return [], []
    from actcool.curves import curve_from_dict

    values = curve_from_dict(dict(curve))(np.linspace(0.0, 1.0, 201))
    errors, warnings = [], []
    parsed = Granularity.parse(granularity)
    cap = parsed.cap(int(batch_size)) if parsed.kind == "sample" and batch_size >= 1 else None
    if cap is not None and float(values.max()) > cap:
        errors.append(
            f"the target reaches {values.max():.2f} bits, above what the {granularity} "
            f"granularity can measure at batch {int(batch_size)} (log2(2·{int(batch_size)}) = "
            f"{cap:.2f} bits): the rate would climb to its ceiling. Lower the curve, raise the "
            "batch size or choose the unit granularity"
        )
    if float(values[-1]) > 0 and float(values[-1]) >= float(values[0]):
        warnings.append(
            f"the target never cools ({values[0]:.2f} bits at the start, {values[-1]:.2f} at "
            "the end): the rate stays high to the last step; end the curve lower to anneal"
        )
    return errors, warnings


def settings_line(config: RunConfig) -> str:
    """The settings a run was queued with, in one line: ``convnet4 on digits · 5 epochs ·
    batch 128 · sgd lr 0.05 · ActCoolLR (default target, calibration auto, weibull) ·
    unit:64 · seed 0``; a precision other than fp32, channels-last, torch.compile and the
    branch search are named where chosen (``... · bf16 · channels-last · seed 0``)."""
    schedule = SCHEDULE_LABELS.get(config.schedule, config.schedule)
    if config.schedule == "actcool":  # the calibration applies to the default target only
        target = (
            f"default target, calibration {config.calibration}"
            if config.target == "default"
            else _short_target(config.target)
        )
        search = ", branch search" if config.branch_search else ""
        search += " from the lowest candidate" if config.branch_warmup == "lowest" else ""
        search += f" over {config.branch_draws} draws" if config.branch_draws > 1 else ""
        schedule += f" ({target}, {config.response}{search})"
    parts = [
        f"{config.model} on {config.dataset}"
        + ("" if config.dataset in ("digits", "synthetic") else f" from {config.data_dir}"),
        f"{config.epochs} epochs"
        + (f" (at most {config.max_steps} steps)" if config.max_steps else ""),
        f"batch {config.batch_size}",
        f"{config.optimizer} lr {config.lr:g}",
        schedule,
        config.granularity,
        *hardware_details(config.to_dict(), fp32=False),
        f"seed {config.seed}",
    ]
    return " · ".join(parts)


def _short_target(target: str) -> str:
    if not target.startswith("{"):
        return f"target {target}"
    kind = json.loads(target).get("kind", "curve")
    return f"{kind} target curve"
