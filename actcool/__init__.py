"""ActCool: activation pattern temperature and the ActCoolLR learning-rate scheduler.

The algorithm, and where it departs from the paper, is in ``docs/algorithm.md`` of the
repository; section numbers in the docstrings ("§3") refer to it.
"""

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
from .monitor import DEFAULT_SCAN_LRS, TemperatureMonitor
from .pattern_model import change_probability, lr_for_probability, mu_from_observation
from .range_test import RangeTest, lr_scan
from .scheduler import ActCoolLR
from .sites import DEFAULT_ACTIVATIONS, find_sites
from .temperature import (
    clip_probability,
    probability_from_temperature,
    temperature_from_probability,
)
from .track import TrackedRun, track
from .weibull_model import (
    weibull_lr_for_temperature,
    weibull_probability,
    weibull_temperature,
)

__all__ = [
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
