"""RunConfig: everything that defines a training run, validated, and a JSON round trip.

The CLI is generated from these fields (``trainer/cli.py``); the resolved config is stored with
the run in the database and in every checkpoint, so any run can be reproduced and resumed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from actcool import Calibration, Granularity

from .data.names import DATASET_NAMES
from .models.names import MODEL_NAMES

__all__ = ["GRANULARITIES", "OPTIMIZERS", "SCHEDULES", "RunConfig"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "step", "onecycle", "cosine", "actcool", "schedulefree")
SCAN_UNITS = ("epoch", "step")
RESPONSES = ("weibull", "gaussian")
#: The accepted forms of a granularity (actcool.Granularity.parse), for messages and --help.
GRANULARITIES = ("sample", "position", "unit", "unit:L")


def _default_data_dir() -> str:
    return os.environ.get("ACTCOOL_DATA_DIR", "./data")


@dataclass(frozen=True)
class RunConfig:
    """One training run. Every field has a default; ``python -m trainer run --help`` lists them."""

    # what to train
    model: str = "convnet4"
    dataset: str = "digits"  # or fashion-mnist, cifar10, imagefolder:<path>, synthetic
    data_dir: str = field(default_factory=_default_data_dir)  # env ACTCOOL_DATA_DIR
    download: bool = True  # fetch fashion-mnist/cifar10 into data_dir when missing (needs internet)
    epochs: int = 5
    batch_size: int = 128  # global batch; split over ranks under torchrun
    max_steps: int | None = None  # cap on training steps (None: epochs x steps per epoch)
    # optimizer
    optimizer: str = "sgd"
    lr: float = 0.05  # the initial rate (ActCoolLR), the constant rate, or the peak of onecycle/cosine
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    # schedule
    schedule: str = "actcool"
    step_milestones: tuple[float, ...] = (0.5, 0.75)  # step decay, as fractions of training
    step_factor: float = 0.1
    onecycle_pct_start: float = 0.3
    # cosine and schedulefree: linear warm-up over this fraction of training
    warmup_fraction: float = 0.0
    # actcool: "default" (a linear cool-down whose start is calibrated, see `calibration`) |
    # power:T_start,gamma | a saved curve's name | curve JSON
    target: str = "default"
    # actcool default target: auto (fixed for unit, else ramp) | fixed[:bits of unit:64] | ramp[:fraction]
    calibration: str = "auto"
    response: str = "weibull"  # actcool control law: weibull (λ* = λ·(C/T)^(1/k)) | gaussian
    smoothing: float = 0.5  # actcool: weight of the past in the law's parameter, in [0, 1)
    sigma: float | None = None  # actcool, gaussian law: None fits σ from an LR range scan at step 0
    k: float | None = None  # actcool, weibull law: None fits k from an LR range scan at step 0
    lr_min: float = 1e-6
    lr_max: float | None = None  # actcool: the highest rate; None: lr (the optimizer's rate)
    # measurement
    measure_every: int = 10
    scan_every: int = 1  # LR range scan every N scan_units, plus one at the start; 0: none
    scan_unit: str = "epoch"
    scan_low: float = 1e-4
    scan_high: float = 1e2
    scan_count: int = 25
    granularity: str = "unit:64"  # what one activation pattern is: sample | position | unit[:L]
    compare_granularities: tuple[str, ...] = ()  # also count these, to compare (e.g. sample)
    # data and hardware
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # mixed precision on CUDA
    num_workers: int = 0  # background threads prefetching batches (0: none)
    # bookkeeping
    name: str = ""  # default: model-dataset-schedule
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), _hints()[f.name])
        _choice("model", self.model, MODEL_NAMES)
        if not (self.dataset in DATASET_NAMES or self.dataset.startswith(("imagefolder:", "synthetic:"))):
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of: "
                + ", ".join(DATASET_NAMES)
                + ", imagefolder:<path>"
            )
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("scan_unit", self.scan_unit, SCAN_UNITS)
        for name in ("epochs", "batch_size", "measure_every", "scan_count"):
            _at_least(name, getattr(self, name), 1)
        for name in ("scan_every", "num_workers", "seed"):
            _at_least(name, getattr(self, name), 0)
        if self.max_steps is not None:
            _at_least("max_steps", self.max_steps, 1)
        if self.lr_max is not None:
            _positive("lr_max", self.lr_max)
        for name in ("lr", "scan_low", "scan_high", "lr_min", "step_factor"):
            _positive(name, getattr(self, name))
        for name in ("momentum", "weight_decay"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.sigma is not None:
            _positive("sigma", self.sigma)
        if self.k is not None:
            _positive("k", self.k)
        _choice("response", self.response, RESPONSES)
        if not (math.isfinite(self.smoothing) and 0 <= self.smoothing < 1):
            raise ValueError(f"smoothing must lie in [0, 1), got {self.smoothing!r}")
        try:
            if self.calibration != "auto":
                Calibration.parse(self.calibration)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad calibration {self.calibration!r}: {exc}") from None
        lr_max = self.lr_max if self.lr_max is not None else self.lr
        if self.lr_min > lr_max:
            raise ValueError(f"lr_min ({self.lr_min}) must not exceed lr_max ({lr_max})")
        if self.scan_low >= self.scan_high:
            raise ValueError(f"scan_low ({self.scan_low}) must be below scan_high ({self.scan_high})")
        if self.scan_count < 3:
            raise ValueError(f"scan_count must be >= 3 to fit a curve, got {self.scan_count}")
        for name in ("val_fraction", "warmup_fraction"):
            v = getattr(self, name)
            if not 0 <= v < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {v!r}")
        if not 0 < self.onecycle_pct_start < 1:
            raise ValueError(f"onecycle_pct_start must lie in (0, 1), got {self.onecycle_pct_start!r}")
        if list(self.step_milestones) != sorted(self.step_milestones) or any(
            not 0 < m < 1 for m in self.step_milestones
        ):
            raise ValueError(
                f"step_milestones must be increasing fractions of training in (0, 1), "
                f"got {list(self.step_milestones)}"
            )
        if self.device != "auto" and not (
            self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")
        ):
            raise ValueError(f"unknown device {self.device!r}; choose one of: auto, cpu, cuda, cuda:N")
        if self.schedule == "schedulefree" and self.optimizer == "sgd" and not 0 < self.momentum < 1:
            raise ValueError(
                f"schedule-free SGD needs a momentum in (0, 1), got {self.momentum!r}"
            )
        if self.schedule == "schedulefree" and self.nesterov:
            raise ValueError("schedule-free SGD has no Nesterov variant; drop nesterov")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optimizer 'sgd' with momentum > 0")
        # Stored normalised ("unit" -> "unit:64"), so equal configs compare and print equal.
        object.__setattr__(self, "granularity", _granularity("granularity", self.granularity))
        compared = (_granularity("compare_granularities entry", g) for g in self.compare_granularities)
        object.__setattr__(self, "compare_granularities", tuple(dict.fromkeys(compared)))
        default_target = self.schedule == "actcool" and self.target == "default"
        if default_target and self.calibration.startswith("fixed") and self.granularity[:4] != "unit":
            raise ValueError(
                f"the default target's fixed start is defined for the unit granularity, not "
                f"{self.granularity!r}; use calibration 'ramp' or give a target"
            )

    @property
    def display_name(self) -> str:
        return self.name or f"{self.model}-{self.dataset}-{self.schedule}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["step_milestones"] = list(self.step_milestones)
        d["tags"] = list(self.tags)
        d["compare_granularities"] = list(self.compare_granularities)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from plain data; unknown keys are an error naming them and the valid keys.

        Missing keys take their defaults, except where a config without ``granularity`` was
        recorded before granularities existed: every run was then measured per ``sample``, and
        ActCoolLR used the Gaussian law without smoothing.
        """
        if not isinstance(d, dict):
            raise TypeError(f"a run config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(
                f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}"
            )
        legacy = {} if "granularity" in d else {
            "granularity": "sample", "response": "gaussian", "smoothing": 0.0,
        }
        values = {**legacy, **d}
        for key in ("step_milestones", "tags", "compare_granularities"):
            if key in values and isinstance(values[key], list):
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config is not valid JSON: {exc}") from None
        return cls.from_dict(d)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(RunConfig)


def _check_type(name: str, value: Any, hint: Any) -> None:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise TypeError(f"{name} must be a list, got {value!r}")
        for v in value:
            _check_type(name, v, args[0])
        return
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }[hint](value)
    if not ok:
        raise TypeError(f"{name} must be of type {hint.__name__}, got {value!r}")


def _granularity(name: str, value: str) -> str:
    try:
        return str(Granularity.parse(value))
    except ValueError:
        raise ValueError(
            f"bad {name} {value!r}; choose one of: {', '.join(GRANULARITIES)} "
            "(L units per pattern, a positive integer; unit means unit:64)"
        ) from None


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
