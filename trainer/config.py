"""RunConfig: everything that defines a training run, validated, and a JSON round trip.

The CLI is generated from these fields (``trainer/cli.py``); the resolved config is stored with
the run in the database and in every checkpoint, so any run can be reproduced and resumed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from actcool import Calibration, Granularity
from actcool.calibration import START_FACTOR

from .data.names import DATASET_NAMES, NAME_PATTERNS
from .errors import ConfigError, ConfigTypeError
from .models.names import MODEL_NAMES, is_model_name

__all__ = ["GRANULARITIES", "OPTIMIZERS", "SCHEDULES", "RunConfig"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "step", "onecycle", "cosine", "actcool", "schedulefree")
SCAN_UNITS = ("epoch", "step")
RESPONSES = ("weibull", "gaussian")
PRECISIONS = ("fp32", "bf16")
BRANCH_WARMUPS = ("centre", "lowest")
#: The accepted forms of a granularity (actcool.Granularity.parse), for messages and --help.
GRANULARITIES = ("sample", "position", "unit", "unit:L")


def _default_data_dir() -> str:
    return os.environ.get("ACTCOOL_DATA_DIR", "./data")


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A field with a default, its ``--help`` text and, where the values are a fixed list,
    its choices (the CLI is generated from these; RunConfig validates them all the same)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class RunConfig:
    """One training run. Every field has a default and a help text (its metadata, with the
    choices where the values are a fixed list); ``python -m trainer run --help`` lists them."""

    # what to train
    model: str = _opt(
        "convnet4",
        f"the network to train: {', '.join(MODEL_NAMES)}, or timm:<name> for any timm model "
        "(pip install -e '.[timm]')",
    )
    dataset: str = _opt(
        "digits",
        "the data: "
        + ", ".join(DATASET_NAMES + NAME_PATTERNS)
        + " (imagefolder: train/ and test/ folders of class folders)",
    )
    data_dir: str = field(
        default_factory=_default_data_dir,
        metadata={"help": "where datasets are read and downloaded ($ACTCOOL_DATA_DIR or ./data)"},
    )
    download: bool = _opt(
        True, "fetch fashion-mnist/cifar10 into data_dir when missing (needs internet)"
    )
    epochs: int = _opt(5, "passes over the training set")
    batch_size: int = _opt(128, "the global batch; split over ranks under torchrun")
    max_steps: int | None = _opt(None, "cap on training steps; none: epochs x steps per epoch")
    # optimizer
    optimizer: str = _opt(
        "sgd",
        "sgd (with momentum) or adamw; a new run of vit-tiny or a timm transformer/ConvNeXt "
        "gets adamw unless given",
        choices=OPTIMIZERS,
    )
    lr: float = _opt(
        0.05,
        "the learning rate: ActCoolLR's initial rate and ceiling, the constant rate, or the "
        "peak of onecycle/cosine; a new adamw run gets 1e-3 unless given",
    )
    momentum: float = _opt(0.9, "sgd momentum (adamw ignores it)")
    nesterov: bool = _opt(False, "Nesterov momentum (sgd only)")
    weight_decay: float = _opt(
        5e-4, "weight decay (decoupled for adamw; a new adamw run gets 0.05 unless given)"
    )
    # schedule
    schedule: str = _opt(
        "actcool",
        "the learning-rate schedule: constant, step (decay), onecycle, cosine, "
        "schedulefree (schedule-free SGD/AdamW) or actcool (ActCoolLR)",
        choices=SCHEDULES,
    )
    step_milestones: tuple[float, ...] = _opt(
        (0.5, 0.75), "step: comma-separated fractions of training where the rate drops"
    )
    step_factor: float = _opt(0.1, "step: the factor the rate is multiplied by at each milestone")
    onecycle_pct_start: float = _opt(0.3, "onecycle: the fraction of training spent warming up")
    warmup_fraction: float = _opt(
        0.0, "cosine and schedulefree: linear warm-up over this fraction of training"
    )
    target: str = _opt(
        "default",
        "actcool: default (a linear cool-down with a calibrated start, see "
        "calibration), power:T_start,gamma, constant:T, cosine:T_start,T_end, a saved curve's "
        "name or curve JSON",
    )
    calibration: str = _opt(
        "auto",
        "actcool default target: auto (the default: ramp), "
        "fixed[:bits of unit:64[:gamma]] or ramp[:warm-up fraction[:gamma]]",
    )
    start_factor: float = _opt(
        START_FACTOR,
        "actcool with a target from the start (a given curve, calibration fixed): the first "
        "step's rate as a share of lr, in (0, 1]; the controller climbs from it (the cold start; "
        "1: start at lr)",
    )
    find_lr: bool = _opt(
        True,
        "actcool: find the peak rate from the LR range scan at step 0 (4.5 x the rate scale "
        "λ0); lr is a hint, kept within 1.5x of it (--no-find-lr: lr is the peak and ceiling)",
    )
    branch_search: bool = _opt(
        False,
        "actcool, opt-in: half-way through the warm-up, take the peak whose short training "
        "branch (7 of them, 60 steps each on the training data) ends with the lowest held-out "
        "loss (docs/algorithm.md §4.9; about 460 extra steps, once)",
    )
    branch_warmup: str = _opt(
        "centre",
        "actcool with branch_search: until the search, warm up towards the step-0 scan's peak "
        "(centre) or towards the lowest candidate, 1/8 of it (lowest: better on the vision "
        "transformer, worse on small Fashion-MNIST networks; docs/algorithm.md §4.9)",
        choices=BRANCH_WARMUPS,
    )
    branch_draws: int = _opt(
        1,
        "actcool with branch_search: compare the branches on their mean held-out loss over this "
        "many draws of batches (each draw costs one search; 2: 0.08 points better on average over "
        "six Fashion-MNIST set-ups, fewer cells behind 1-cycle; docs/algorithm.md §4.9)",
    )
    response: str = _opt(
        "weibull",
        "actcool control law: weibull (lr* = lr*(C/T)^(1/k)) or gaussian (the paper's)",
        choices=RESPONSES,
    )
    smoothing: float = _opt(
        0.5, "actcool: weight of the past in the control law's parameter, in [0, 1)"
    )
    sigma: float | None = _opt(
        None, "actcool gaussian law: sigma; none fits it from an LR range scan at step 0"
    )
    k: float | None = _opt(
        None, "actcool weibull law: the exponent; none fits it from an LR range scan at step 0"
    )
    lr_min: float = _opt(1e-6, "actcool: the lowest rate")
    lr_max: float | None = _opt(
        None, "actcool: the highest rate; none: lr (the optimizer's rate is the ceiling)"
    )
    # measurement
    measure_every: int = _opt(10, "measure the temperature every N steps")
    log_every: int = _opt(
        10,
        "write the steps' rows every N steps (and at measurements, epoch ends and stops), "
        "reading their losses from the device in one go: a step between never waits for the GPU",
    )
    scan_every: int = _opt(1, "an LR range scan every N scan units, plus one at the start; 0: none")
    scan_unit: str = _opt("epoch", "the unit of scan_every", choices=SCAN_UNITS)
    scan_low: float = _opt(1e-4, "the lowest rate of an LR range scan")
    scan_high: float = _opt(1e2, "the highest rate of an LR range scan")
    scan_count: int = _opt(25, "rates per LR range scan, log-spaced (at least 3)")
    granularity: str = _opt(
        "unit:64",
        "what one activation pattern is: "
        + ", ".join(GRANULARITIES)
        + " (L units per pattern; unit = unit:64); the target curve is in bits of it",
    )
    compare_granularities: tuple[str, ...] = _opt(
        (),
        "comma-separated granularities ("
        + ", ".join(GRANULARITIES)
        + ") also counted and recorded, to compare with granularity",
    )
    # data and hardware
    val_fraction: float = _opt(0.1, "fraction of the training set held out for validation")
    seed: int = _opt(0, "seed of the initial weights, the split and the batch order")
    device: str = _opt("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    nproc: int = _opt(
        1,
        "processes a worker starts for the run (torchrun ranks, one GPU each where there are GPUs)",
    )
    amp: bool = _opt(False, "float16 mixed precision with a gradient scaler, on CUDA")
    precision: str = _opt(
        "fp32",
        "fp32, or bf16: forward passes under bfloat16 autocast (on CUDA, or a CPU with "
        "bfloat16); every measurement pass runs under the same autocast as the step it measures",
        choices=PRECISIONS,
    )
    channels_last: bool = _opt(
        False, "the model and its image batches in channels-last memory format (faster on GPUs)"
    )
    compile: bool = _opt(
        False,
        "torch.compile the model for the steps that do not measure; measurement steps run it "
        "eagerly so that the temperature's hooks see every site",
    )
    num_workers: int = _opt(0, "background threads prefetching batches (0: none)")
    # bookkeeping
    name: str = _opt("", "the run's name; empty: model-dataset-schedule")
    tags: tuple[str, ...] = _opt((), "comma-separated tags")

    def __post_init__(self) -> None:
        hints = _hints()
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), hints[f.name])
        if not is_model_name(self.model):
            raise ConfigError(
                f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}, or "
                "timm:<name> (any timm model)"
            )
        if not (
            self.dataset in DATASET_NAMES or self.dataset.startswith(("imagefolder:", "synthetic:"))
        ):
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of: "
                + ", ".join(DATASET_NAMES)
                + ", imagefolder:<path>"
            )
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("scan_unit", self.scan_unit, SCAN_UNITS)
        _choice("precision", self.precision, PRECISIONS)
        if self.amp and self.precision != "fp32":
            raise ConfigError(
                f"amp (float16) and precision {self.precision!r} are two precisions; choose one "
                "(drop amp, or set precision fp32)"
            )
        for name in ("epochs", "batch_size", "measure_every", "log_every", "scan_count", "nproc"):
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
                raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.sigma is not None:
            _positive("sigma", self.sigma)
        if self.k is not None:
            _positive("k", self.k)
        _choice("response", self.response, RESPONSES)
        _choice("branch_warmup", self.branch_warmup, BRANCH_WARMUPS)
        if not (math.isfinite(self.smoothing) and 0 <= self.smoothing < 1):
            raise ConfigError(f"smoothing must lie in [0, 1), got {self.smoothing!r}")
        if not (math.isfinite(self.start_factor) and 0 < self.start_factor <= 1):
            raise ConfigError(f"start_factor must lie in (0, 1], got {self.start_factor!r}")
        try:
            Calibration.parse(self.calibration)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad calibration {self.calibration!r}: {exc}") from None
        lr_max = self.lr_max if self.lr_max is not None else self.lr
        if self.lr_min > lr_max:
            raise ConfigError(f"lr_min ({self.lr_min}) must not exceed lr_max ({lr_max})")
        if self.scan_low >= self.scan_high:
            raise ConfigError(
                f"scan_low ({self.scan_low}) must be below scan_high ({self.scan_high})"
            )
        if self.scan_count < 3:
            raise ConfigError(f"scan_count must be >= 3 to fit a curve, got {self.scan_count}")
        for name in ("val_fraction", "warmup_fraction"):
            v = getattr(self, name)
            if not 0 <= v < 1:
                raise ConfigError(f"{name} must lie in [0, 1), got {v!r}")
        if not 0 < self.onecycle_pct_start < 1:
            raise ConfigError(
                f"onecycle_pct_start must lie in (0, 1), got {self.onecycle_pct_start!r}"
            )
        if list(self.step_milestones) != sorted(self.step_milestones) or any(
            not 0 < m < 1 for m in self.step_milestones
        ):
            raise ConfigError(
                f"step_milestones must be increasing fractions of training in (0, 1), "
                f"got {list(self.step_milestones)}"
            )
        if self.device != "auto" and not (
            self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")
        ):
            raise ConfigError(
                f"unknown device {self.device!r}; choose one of: auto, cpu, cuda, cuda:N"
            )
        if self.nproc > 1 and self.device.startswith("cuda:"):
            raise ConfigError(
                f"nproc {self.nproc} needs one GPU per process; device {self.device!r} names "
                "one GPU: use device auto or cuda"
            )
        if (
            self.schedule == "schedulefree"
            and self.optimizer == "sgd"
            and not 0 < self.momentum < 1
        ):
            raise ConfigError(
                f"schedule-free SGD needs a momentum in (0, 1), got {self.momentum!r}"
            )
        if self.schedule == "schedulefree" and self.nesterov:
            raise ConfigError("schedule-free SGD has no Nesterov variant; drop nesterov")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov needs optimizer 'sgd' with momentum > 0")
        # Stored normalised ("unit" -> "unit:64"), so equal configs compare and print equal.
        object.__setattr__(self, "granularity", _granularity("granularity", self.granularity))
        compared = (
            _granularity("compare_granularities entry", g) for g in self.compare_granularities
        )
        object.__setattr__(self, "compare_granularities", tuple(dict.fromkeys(compared)))
        default_target = self.schedule == "actcool" and self.target == "default"
        if (
            default_target
            and self.calibration.startswith("fixed")
            and self.granularity[:4] != "unit"
        ):
            raise ConfigError(
                f"the default target's fixed start is defined for the unit granularity, not "
                f"{self.granularity!r}; use calibration 'ramp' or give a target"
            )

        _at_least("branch_draws", self.branch_draws, 1)
        if self.branch_draws != 1 and not self.branch_search:
            raise ConfigError(
                f"branch_draws {self.branch_draws} is how many draws the branch search compares "
                "over: set branch_search as well, or leave branch_draws 1"
            )
        if self.branch_warmup != "centre" and not self.branch_search:
            raise ConfigError(
                f"branch_warmup {self.branch_warmup!r} is how the branch search's warm-up "
                "rises: set branch_search as well, or leave branch_warmup 'centre'"
            )
        if self.branch_search and not (
            default_target and Calibration.parse(self.calibration).kind == "ramp"
        ):
            raise ConfigError(
                "branch_search runs in the warm-up of ActCoolLR's default target: use schedule "
                "'actcool', target 'default' and calibration 'auto' or 'ramp', or drop "
                "branch_search"
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

        Missing keys take their defaults, except those of :data:`LEGACY`: a stored config
        recorded before a key existed ran as the key's old value says (without ``granularity``:
        measured per ``sample``, the Gaussian law without smoothing; without ``start_factor``:
        the first step at the optimizer's rate). A new run's partial config is read with
        :func:`new_run_defaults` under it, so that it is not taken for an old run's.
        """
        if not isinstance(d, dict):
            raise ConfigTypeError(f"a run config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}"
            )
        legacy = {k: v for key, old in LEGACY.items() if key not in d for k, v in old.items()}
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
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        return cls.from_dict(d)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


