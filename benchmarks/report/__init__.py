"""The reproduction report: ``REPORT.md``, its PNG figures and ``results.json`` from stored runs.

This package reads the store and renders; the numbers come from :mod:`benchmarks.figures`
(pure functions of the loaded runs). Every sentence that states a result is chosen from those
numbers: a gap is written "behind" only when it is positive, a winner named only when the
numbers give one. A partial reproduction renders too: each section says which runs it lacks.

One module per section (``baselines``, ``no_tuning``, ``replay``, ``tracking``, ``gamma``,
``claims``, ``cifar``, ``rates``), the top table in ``summary``, the whole document in ``document``; the
words and tables they share in ``markdown``, the figures' colours and curves in ``plots``.
"""

from .baselines import section_baselines
from .cifar import section_cifar
from .claims import section_claims
from .document import write_report
from .gamma import section_gamma
from .loading import load_runs
from .markdown import HEADINGS, NAMES
from .no_tuning import section_no_tuning
from .plots import COLORS, OLD_PNGS, PNGS
from .rates import RATES_PNG, section_rates
from .replay import section_replay
from .summary import summary_rows
from .tracking import section_tracking

__all__ = [
    "COLORS",
    "HEADINGS",
    "NAMES",
    "OLD_PNGS",
    "PNGS",
    "RATES_PNG",
    "load_runs",
    "section_baselines",
    "section_cifar",
    "section_claims",
    "section_gamma",
    "section_no_tuning",
    "section_rates",
    "section_replay",
    "section_tracking",
    "summary_rows",
    "write_report",
]
