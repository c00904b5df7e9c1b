"""``import actcool`` leaves torch out until a name that needs it is used (PEP 562)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import actcool

REPO = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout.strip()


def test_import_actcool_does_not_import_torch_until_a_torch_name_is_used():
    code = (
        "import sys, actcool\n"
        "print('torch' in sys.modules)\n"
        "actcool.PowerCurve(2.0); actcool.Calibration()\n"
        "print('torch' in sys.modules)\n"
        "from actcool import ActCoolLR\n"
        "print('torch' in sys.modules, ActCoolLR.__module__)\n"
    )
    assert _python(code).splitlines() == ["False", "False", "True actcool.scheduler"]


def test_every_public_name_resolves_and_unknown_names_raise():
    from actcool.monitor import DEFAULT_SCAN_LRS, TemperatureMonitor
    from actcool.range_test import RangeTest, lr_scan
    from actcool.scheduler import ActCoolLR

    assert (actcool.ActCoolLR, actcool.TemperatureMonitor, actcool.DEFAULT_SCAN_LRS) == (
        ActCoolLR,
        TemperatureMonitor,
        DEFAULT_SCAN_LRS,
    )
    assert (actcool.RangeTest, actcool.lr_scan) == (RangeTest, lr_scan)
    assert all(hasattr(actcool, name) for name in actcool.__all__)
    assert set(actcool.__all__) <= set(dir(actcool))
    with pytest.raises(AttributeError, match="module 'actcool' has no attribute 'ActCoolLr'"):
        actcool.ActCoolLr  # noqa: B018
