"""ActCool: activation pattern temperature and the ActCoolLR learning-rate scheduler.

See ``SPEC.md`` of the project for the exact algorithm; section numbers in the docstrings
("SPEC §3") refer to it.
"""

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
from .fit import PatternFit, fit_pattern_model
from .measurement import LRScan, Measurement, ScanFits
from .monitor import DEFAULT_SCAN_LRS, TemperatureMonitor
from .pattern_model import change_probability, lr_for_probability, mu_from_observation
from .scheduler import ActCoolLR
from .temperature import (
    clip_probability,
    probability_from_temperature,
    temperature_from_probability,
)

__all__ = [
    "DEFAULT_SCAN_LRS",
    "ActCoolLR",
    "ConstantCurve",
    "CosineCurve",
    "DrawnCurve",
    "LRScan",
    "Measurement",
    "PatternFit",
    "PowerCurve",
    "ReplayCurve",
    "ScanFits",
    "TargetCurve",
    "TemperatureController",
    "TemperatureMonitor",
    "change_probability",
    "clip_probability",
    "curve_from_dict",
    "fit_pattern_model",
    "lr_for_probability",
    "mu_from_observation",
    "probability_from_temperature",
    "temperature_from_probability",
]

__version__ = "0.1.0"
