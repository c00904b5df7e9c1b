"""What the page tests share: opening a page under AppTest, its figures, and seeding the
divergence guard's cuts."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from storage import Store
from tests.app.conftest import MAIN

TIMEOUT = 120


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    if page != "design":
        at.switch_page(f"views/{page}.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def titles(at: AppTest) -> list[str]:
    return [(f["layout"].get("title") or {}).get("text", "") for f in figures(at)]


def figure(at: AppTest, title: str) -> dict:
    """The one figure of the page with that title."""
    (found,) = [f for f in figures(at) if (f["layout"].get("title") or {}).get("text") == title]
    return found


def log_guard_cuts(store: Store, run_id: str) -> None:
    """Two cuts of the rate by ActCoolLR's divergence guard, as the trainer records them."""
    with store.writer(run_id) as writer:
        writer.log_guard_event(30, "loss_rise", "smoothed loss 2 is 1.6x its lowest", 0.08, 0.04)
        writer.log_guard_event(60, "temperature_collapse", "units died", 0.04, 0.02)
    store.update_run(run_id, status="finished")  # the writer's heartbeat marked it running


def values(trace: dict, axis: str) -> list[float]:
    """A trace's x or y as floats (Plotly's JSON writes numpy arrays as typed base64 data)."""
    data = trace[axis]
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return [float(v) for v in data]