@functools.cache
def _hints() -> dict[str, Any]:
    """RunConfig's field types, resolved once (``get_type_hints`` evaluates every string
    annotation: a few milliseconds a call, and the Launch page builds RunConfigs per field)."""
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
            raise ConfigTypeError(f"{name} must be a list, got {value!r}")
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
        raise ConfigTypeError(f"{name} must be of type {hint.__name__}, got {value!r}")


def _granularity(name: str, value: str) -> str:
    try:
        return str(Granularity.parse(value))
    except ValueError:
        raise ConfigError(
            f"bad {name} {value!r}; choose one of: {', '.join(GRANULARITIES)} "
            "(L units per pattern, a positive integer; unit means unit:64)"
        ) from None


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value!r}")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")


#: What a stored config recorded before a key existed ran with, by the missing key.
LEGACY: dict[str, dict[str, Any]] = {
    "granularity": {"granularity": "sample", "response": "gaussian", "smoothing": 0.0},
    "start_factor": {"start_factor": 1.0},
    "find_lr": {"find_lr": False},
}


def new_run_defaults() -> dict[str, Any]:
    """Today's defaults of the :data:`LEGACY` keys: put them under a new run's partial config
    before :meth:`RunConfig.from_dict`, which reads a missing one as an old run's."""
    today = RunConfig()
    return {k: getattr(today, k) for old in LEGACY.values() for k in old}
