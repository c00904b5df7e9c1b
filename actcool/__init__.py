"""ActCool: activation pattern temperature and the ActCoolLR learning-rate scheduler.

The algorithm, and where it departs from the paper, is in ``docs/algorithm.md`` of the
repository; section numbers in the docstrings ("§3") refer to it.

``import actcool`` does not import torch: the names that need it (``ActCoolLR``,
``TemperatureMonitor``, ``DEFAULT_SCAN_LRS``, ``RangeTest``, ``lr_scan``, ``track``,
``find_sites``, ...) are imported on first use (PEP 562 ``__getattr__``), so the dashboard and the curve maths start quickly.
"""

from typing import TYPE_CHECKING

from .calibration import Calibration
from .controller import TemperatureController
from .curves import (
    ConstantCurve,
    CosineCurve,
    DrawnCurve,
    PowerCurve,
    ReplayCurve,
    TargetCurve,
    curve_from_dict,
)
from .fit import PatternFit, WeibullFit, fit_pattern_model, fit_response_models, fit_weibull_model
from .granularity import DEFAULT_GRANULARITY, DEFAULT_PATTERN_LENGTH, Granularity
from .guard import DivergenceGuard, GuardEvent
from .measurement import LRScan, Measurement, ScanFits
from .pattern_model import change_probability, lr_for_probability, mu_from_observation
from .temperature import (
    clip_probability,
    probability_from_temperature,
    temperature_from_probability,
)
from .weibull_model import (
    weibull_lr_for_temperature,
    weibull_probability,
    weibull_temperature,
)

__all__ = [
    "BranchFinder",
    "BranchSearch",
    "branch_search",
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_GRANULARITY",
    "DEFAULT_PATTERN_LENGTH",
    "DEFAULT_SCAN_LRS",
    "DivergenceGuard",
    "Granularity",
    "GuardEvent",
    "WeibullFit",
    "fit_response_models",
    "fit_weibull_model",
    "weibull_lr_for_temperature",
    "weibull_probability",
    "weibull_temperature",
    "ActCoolLR",
    "Calibration",
    "ConstantCurve",
    "CosineCurve",
    "DrawnCurve",
    "LRScan",
    "Measurement",
    "PatternFit",
    "PowerCurve",
    "RangeTest",
    "ReplayCurve",
    "ScanFits",
    "TargetCurve",
    "TemperatureController",
    "TemperatureMonitor",
    "TrackedRun",
    "change_probability",
    "clip_probability",
    "curve_from_dict",
    "find_sites",
    "fit_pattern_model",
    "lr_for_probability",
    "lr_scan",
    "mu_from_observation",
    "probability_from_temperature",
    "temperature_from_probability",
    "track",
]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .branches import BranchFinder, BranchSearch, branch_search
    from .monitor import DEFAULT_SCAN_LRS, TemperatureMonitor
    from .range_test import RangeTest, lr_scan
    from .scheduler import ActCoolLR
    from .sites import DEFAULT_ACTIVATIONS, find_sites
    from .tracking import TrackedRun, track

#: The names that import torch, and their modules: imported on first use.
_LAZY = {
    "ActCoolLR": "scheduler",
    "BranchFinder": "branches",
    "BranchSearch": "branches",
    "branch_search": "branches",
    "DEFAULT_ACTIVATIONS": "sites",
    "DEFAULT_SCAN_LRS": "monitor",
    "RangeTest": "range_test",
    "TemperatureMonitor": "monitor",
    "TrackedRun": "tracking",
    "find_sites": "sites",
    "lr_scan": "range_test",
    "track": "tracking",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'actcool' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
