"""benchmarks/timing.py: the A/B ratio and its clocks."""

import time

import pytest

from benchmarks.timing import alternate


def _busy():
    return sum(i * i for i in range(200_000))


def test_the_thread_clock_leaves_out_waiting():
    # Sleeping waits without using the CPU: on the thread clock it costs next to nothing
    # against real work, however busy the machine is.
    r = alternate(lambda: time.sleep(0.02), _busy, blocks=3, clock="thread")
    assert r.blocks == 3 and r.median < 0.2 and r.b_seconds > 0


def test_an_unknown_clock_is_refused():
    with pytest.raises(ValueError, match="unknown clock 'cpu'; choose one of: wall, thread"):
        alternate(_busy, _busy, blocks=1, clock="cpu")
